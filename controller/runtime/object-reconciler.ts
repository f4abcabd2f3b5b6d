// The one shape every kind's reconciler has (after controller-runtime and Flux's
// kustomize-controller):
//
//   get → being deleted? finalize → ensure finalizer → suspended? stop
//       → observe (reads only) → plan (pure) → act (writes, backends) → status, once → requeue
//
// A kind writes `observe`, `plan` and `act` and nothing else: fetching, finalizers, suspension,
// the kstatus summary, the single status write, Events and what the queue does next live here.
// An outcome says what happened; this module turns it into conditions and a queue decision:
//   Ready        → done (requeue for drift checks if asked);
//   Progressing  → Reconciling=True (a rollout, a batch, a dependency that is not ready yet);
//   Stalled      → a Warning Event and TerminalError: not retried until the spec changes;
//   Failed       → TransientError: the queue retries with per-key backoff.
import type { EventSpec } from "../kube/events.js";
import { TerminalError, TransientError, findInCauseChain } from "../kube/errors.js";
import { addFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from "../kube/finalizers.js";
import type { KubeObject, ResourceType, StoredObject } from "../kube/resources.js";
import { conditionTime, type ConditionInput, type ReconcileOutcome } from "./conditions.js";
import type {
  ReconcileContext,
  ReconcileFunction,
  ReconcileRequest,
  ReconcileResult,
} from "./reconciler.js";
import type { ControllerDeps } from "./registry.js";
import { writeStatus, type KstatusFields } from "./status.js";

/** What a reconcile ends with: the next status and what it means. */
export interface ReconcileStep<S extends KstatusFields> {
  /** The next status without the kstatus conditions, which are derived from `outcome`. */
  status: S;
  outcome: ReconcileOutcome;
  /** The kind's own conditions (e.g. `RouteAccepted`), kept beside Ready/Reconciling/Stalled. */
  conditions?: readonly Omit<ConditionInput, "observedGeneration">[];
  /** Recorded after the status write (a Stalled outcome adds its own Warning). */
  events?: readonly EventSpec[];
  /** Reconcile again after this many ms (drift checks, the next batch). */
  requeueAfter?: number;
  /** The error behind a Failed outcome: the cause of the retry (a TransientError keeps its delay). */
  error?: unknown;
  /**
   * Retry with backoff after the status is written, whatever the outcome: for a side task that
   * failed for a transient reason while the object itself is fine (a promotion commit).
   */
  retry?: Error;
}

/**
 * A plan: the step as it will be if `actions` succeed; without `actions`, nothing to do but write
 * the step. An empty plan: nothing to do at all (status stays as it is).
 */
export type Plan<S extends KstatusFields, A> =
  { step: ReconcileStep<S>; actions?: A } | { step?: undefined; actions?: undefined };

/** What observe and act get besides the object. */
export interface ObjectContext extends ReconcileContext {
  deps: ControllerDeps;
  /** RFC 3339, seconds: the time this reconcile plans with. */
  now: string;
}

type Reconciled<S> = KubeObject & { spec?: object; status?: S };

/** `spec.suspend: true`, the convention of Flux's kinds and ours. */
function specSuspended(object: KubeObject & { spec?: object }): boolean {
  const spec = object.spec as { suspend?: unknown } | undefined;
  return spec?.suspend === true;
}

/** A kind's reconciler, as the skeleton runs it. */
export interface ObjectReconciler<
  T extends Reconciled<S>,
  S extends KstatusFields,
  Observed,
  Actions,
> {
  type: ResourceType;
  /** For kinds that create things outside the cluster, which garbage collection cannot remove. */
  finalizer?: {
    name: string;
    /** Whether this object needs the finalizer (e.g. only when it publishes to Langfuse). */
    needed(object: StoredObject<T>): boolean;
    /** Removes what the object created outside; the finalizer is removed afterwards. */
    finalize(object: StoredObject<T>, context: ObjectContext): Promise<void>;
  };
  /** Whether to do nothing for now; `spec.suspend` unless the kind says otherwise. */
  suspended?(object: StoredObject<T>): boolean;
  /** Reads what the plan needs (cache, API, backends). Writes nothing. */
  observe(object: StoredObject<T>, context: ObjectContext): Promise<Observed>;
  /** Pure: the actions to take and the status they lead to. */
  plan(input: { object: StoredObject<T>; observed: Observed; now: string }): Plan<S, Actions>;
  /**
   * Carries out `actions` and returns the step as it turned out (usually `planned`, amended with
   * what the writes returned). Known failures become a Failed or Stalled step; anything thrown is
   * retried by the queue without a status write.
   */
  act(
    actions: Actions,
    planned: ReconcileStep<S>,
    context: ObjectContext & { object: StoredObject<T>; observed: Observed },
  ): Promise<ReconcileStep<S>>;
}

/** The reconcile function for `kind`, reading objects from the informer cache. */
export function objectReconciler<
  T extends Reconciled<S>,
  S extends KstatusFields,
  Observed,
  Actions,
>(deps: ControllerDeps, kind: ObjectReconciler<T, S, Observed, Actions>): ReconcileFunction {
  return (request, context) => reconcileObject(deps, kind, request, context);
}

async function reconcileObject<T extends Reconciled<S>, S extends KstatusFields, O, A>(
  deps: ControllerDeps,
  kind: ObjectReconciler<T, S, O, A>,
  request: ReconcileRequest,
  reconcileContext: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const object = deps.cache.get<T>(kind.type, request);
  if (object === undefined) return undefined; // gone; owned children follow by garbage collection
  const context: ObjectContext = {
    ...reconcileContext,
    deps,
    now: conditionTime(deps.clock.now()),
  };

  if (isBeingDeleted(object)) {
    // Nothing new starts for an object on its way out (a foreground delete can take a while).
    const finalizer = kind.finalizer;
    if (finalizer === undefined || !hasFinalizer(object, finalizer.name)) return undefined;
    // Read it fresh: right after our own finalizer removal the cache can still show it, and
    // cleaning up outside the cluster twice is what a finalizer is there to avoid.
    const current = await deps.client.tryGet<T>(kind.type, request, { signal: context.signal });
    if (current === undefined || !hasFinalizer(current, finalizer.name)) return undefined;
    await finalizer.finalize(current, context);
    await removeFinalizer(deps.client, kind.type, current, finalizer.name);
    return undefined;
  }
  if (kind.suspended ? kind.suspended(object) : specSuspended(object)) {
    context.log.debug("suspended");
    return undefined;
  }
  if (kind.finalizer?.needed(object)) {
    await addFinalizer(deps.client, kind.type, object, kind.finalizer.name);
  }

  let step: ReconcileStep<S>;
  try {
    const observed = await kind.observe(object, context);
    const plan = kind.plan({ object, observed, now: context.now });
    if (plan.step === undefined) return undefined;
    step =
      plan.actions === undefined
        ? plan.step
        : await kind.act(plan.actions, plan.step, { ...context, object, observed });
  } catch (error) {
    const terminal = findInCauseChain(error, TerminalError);
    if (terminal === undefined) throw error;
    step = {
      status: object.status ?? ({} as S),
      outcome: { state: "Stalled", reason: terminal.reason, message: terminal.message },
    };
  }
  return finishStep(deps, kind.type, object, step, context.now);
}

/**
 * Writes `step`'s status (once, only if it changed), records its Events, and tells the queue
 * what comes next. The only place a reconciler's outcome becomes conditions, Events and errors.
 */
async function finishStep<S extends KstatusFields>(
  deps: ControllerDeps,
  type: ResourceType,
  object: StoredObject<KubeObject & { status?: S }>,
  step: ReconcileStep<S>,
  now: string,
): Promise<ReconcileResult | undefined> {
  const { outcome } = step;
  await writeStatus({
    client: deps.client,
    type,
    object,
    outcome,
    next: step.status,
    ...(step.conditions ? { conditions: step.conditions } : {}),
    now,
    cache: deps.cache,
  });
  for (const event of step.events ?? []) void deps.events.record(object, event);
  switch (outcome.state) {
    case "Stalled":
      void deps.events.record(object, {
        type: "Warning",
        reason: outcome.reason,
        action: "Reconcile",
        note: outcome.message,
      });
      throw new TerminalError(outcome.message, { reason: outcome.reason });
    case "Failed":
      throw step.error instanceof TransientError
        ? step.error
        : new TransientError(outcome.message, { cause: step.error });
    default:
      if (step.retry !== undefined) throw step.retry;
      return step.requeueAfter !== undefined ? { requeueAfter: step.requeueAfter } : undefined;
  }
}
