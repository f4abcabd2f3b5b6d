import type { ExitCode } from "./exit-codes.js";

/**
 * Ends a command with a given exit code after it has written its own output (for example
 * `llmops validate` finding invalid manifests: exit 1, nothing more to print). runCli returns the
 * code and prints nothing.
 */
export class CommandExit extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message = `exit ${String(exitCode)}`,
  ) {
    super(message);
    this.name = "CommandExit";
  }
}

/** The command line asks for something impossible (a path that does not exist…): exit 2. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}
