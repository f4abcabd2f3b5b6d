// What Flux (kstatus) and Argo CD (our Lua health checks) must read from each object the live test
// makes the controller produce. The fixtures test reads the same table against the captured objects.

export interface HealthExpectation {
  kind: "Prompt" | "Experiment" | "TrainingJob" | "ModelDeployment";
  name: string;
  /** What the object is, as the controller left it. */
  state: string;
  kstatus: "Current" | "InProgress" | "Failed";
  argocd: "Healthy" | "Progressing" | "Degraded" | "Suspended";
}

export const expectations: readonly HealthExpectation[] = [
  {
    kind: "Prompt",
    name: "ready",
    state: "a version published",
    kstatus: "Current",
    argocd: "Healthy",
  },
  {
    kind: "Prompt",
    name: "retrying",
    state: "publishing to Langfuse retried: its Secret is missing",
    kstatus: "InProgress",
    argocd: "Progressing",
  },
  {
    kind: "Prompt",
    name: "invalid",
    state: "a template using an undeclared variable",
    kstatus: "Failed",
    argocd: "Degraded",
  },
  {
    kind: "Experiment",
    name: "ready",
    state: "Completed with a recommendation",
    kstatus: "Current",
    argocd: "Healthy",
  },
  {
    kind: "Experiment",
    name: "waiting",
    state: "Pending on a Prompt that does not exist",
    kstatus: "InProgress",
    argocd: "Progressing",
  },
  {
    kind: "Experiment",
    name: "invalid",
    state: "a dataset lacking a variable the Prompt requires",
    kstatus: "Failed",
    argocd: "Degraded",
  },
  {
    kind: "TrainingJob",
    name: "ready",
    state: "Succeeded",
    kstatus: "Current",
    argocd: "Healthy",
  },
  {
    kind: "TrainingJob",
    name: "running",
    state: "Running on the GPU node",
    kstatus: "InProgress",
    argocd: "Progressing",
  },
  {
    kind: "TrainingJob",
    name: "failed",
    state: "Failed: its only attempt was OOM-killed",
    kstatus: "Failed",
    argocd: "Degraded",
  },
  {
    kind: "TrainingJob",
    name: "over-budget",
    state: "estimated above budget.maxCostUSD",
    kstatus: "Failed",
    argocd: "Degraded",
  },
  {
    kind: "TrainingJob",
    name: "approval",
    state: "AwaitingApproval",
    kstatus: "InProgress",
    argocd: "Suspended",
  },
  {
    kind: "TrainingJob",
    name: "suspended",
    // Not Failed: a suspension the user asked for is no failure. Not Current either: kstatus reads
    // any Ready=False as InProgress (cli-utils checkReadyCondition), and the run has not done
    // what it is for; Flux's `wait: true` waits for a resume.
    state: "spec.suspend: true (Ready=False reason Suspended; neither Stalled nor Reconciling)",
    kstatus: "InProgress",
    argocd: "Suspended",
  },
  {
    kind: "ModelDeployment",
    name: "ready",
    state: "Healthy: one revision serves all traffic",
    kstatus: "Current",
    argocd: "Healthy",
  },
  {
    kind: "ModelDeployment",
    name: "canary",
    state: "mid-canary: 25% on the new revision, in a timed pause",
    kstatus: "InProgress",
    argocd: "Progressing",
  },
  {
    kind: "ModelDeployment",
    name: "held",
    state: "mid-canary: 25% on the new revision, paused until promoted",
    kstatus: "InProgress",
    argocd: "Suspended",
  },
  {
    kind: "ModelDeployment",
    name: "missing",
    state: "a model repository the Hub does not have",
    kstatus: "Failed",
    argocd: "Degraded",
  },
];
