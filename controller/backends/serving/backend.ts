// What runs a ModelDeployment's revisions: a Deployment and Service each in a cluster
// (kubernetes.ts), or a local process of the reference serving runtime each (local.ts). The
// reconciler observes through `observe` and acts through the rest; the plan never sees which.
import type { ModelDeployment } from "../../api/generated/index.js";
import type { ResolvedModel } from "../../reconcilers/model-deployment/workloads.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import type { OwnedType } from "../../runtime/registry.js";

/** One revision as it runs. */
export interface RevisionState {
  /** Whether it answers requests now (a Deployment Available; a process whose /health is 200). */
  available: boolean;
  /** Replicas asked for (a stopped local process counts 0). */
  replicas: number;
  /** Its own OpenAI-compatible base URL (`…/v1`), when known. */
  url?: string;
  /** Why it does not answer, when the backend knows (a local server that exited, and its stderr). */
  problem?: string;
}

export interface RevisionRequest {
  object: StoredObject<ModelDeployment>;
  revision: string;
  model: ResolvedModel;
  replicas: number;
}

/** Why a ModelDeployment cannot be served as it is: wait (it may resolve itself) or stall. */
export interface ServingProblem {
  kind: "wait" | "stall";
  reason: string;
  message: string;
}

export interface ServingBackend {
  /** Which serving backend this is (for messages and logs). */
  readonly type: "kubernetes" | "local";
  /** Child types to watch (their changes enqueue the ModelDeployment). */
  readonly owns: OwnedType[];
  /**
   * How often to look again while a revision is starting, in ms, for backends whose changes no
   * watch reports (local processes); undefined when a watch does.
   */
  readonly pollWhileStartingMs: number | undefined;
  /** Whether the ModelDeployment needs a finalizer (what runs is outside garbage collection). */
  readonly needsFinalizer: boolean;
  /** Why this backend cannot serve `model` (it waits, or is stalled), or undefined. Reads only. */
  checkModel?(model: ResolvedModel): ServingProblem | undefined;
  /** The revisions that exist for `object`, by name. Reads only. */
  observe(
    object: StoredObject<ModelDeployment>,
    context: ObjectContext,
  ): Promise<Map<string, RevisionState>>;
  /** Makes `revision` run `model` with `replicas` (created when missing; 0 stops it). */
  ensure(request: RevisionRequest, context: ObjectContext): Promise<void>;
  /** Sets the replicas of a revision that exists. */
  scale(
    object: StoredObject<ModelDeployment>,
    revision: string,
    replicas: number,
    context: ObjectContext,
  ): Promise<void>;
  /** Removes revisions and everything they run. */
  remove(
    object: StoredObject<ModelDeployment>,
    revisions: readonly string[],
    context: ObjectContext,
  ): Promise<void>;
  /** Removes every revision of a ModelDeployment that is being deleted. */
  finalize(object: StoredObject<ModelDeployment>, context: ObjectContext): Promise<void>;
}
