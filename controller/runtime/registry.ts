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
  /**
   * The cached view of an owned child (metadata and a content digest; see OwnedType's
   * `contentDigest`), or undefined when it is not cached or no owner watches it that way.
   */
  getChild?(type: ResourceType, key: ObjectKey): StoredObject | undefined;
  /**
   * Tells the caches what a write returned (`basedOn`: the resourceVersion the writer read), so a
   * reconcile that follows before the watch event reads the write (Informer.recordWrite).
   */
  recordWrite?(type: ResourceType, written: StoredObject, basedOn: string): void;
  /**
   * Tells the caches that `child` is about to be created by this process (written while the cache
   * does not show it); call what it returns with the write's answer (undefined: it failed). The
   * child's ADDED event then enqueues no owner, who knows what it wrote.
   */
  beginCreate?(type: ResourceType, child: KubeObject): (written: StoredObject | undefined) => void;
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
  /**
   * Cache a child view instead: the metadata and a digest of the content (everything but
   * metadata and status), served by `cache.getChild`, so the owner skips applying a child that is
   * already as desired (OwnedChildren with a cache). Implies metadataOnly.
   */
  contentDigest?: boolean;
}

export interface ControllerRegistration {
  /** Label for metrics and logs; by convention the primary kind (`Prompt`). */
  name: string;
  /** The primary resource: every change enqueues its key. */
  type: ResourceType;
  /**
   * How the primary cache stores objects (default: without managedFields). Opt-in trimming
   * (runtime/cache-views.ts); it must keep every field any reader of this type's cache uses,
   * including other controllers' watches of the type.
   */
  transform?: (obj: StoredObject) => StoredObject;
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
