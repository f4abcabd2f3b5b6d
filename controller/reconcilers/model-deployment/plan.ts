// The ModelDeployment reconciler's decisions: which revision the spec asks for, where traffic goes
// (rollout.ts), which revisions run with how many replicas, which go, and the status that results.
// Pure functions of the object, what observe read, and the time.
import type {
  ModelDeployment,
  ModelDeploymentStatus,
  ModelDeploymentStatusRevision,
} from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import { conditionTime } from "../../runtime/conditions.js";
import type { Plan, ReconcileStep } from "../../runtime/object-reconciler.js";
import { planRollout, type RolloutDecision } from "./rollout.js";
import { revisionName, type ResolvedModel } from "./workloads.js";

/** Promote the named revision now, skipping the remaining steps (`llmops promote`). */
export const promoteAnnotation = "llmops.dev/promote";
/** A new value retries an aborted or inconclusive rollout once. */
export const retryAnnotation = "llmops.dev/retry";

export interface ObservedModelDeployment {
  /** The desired model, resolved; or why it cannot be yet. */
  model:
    | {
        ok: true;
        model: ResolvedModel;
        /** A Hub branch or tag as resolved, for status.resolvedModel. */
        resolved?: NonNullable<ModelDeploymentStatus["resolvedModel"]>;
      }
    | { ok: false; kind: "wait" | "stall"; reason: string; message: string };
  /**
   * The revisions that exist (Deployments, or local processes; see backends/serving): whether
   * each is available, its replicas, and its own base URL when known.
   */
  deployments: ReadonlyMap<
    string,
    { available: boolean; replicas: number; url?: string; problem?: string }
  >;
  /** The route's status.parents conditions, when a Gateway controller reported them. */
  routeParents: readonly { type: string; status: string; reason?: string; message?: string }[];
}

export interface ModelDeploymentActions {
  /** The desired revision runs with this many replicas (created when it does not exist). */
  ensure: { revision: string; replicas: number };
  /** Other revisions whose replica count changes (stable ↔ warm). */
  scale: { revision: string; replicas: number }[];
  /** The weights across the serving revisions (stable, canary), with their URLs when known. */
  traffic: { revision: string; weight: number; url?: string }[];
  /** Revisions outside the rollback window: what runs them goes. */
  remove: string[];
  /** The rollout as planned, for act to continue after measuring. */
  decision: RolloutDecision;
  desired: string;
  model: ResolvedModel;
}

type Step = ReconcileStep<ModelDeploymentStatus>;

export function planModelDeployment(input: {
  object: StoredObject<ModelDeployment>;
  observed: ObservedModelDeployment;
  now: number;
}): Plan<ModelDeploymentStatus, ModelDeploymentActions> {
  const { object, observed, now } = input;
  const status = object.status ?? {};
  if (!observed.model.ok) {
    const { kind, reason, message } = observed.model;
    // What is served stays as it is.
    return kind === "stall"
      ? { step: { status, outcome: { state: "Stalled", reason, message } } }
      : {
          step: {
            status,
            outcome: { state: "Progressing", reason: "DependencyNotReady", message },
            requeueAfter: 30_000,
          },
        };
  }
  const model = observed.model.model;
  const desired = revisionName(object, model);
  const annotations = object.metadata.annotations ?? {};
  const decision = planRollout({
    object,
    desired,
    warm: (status.revisions ?? []).filter((r) => r.role === "Warm").map((r) => r.name),
    available: (revision) => observed.deployments.get(revision)?.available === true,
    now,
    promote: annotations[promoteAnnotation] === desired,
    retryToken: annotations[retryAnnotation],
  });
  return materialize({ object, observed, decision, desired, model, now });
}

