/** Process exit codes shared by every llmops subcommand. */
export const ExitCode = {
  /** The command did what was asked; nothing is wrong. */
  Ok: 0,
  /** The command ran and found a problem (invalid manifests, failed reconcile, I/O error). */
  Failure: 1,
  /** The command line itself was wrong: unknown flag, missing argument. */
  Usage: 2,
  /** `llmops diff`: applying would change something (3, as CI scripts expect of diff tools). */
  Changes: 3,
  /** `llmops promote`: the cluster could not be read, so nothing was decided. */
  ClusterUnreachable: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What each exit code means, for `llmops --help`; one entry per code. */
export const exitCodeMeanings: Readonly<Record<ExitCode, string>> = {
  [ExitCode.Ok]: "success",
  [ExitCode.Failure]: "failure (invalid input, failed operation)",
  [ExitCode.Usage]: "usage error",
  [ExitCode.Changes]: "`diff` found changes",
  [ExitCode.ClusterUnreachable]: "`promote` could not read the cluster",
};
