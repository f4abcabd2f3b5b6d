// How reconcilers plug into the manager. A kind's package exports one `ControllerSetup`; the
// `llmops controller` command passes the list of setups to the manager. No global registry: the
// list is an ordinary value, so tests build a manager with exactly the controllers they need.
import type { Logger } from "pino";
import type { KubeClient } from "../kube/client.js";
import type { EventRecorder } from "../kube/events.js";
import type { KubeObject, ObjectKey, ResourceType, StoredObject } from "../kube/resources.js";
import type { Clock } from "./clock.js";
import type { ReconcileFunction } from "./reconciler.js";

/** Read access to the informer caches (frozen objects: copy before changing). */
export interface CacheReader {
  get<T extends KubeObject>(type: ResourceType, key: ObjectKey): StoredObject<T> | undefined;
  list<T extends KubeObject>(
    type: ResourceType,
    options?: { namespace?: string },
  ): StoredObject<T>[];
}

/** What a controller gets to build its reconciler. */
export interface ControllerDeps {
  client: KubeClient;
  cache: CacheReader;
  events: EventRecorder;
  clock: Clock;
  logger: Logger;
}

/** A secondary watch: changes to `type` enqueue the keys `map` returns. */
export interface WatchMapping {
  type: ResourceType;
  /** Keys (`namespace/name`) of primary objects to reconcile. Must be pure and never throw. */
  map: (obj: StoredObject) => string[];
}

/** An owned child type, watched narrowly: only labelled children, and only their metadata. */
export interface OwnedType {
  type: ResourceType;
  /** Watch only children matching this selector (e.g. `llmops.dev/prompt`), not every object. */
  labelSelector?: string;
  /**
   * Cache only apiVersion, kind and metadata: enough to find the owner, without the children's
   * data (controller-runtime's OnlyMetadata). Such an informer serves no cache reads.
   */
  metadataOnly?: boolean;
}

export interface ControllerRegistration {
  /** Label for metrics and logs; by convention the primary kind (`Prompt`). */
  name: string;
  /** The primary resource: every change enqueues its key. */
  type: ResourceType;
  reconcile: ReconcileFunction;
  /** Default workers; `--concurrency Prompt=n` overrides it. */
  concurrency?: number;
  /**
   * Child types this controller creates with a controller owner reference to the primary: a
   * change or deletion of a child enqueues its owner (controller-runtime's `Owns`).
   */
  owns?: (ResourceType | OwnedType)[];
  watches?: WatchMapping[];
}

/** Builds a controller from its dependencies; what a kind's package exports. */
export type ControllerSetup = (deps: ControllerDeps) => ControllerRegistration;