/** The children and status for `decision` (also after a round of measurements). */
export function materialize(options: {
  object: StoredObject<ModelDeployment>;
  observed: ObservedModelDeployment;
  decision: RolloutDecision;
  desired: string;
  model: ResolvedModel;
  now: number;
  measurements?: ModelDeploymentStatus["measurements"];
}): { step: Step; actions: ModelDeploymentActions } {
  const { object, observed, decision, desired, model, now } = options;
  const status = object.status ?? {};
  const replicas = object.spec.runtime?.replicas ?? 1;
  const window = object.spec.rollbackWindow?.revisions ?? 1;
  const previous = new Map((status.revisions ?? []).map((r) => [r.name, r]));

  const warm = [
    ...decision.retired,
    ...(status.revisions ?? []).filter((r) => r.role === "Warm").map((r) => r.name),
  ].filter(
    (name, i, all) =>
      name !== decision.stable && name !== decision.canary && all.indexOf(name) === i,
  );
  const kept = warm.slice(0, window);
  const roles = new Map<string, NonNullable<ModelDeploymentStatusRevision["role"]>>();
  if (decision.stable !== undefined) roles.set(decision.stable, "Stable");
  if (decision.canary !== undefined) roles.set(decision.canary, "Canary");
  for (const name of kept) roles.set(name, "Warm");
  // The desired revision runs even before it has a role (it is being created).
  if (!roles.has(desired)) roles.set(desired, "Canary");

  const weightOf = (name: string): number =>
    name === decision.canary
      ? decision.canaryWeight
      : name === decision.stable
        ? 100 - (decision.canary !== undefined ? decision.canaryWeight : 0)
        : 0;
  const at = conditionTime(now);
  const revisions: ModelDeploymentStatusRevision[] = [...roles.entries()].map(([name, role]) => {
    const url = observed.deployments.get(name)?.url;
    return {
      name,
      model: name === desired ? model.source : (previous.get(name)?.model ?? ""),
      weight: weightOf(name),
      ready: observed.deployments.get(name)?.available === true,
      role,
      createdAt: previous.get(name)?.createdAt ?? at,
      ...(url !== undefined ? { url } : {}),
    };
  });
  const replicasOf = (role: string): number => (role === "Warm" ? Math.min(1, replicas) : replicas);
  const scale = [...roles.entries()]
    .filter(([name]) => name !== desired)
    .map(([name, role]) => ({ revision: name, replicas: replicasOf(role) }))
    .filter((s) => {
      const existing = observed.deployments.get(s.revision);
      return existing !== undefined && existing.replicas !== s.replicas;
    });
  const traffic = [decision.stable, decision.canary]
    .filter((name): name is string => name !== undefined)
    .map((name) => {
      const url = observed.deployments.get(name)?.url;
      return { revision: name, weight: weightOf(name), ...(url !== undefined ? { url } : {}) };
    });
  const remove = [...observed.deployments.keys()].filter((name) => !roles.has(name));

  const resolved = observed.model.ok ? observed.model.resolved : undefined;
  const next: ModelDeploymentStatus = {
    ...status,
    ...(resolved ? { resolvedModel: resolved } : {}),
    phase: decision.phase,
    revisions,
    ...(options.measurements ? { measurements: options.measurements } : {}),
  };
  if (decision.stable !== undefined) next.stableRevision = decision.stable;
  else delete next.stableRevision;
  if (decision.canary !== undefined) next.canaryRevision = decision.canary;
  else delete next.canaryRevision;
  if (decision.currentStep !== undefined) next.currentStep = decision.currentStep;
  else delete next.currentStep;
  if (decision.rollout !== undefined) next.rollout = decision.rollout;
  else delete next.rollout;
  next.canaryWeight = decision.canary !== undefined ? decision.canaryWeight : 0;
  if (decision.canary === undefined) delete next.measurements;

  return {
    actions: {
      ensure: { revision: desired, replicas: replicasOf(roles.get(desired) ?? "Canary") },
      scale,
      traffic,
      remove,
      decision,
      desired,
      model,
    },
    step: {
      status: next,
      outcome: withProblem(decision.outcome, observed.deployments.get(desired)?.problem, desired),
      conditions: routeConditions(observed),
      events: decision.events.map((e) => ({ ...e, action: "Rollout" })),
      ...(decision.requeueAfter !== undefined ? { requeueAfter: decision.requeueAfter } : {}),
    },
  };
}

/** A rollout waiting on a revision says what the serving backend knows is wrong with it. */
function withProblem(
  outcome: Step["outcome"],
  problem: string | undefined,
  revision: string,
): Step["outcome"] {
  if (problem === undefined || outcome.state !== "Progressing") return outcome;
  return { ...outcome, message: `${outcome.message}; revision ${revision}: ${problem}` };
}

/** The Gateway's verdict on the route (Accepted, ResolvedRefs), when one reported it. */
function routeConditions(observed: ObservedModelDeployment): NonNullable<Step["conditions"]> {
  return observed.routeParents
    .filter((c) => c.type === "Accepted" || c.type === "ResolvedRefs")
    .map((c) => ({
      type: `Route${c.type}`,
      status: c.status === "True" ? "True" : c.status === "False" ? "False" : "Unknown",
      reason: c.reason && /^[A-Z][A-Za-z0-9]*$/.test(c.reason) ? c.reason : c.type,
      message: c.message ?? "",
    }));
}
