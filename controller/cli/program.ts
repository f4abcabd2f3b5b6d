import { Command, CommanderError } from "commander";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode, exitCodeMeanings } from "./exit-codes.js";

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

type Register = (program: Command, io: CliIo) => void;

/**
 * Every subcommand, in help order, and the module that defines it. A command's module is imported
 * only when it is needed: `llmops controller` does not load what `validate`, `diff` or `up` use
 * (the CRD validator with CEL, git, a local control plane), which a long-running controller would
 * otherwise keep in memory. A new subcommand registers itself here.
 */
const subcommands: Record<string, () => Promise<Register>> = {
  validate: async () => (await import("./validate.js")).registerValidateCommand,
  rollback: async () => (await import("./rollback.js")).registerRollbackCommand,
  status: async () => (await import("./status.js")).registerStatusCommand,
  diff: async () => (await import("./diff.js")).registerDiffCommand,
  sync: async () => (await import("./sync.js")).registerSyncCommand,
  controller: async () => {
    const { controllerCommand } = await import("./controller.js");
    return (program, io) => program.addCommand(controllerCommand({ io }));
  },
  promote: async () => {
    const { promoteCommand } = await import("./promote.js");
    return (program, io) => program.addCommand(promoteCommand({ io }));
  },
  approve: async () => {
    const { approveCommand } = await import("./approve.js");
    return (program, io) => program.addCommand(approveCommand({ io }));
  },
  up: async () => {
    const { registerUpCommand } = await import("./up.js");
    return (program, io) => {
      registerUpCommand(program, { io });
    };
  },
};

/**
 * Builds the `llmops` command tree: `validate`, `rollback`, `status`, `diff`, `sync`,
 * `controller`, `promote`, `approve` and `up` — or, with `only` naming one of them, that command
 * alone (what `llmops <command> …` runs; its help and errors are the same either way).
 */
export async function buildProgram(
  { version, io }: ProgramOptions,
  only?: string,
): Promise<Command> {
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
  const named = Object.entries(subcommands).filter(([name]) => name === only);
  const loaders = (named.length > 0 ? named : Object.entries(subcommands)).map(([, load]) =>
    load(),
  );
  for (const register of await Promise.all(loaders)) register(program, io);
  return program;
}

function exitCodesHelp(): string {
  const lines = Object.entries(exitCodeMeanings).map(([code, meaning]) => `  ${code}  ${meaning}`);
  return `\nExit codes:\n${lines.join("\n")}`;
}

/** Runs the CLI and returns the exit code instead of exiting, so callers and tests stay in control. */
export async function runCli(argv: readonly string[], options: ProgramOptions): Promise<ExitCode> {
  // argv[2] is the subcommand, when one is named first (llmops has no options before it but
  // --help and --version, which need every command or none).
  const program = await buildProgram(options, argv[2]);
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
