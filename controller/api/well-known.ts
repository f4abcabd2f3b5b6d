// Every label, annotation, finalizer and field manager llmops writes, defined once. Users select
// and script on these names (`kubectl get cm -l llmops.dev/prompt=x`), so they are API: change
// one here and the CHANGELOG must say so.

/** Field manager of the controller's writes (server-side apply). */
export const controllerFieldManager = "llmops-controller";
/** Field manager of every git sync (and `llmops sync`) write. */
export const gitSyncFieldManager = "llmops-gitsync";

/** `app.kubernetes.io/managed-by: llmops` on every object the controller creates. */
export const managedByLabel = "app.kubernetes.io/managed-by";
export const managedByValue = "llmops";

/** Which git source applied an object (annotation and label). */
export const sourceAnnotation = "llmops.dev/source";
/** The commit the object was last applied from (set by git sync; recorded in status). */
export const revisionAnnotation = "llmops.dev/revision";
/** The file (relative to the repository root) that defines the object. */
export const pathAnnotation = "llmops.dev/path";
/** `llmops.dev/prune: disabled` keeps an object in the cluster when it leaves git. */
export const pruneAnnotation = "llmops.dev/prune";

/** On a git source's status ConfigMap. */
export const syncStatusLabel = "llmops.dev/sync-status";
export const syncSourceLabel = "llmops.dev/sync-source";

/** On each ConfigMap a Prompt owns (published document, version snapshots): the Prompt's name. */
export const promptLabel = "llmops.dev/prompt";
/** On each snapshot ConfigMap: the version it holds. */
export const promptVersionLabel = "llmops.dev/prompt-version";
/** On the published ConfigMap: the live version and its content hash. */
export const promptVersionAnnotation = "llmops.dev/version";
export const contentHashAnnotation = "llmops.dev/content-hash";
/** Removes what a Prompt published outside the cluster (only when the spec asks for it). */
export const promptFinalizer = "llmops.dev/prompt-publications";

/** On each ConfigMap an Experiment owns (results chunks, call journal): the Experiment's name. */
export const experimentLabel = "llmops.dev/experiment";
/** On each call journal ConfigMap, beside experimentLabel. */
export const journalLabel = "llmops.dev/journal";
/** The run (hash of what decides the results) a results or journal object belongs to. */
export const runIdAnnotation = "llmops.dev/run-id";
/** The position of a results chunk in its run. */
export const chunkAnnotation = "llmops.dev/chunk";
/**
 * On each ConfigMap an online Experiment's run keeps (the head with its statistics, sealed
 * fingerprint segments): the Experiment's name. Apart from experimentLabel, so an offline run's
 * clean-up never takes them for its own.
 */
export const onlineExperimentLabel = "llmops.dev/online-experiment";

/** On each object a TrainingJob owns (Jobs, their pods, the trainer ConfigMap): its name. */
export const trainingJobLabel = "llmops.dev/training-job";
/** On each training attempt (Job, pod, remote job labels): the run and the 1-based attempt. */
export const runIdLabel = "llmops.dev/run-id";
export const attemptLabel = "llmops.dev/attempt";
/**
 * `llmops.dev/approved-run: <runId>` on a TrainingJob, committed in git (`llmops approve`): the
 * run whose estimate is above budget.approvalThresholdUSD may start. Binds to that runId only.
 */
export const approvedRunAnnotation = "llmops.dev/approved-run";
