// Experiment tracking: where finished experiments are recorded for people to browse. A new
// provider is a new implementation of ExperimentTracker.

/** One variant's run as it is recorded. */
export interface TrackedRun {
  /** Run name, the variant's name. */
  name: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

/** What was recorded, for status. */
export interface TrackedExperiment {
  experimentId: string;
  /** Browser URLs of the runs, in the order given. */
  runURLs: string[];
}

/** A tracking backend. */
export interface ExperimentTracker {
  /**
   * Records `runs` under experiment `experimentName`. Idempotent: a run already recorded with the
   * same `runKey` tag is left as it is, so a retry after a crash adds nothing twice.
   */
  record(
    experimentName: string,
    runKey: string,
    runs: readonly TrackedRun[],
  ): Promise<TrackedExperiment>;
}
