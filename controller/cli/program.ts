import { Command, CommanderError } from "commander";
import { controllerCommand } from "./controller.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode, exitCodeMeanings } from "./exit-codes.js";
import { registerValidateCommand } from "./validate.js";
import { registerRollbackCommand } from "./rollback.js";
import { registerStatusCommand } from "./status.js";
import { registerDiffCommand } from "./diff.js";
import { registerSyncCommand } from "./sync.js";
import { promoteCommand } from "./promote.js";
import { approveCommand } from "./approve.js";
import { registerUpCommand } from "./up.js";

/** Where a command writes; injected so tests read output without touching process streams. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export interface ProgramOptions {
  version: string;
  io: CliIo;
}

/**
 * Builds the `llmops` command tree: `validate`, `rollback`, `status`, `diff`, `sync`,
 * `controller`, `promote`, `approve` and `up`. A new subcommand registers itself here.
 */
export function buildProgram({ version, io }: ProgramOptions): Command {
  const program = new Command("llmops")
    .description(
      "GitOps for LLM prompts, experiments, fine-tuning and model rollouts on Kubernetes: " +
        "manifests in git, validated offline, applied by git sync, and Prompts, Experiments, " +
        "TrainingJobs and ModelDeployments reconciled by a controller.",
    )
    .version(version, "-v, --version", "print the llmops version")
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError("(run `llmops --help` for usage)")
    .addHelpText("after", exitCodesHelp())
    .exitOverride();
  registerValidateCommand(program, io);
  registerRollbackCommand(program, io);
  registerStatusCommand(program, io);
  registerDiffCommand(program, io);
  registerSyncCommand(program, io);
  program.addCommand(controllerCommand({ io }));
  program.addCommand(promoteCommand({ io }));
  program.addCommand(approveCommand({ io }));
  registerUpCommand(program, { io });
  return program;
}

function exitCodesHelp(): string {
  const lines = Object.entries(exitCodeMeanings).map(([code, meaning]) => `  ${code}  ${meaning}`);
  return `\nExit codes:\n${lines.join("\n")}`;
}

/** Runs the CLI and returns the exit code instead of exiting, so callers and tests stay in control. */
export async function runCli(argv: readonly string[], options: ProgramOptions): Promise<ExitCode> {
  const program = buildProgram(options);
  try {
    await program.parseAsync(argv);
    return ExitCode.Ok;
  } catch (err: unknown) {
    if (err instanceof CommandExit) return err.exitCode;
    if (err instanceof UsageError) {
      options.io.stderr(`llmops: ${err.message}\n`);
      return ExitCode.Usage;
    }
    if (err instanceof CommanderError) {
      // --help and --version surface as "errors" with exit code 0.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    options.io.stderr(`llmops: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.Failure;
  }
}
