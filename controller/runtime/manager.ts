// The manager: owns the informers, one controller per registered kind, leader election, and the
// order things start and stop in.
//
// Start: (campaign for the Lease) → informers list+watch → wait until every cache has synced →
// workers start. Stop (SIGTERM): workers stop taking keys; in-flight reconciles finish (up to
// shutdownTimeoutMs, then their signal aborts) → informers stop → the Lease is released, so the
// next leader never overlaps with a reconcile of ours. Leadership lost: everything stops at once
// and `run` resolves with "leadershipLost" — the process should exit and be restarted.
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { KubeClient } from "../kube/client.js";
import { EventRecorder } from "../kube/events.js";
import { controllerOf } from "../kube/owner-references.js";
import {
  type KubeObject,
  type ObjectKey,
  type ResourceType,
  type StoredObject,
  apiGroup,
  keyOf,
  objectKeyString,
} from "../kube/resources.js";
import { type RateLimiter, defaultRateLimiter } from "./backoff.js";
import { ExpectedCreates, StringPool, childView, matchesLabelSelector } from "./cache-views.js";
import { type Clock, systemClock } from "./clock.js";
import { Controller } from "./controller.js";
import { Informer, type InformerOptions } from "./informer.js";
import { type LeaderElectionConfig, LeaderElector } from "./leader-election.js";
import { RuntimeMetrics } from "./metrics.js";
import type {
  CacheReader,
  ControllerDeps,
  ControllerRegistration,
  ControllerSetup,
  OwnedType,
} from "./registry.js";
import { WorkQueue } from "./work-queue.js";

export type InformerTuning = Pick<
  InformerOptions,
  | "resyncMs"
  | "staleAfterMs"
  | "minWatchTimeoutSeconds"
  | "backoffBaseMs"
  | "backoffMaxMs"
  | "listPageSize"
>;

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  clock?: Clock;
  metrics?: RuntimeMetrics;
  /** Namespaces to watch; empty or undefined: all namespaces. */
  namespaces?: readonly string[];
  /** Leader election; undefined: this replica always leads (single replica, local runs). */
  leaderElection?: LeaderElectionConfig;
  /** Per-controller worker counts by registration name (`Prompt` → 4). */
  concurrency?: Readonly<Record<string, number>>;
  informer?: InformerTuning;
  /** One rate limiter per controller. */
  rateLimiter?: (clock: Clock) => RateLimiter;
  /** How long in-flight reconciles may take to finish on shutdown. */
  shutdownTimeoutMs?: number;
  /** Identity in Events (`reportingController` / `reportingInstance`). */
  eventSource?: { controller: string; instance: string };
  random?: () => number;
}

export type ManagerExit = "stopped" | "leadershipLost";

interface RunningWorkloads {
  informers: Informer[];
  done: Promise<void>;
}

export class Manager {
  readonly metrics: RuntimeMetrics;
  readonly events: EventRecorder;
  readonly cache: CacheReader;
  readonly client: KubeClient;
  private readonly options: ManagerOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly registrations: ControllerRegistration[] = [];
  private readonly informers = new Map<string, Informer>();
  /** Informers that run as long as the manager, leader or not (sharedInformers). */
  private readonly shared = new Map<string, Informer>();
  /** Unregisters the handlers of the current leadership term from shared informers. */
  private termHandlers: (() => void)[] = [];
  /** Child-view informers (OwnedType.contentDigest) by type and namespace: what getChild reads. */
  private readonly childInformers = new Map<string, Informer>();
  /** Informers that cache a view, not whole objects (metadataOnly, contentDigest). */
  private readonly viewInformers = new Set<Informer>();
  /** Children our controllers created whose ADDED event is still to come (recordCreate). */
  private readonly expectedCreates = new ExpectedCreates();
  /** Shared strings of child views (primary transforms bring their own pool). */
  private readonly childStrings = new StringPool();
  private readonly controllers = new Map<string, Controller>();
  private elector: LeaderElector | undefined;
  private running = false;
  private leading = false;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.client = options.client;
    this.clock = options.clock ?? systemClock();
    this.logger = options.logger;
    this.metrics = options.metrics ?? new RuntimeMetrics();
    const instance = options.leaderElection?.identity ?? hostname();
    this.events = new EventRecorder({
      client: options.client,
      logger: options.logger.child({ component: "events" }),
      controller: options.eventSource?.controller ?? "llmops.dev/controller",
      instance: options.eventSource?.instance ?? instance,
      now: () => this.clock.now(),
    });
    this.cache = {
      get: <T extends KubeObject>(type: ResourceType, key: ObjectKey) =>
        this.informerServing(type, key.namespace)?.get(objectKeyString(key)) as
          StoredObject<T> | undefined,
      list: <T extends KubeObject>(type: ResourceType, opts: { namespace?: string } = {}) => {
        const found: StoredObject<T>[] = [];
        for (const informer of this.informers.values()) {
          // Views (metadata only, child digests) are not objects of the type as readers expect.
          if (!sameType(informer.type, type) || this.viewInformers.has(informer)) continue;
          for (const obj of informer.list()) {
            if (opts.namespace === undefined || obj.metadata.namespace === opts.namespace) {
              found.push(obj as StoredObject<T>);
            }
          }
        }
        return found;
      },
      getChild: (type: ResourceType, key: ObjectKey) => {
        const namespace = type.namespaced ? key.namespace : "";
        const informer =
          this.childInformers.get(childInformerKey(type, namespace)) ??
          this.childInformers.get(childInformerKey(type, ""));
        return informer?.get(objectKeyString(key));
      },
      beginCreate: (type: ResourceType, child: KubeObject) => {
        const meta = child.metadata ?? {};
        // Only children watched as child views: what OwnedChildren writes and then reads back.
        const namespace = type.namespaced ? (meta.namespace ?? "") : "";
        const informer =
          this.childInformers.get(childInformerKey(type, namespace)) ??
          this.childInformers.get(childInformerKey(type, ""));
        if (
          informer === undefined ||
          meta.name === undefined ||
          !matchesLabelSelector(meta.labels, informer.labelSelector)
        ) {
          return () => undefined;
        }
        const key = childEventKey(type, { namespace, name: meta.name });
        this.expectedCreates.begin(key);
        return (written: StoredObject | undefined) => {
          const rv = (written as Partial<StoredObject> | undefined)?.metadata?.resourceVersion;
          this.expectedCreates.created(key, typeof rv === "string" ? rv : undefined);
        };
      },
      recordWrite: (type: ResourceType, written: StoredObject, basedOn: string) => {
        // A write answered without an object (a test double) has nothing to record.
        const meta = (written as Partial<StoredObject> | undefined)?.metadata;
        if (typeof meta?.resourceVersion !== "string") return;
        for (const informer of this.informers.values()) {
          if (
            sameType(informer.type, type) &&
            matchesLabelSelector(written.metadata.labels, informer.labelSelector)
          ) {
            informer.recordWrite(written, basedOn);
          }
        }
      },
    };
  }

  /** The dependencies a ControllerSetup receives. */
  deps(): ControllerDeps {
    return {
      client: this.client,
      cache: this.cache,
      events: this.events,
      clock: this.clock,
      logger: this.logger,
    };
  }

  /** Registers controllers; only before `run`. */
  add(...setups: ControllerSetup[]): void {
    for (const setup of setups) this.addRegistration(setup(this.deps()));
  }

  addRegistration(registration: ControllerRegistration): void {
    if (this.running) throw new Error("controllers must be registered before the manager runs");
    if (this.registrations.some((r) => r.name === registration.name)) {
      throw new Error(`a controller named ${registration.name} is already registered`);
    }
    this.registrations.push(registration);
  }

  /** Registered controller names, for validating `--concurrency`. */
  controllerNames(): string[] {
    return this.registrations.map((r) => r.name);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Liveness: the process is running its loops. */
  isHealthy(): boolean {
    return this.running;
  }

  /**
   * Readiness: a leader (or a replica without leader election) is ready once every informer
   * has synced; a standby is ready while it campaigns, so a rolling update is not held up.
   */
  isReady(): boolean {
    if (!this.running) return false;
    if (!this.leading) return this.options.leaderElection !== undefined;
    for (const informer of this.informers.values()) if (!informer.hasSynced()) return false;
    return true;
  }

  /**
   * The caches of `type` (one informer per watched namespace, or one for all) that run as long as
   * `run` does, on every replica, leader or not: for readers outside the controllers, such as the
   * HTTP API, so that they do not keep a second copy of every object. The controllers of a leader
   * read the same informers (a new term replays their objects as adds, as a fresh list would).
   * Call after `add`, so the registered transform of the type applies, and before `run`.
   */
  sharedInformers(type: ResourceType): Informer[] {
    if (this.running) throw new Error("shared informers must be requested before the manager runs");
    const transform = this.registrations.find((r) => sameType(r.type, type))?.transform;
    return this.namespacesOf(type).map((namespace) => {
      const id = informerId(type, namespace);
      let informer = this.shared.get(id);
      if (informer === undefined) {
        informer = this.newInformer(type, namespace, transform === undefined ? {} : { transform });
        this.shared.set(id, informer);
      }
      return informer;
    });
  }

  /** Runs until `stop` aborts (→ "stopped") or leadership is lost (→ "leadershipLost"). */
  async run(stop: AbortSignal): Promise<ManagerExit> {
    if (this.running) throw new Error("the manager is already running");
    this.running = true;
    const sharedStop = new AbortController();
    const sharedRuns = [...this.shared.values()].map((informer) => informer.run(sharedStop.signal));
    try {
      const election = this.options.leaderElection;
      if (election === undefined) {
        this.setLeading(true);
        await this.runWorkloads({ stop, lost: new AbortController().signal }).done;
        return "stopped";
      }
      this.metrics.leader.set(0);
      this.elector = new LeaderElector({
        client: this.client,
        config: election,
        clock: this.clock,
        logger: this.logger.child({ component: "leader-election" }),
        random: this.options.random,
        callbacks: {
          onStartedLeading: (leading) => {
            this.setLeading(true);
            // `leading` aborts on stop and on loss; only a loss is not also a requested stop.
            const lost = new AbortController();
            leading.addEventListener("abort", () => {
              if (!stop.aborted) lost.abort();
            });
            const workloads = this.runWorkloads({ stop: leading, lost: lost.signal });
            return workloads.done;
          },
          onStoppedLeading: () => {
            this.setLeading(false);
          },
        },
      });
      const outcome = await this.elector.run(stop);
      return outcome === "lost" ? "leadershipLost" : "stopped";
    } finally {
      sharedStop.abort();
      await Promise.all(sharedRuns);
      this.setLeading(false);
      this.running = false;
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.metrics.leader.set(leading ? 1 : 0);
  }

  private runWorkloads(signals: { stop: AbortSignal; lost: AbortSignal }): RunningWorkloads {
    const informerStop = new AbortController();
    const hardStop = new AbortController();
    const random = this.options.random ?? Math.random;
    // Fresh controllers and informers per leadership term: nothing carries over from a term that
    // ended, and the new term starts from a full list.
    this.informers.clear();
    this.childInformers.clear();
    this.viewInformers.clear();
    this.controllers.clear();
    // Shared informers are the exception: they keep running, and this term reads them too.
    for (const [id, informer] of this.shared) this.informers.set(id, informer);
    // Primary caches first, with their registration's transform, whatever order other
    // registrations' watches of the same type come in.
    for (const registration of this.registrations) {
      this.informersFor(registration.type, {}, registration.transform);
    }
    for (const registration of this.registrations) {
      const controller = new Controller({
        kind: registration.name,
        queue: new WorkQueue({
          clock: this.clock,
          rateLimiter: (this.options.rateLimiter ?? ((clock) => defaultRateLimiter({ clock })))(
            this.clock,
          ),
          observeWait: (ms) => {
            this.metrics.workqueueWait.observe({ kind: registration.name }, ms / 1000);
          },
        }),
        reconcile: registration.reconcile,
        concurrency: this.options.concurrency?.[registration.name] ?? registration.concurrency ?? 1,
        logger: this.logger,
        clock: this.clock,
        metrics: this.metrics,
        random,
      });
      this.controllers.set(registration.name, controller);
      this.wire(registration, controller);
    }
    const informers = [...this.informers.values()];
    const sharedInformers = new Set(this.shared.values());
    const informerRuns = informers
      .filter((informer) => !sharedInformers.has(informer))
      .map((informer) => informer.run(informerStop.signal));
    const onLost = (): void => {
      hardStop.abort();
    };
    signals.lost.addEventListener("abort", onLost, { once: true });

    const done = (async () => {
      await Promise.all(informers.map((informer) => informer.waitForSync(signals.stop)));
      if (!signals.stop.aborted) {
        this.logger.info(
          { controllers: [...this.controllers.keys()], informers: informers.length },
          "caches synced; starting workers",
        );
      }
      const shutdownTimer = { cancel: (): void => undefined };
      const onStop = (): void => {
        const timer = this.clock.setTimer(() => {
          this.logger.warn("in-flight reconciles did not finish in time; cancelling them");
          hardStop.abort();
        }, this.options.shutdownTimeoutMs ?? 30_000);
        shutdownTimer.cancel = () => {
          timer.cancel();
        };
      };
      if (signals.stop.aborted) onStop();
      else signals.stop.addEventListener("abort", onStop, { once: true });
      await Promise.all(
        [...this.controllers.values()].map((c) =>
          c.run({ stop: signals.stop, hardStop: hardStop.signal }),
        ),
      );
      shutdownTimer.cancel();
      informerStop.abort();
      await Promise.all(informerRuns);
      for (const remove of this.termHandlers.splice(0)) remove();
      signals.lost.removeEventListener("abort", onLost);
      this.logger.info("workers and informers stopped");
    })();
    return { informers, done };
  }

  private wire(registration: ControllerRegistration, controller: Controller): void {
    const enqueue = (obj: StoredObject): void => {
      controller.enqueue(objectKeyString(keyOf(obj)));
    };
    for (const informer of this.informersFor(registration.type)) {
      this.termHandlers.push(
        informer.addHandlers({
          onAdd: enqueue,
          onUpdate: (old, obj) => {
            // A status-only change is (almost always) our own status write: reconciling it again
            // would only redo the work just done (controller-runtime's GenerationChangedPredicate).
            if (!statusOnlyChange(old, obj)) enqueue(obj);
          },
          onDelete: enqueue,
        }),
      );
    }
    const ownerGroup = apiGroup(registration.type.apiVersion);
    const enqueueOwner = (obj: StoredObject): void => {
      const owner = controllerOf(obj);
      if (
        owner !== undefined &&
        owner.kind === registration.type.kind &&
        apiGroup(owner.apiVersion) === ownerGroup
      ) {
        controller.enqueue(
          objectKeyString({
            namespace: registration.type.namespaced ? (obj.metadata.namespace ?? "") : "",
            name: owner.name,
          }),
        );
      }
    };
    for (const owned of registration.owns ?? []) {
      const child: OwnedType = isOwnedType(owned) ? owned : { type: owned };
      // Any event of a child settles what recordCreate expected of it.
      const settled = (obj: StoredObject): boolean =>
        this.expectedCreates.settle(
          childEventKey(child.type, keyOf(obj)),
          obj.metadata.resourceVersion,
        );
      for (const informer of this.informersFor(child.type, child)) {
        this.termHandlers.push(
          informer.addHandlers({
            onAdd: (obj) => {
              // The event of a create the owner made itself: it knows what it wrote.
              if (!settled(obj)) enqueueOwner(obj);
            },
            onUpdate: (old, obj) => {
              settled(obj);
              // The same resourceVersion is no change: a periodic relist, or the watch event of a
              // write the owner made and recorded in the cache (recordWrite). A relist still finds
              // what a watch missed: a changed child has a new resourceVersion, a gone one is deleted.
              if (old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
              enqueueOwner(old);
              enqueueOwner(obj);
            },
            onDelete: (obj) => {
              settled(obj);
              enqueueOwner(obj);
            },
          }),
        );
      }
    }
    for (const mapping of registration.watches ?? []) {
      const enqueueMapped = (obj: StoredObject): void => {
        for (const key of mapping.map(obj)) controller.enqueue(key);
      };
      for (const informer of this.informersFor(mapping.type)) {
        this.termHandlers.push(
          informer.addHandlers({
            onAdd: enqueueMapped,
            onUpdate: (_old, obj) => {
              enqueueMapped(obj);
            },
            onDelete: enqueueMapped,
          }),
        );
      }
    }
  }

  /** The informers for `type`: one per watched namespace, or one for all. */
  private informersFor(
    type: ResourceType,
    narrow: { labelSelector?: string; metadataOnly?: boolean; contentDigest?: boolean } = {},
    transform?: (obj: StoredObject) => StoredObject,
  ): Informer[] {
    return this.namespacesOf(type).map((namespace) => {
      const id = informerId(type, namespace, narrow);
      let informer = this.informers.get(id);
      if (informer === undefined) {
        informer = this.newInformer(type, namespace, {
          ...(narrow.labelSelector !== undefined ? { labelSelector: narrow.labelSelector } : {}),
          ...(transform !== undefined ? { transform } : {}),
          ...(narrow.metadataOnly ? { transform: metadataOnly } : {}),
          ...(narrow.contentDigest ? { transform: childView(this.childStrings) } : {}),
        });
        this.informers.set(id, informer);
        if (narrow.metadataOnly || narrow.contentDigest) this.viewInformers.add(informer);
        if (narrow.contentDigest) {
          this.childInformers.set(childInformerKey(type, namespace), informer);
        }
      }
      return informer;
    });
  }

  private namespacesOf(type: ResourceType): readonly string[] {
    return type.namespaced &&
      this.options.namespaces !== undefined &&
      this.options.namespaces.length > 0
      ? this.options.namespaces
      : [""];
  }

  private newInformer(
    type: ResourceType,
    namespace: string,
    options: Pick<InformerOptions, "labelSelector" | "transform">,
  ): Informer {
    return new Informer({
      client: this.client,
      type,
      namespace,
      clock: this.clock,
      logger: this.logger.child({
        component: "informer",
        resource: type.plural,
        namespace: namespace || "*",
      }),
      random: this.options.random,
      ...this.options.informer,
      ...options,
    });
  }

  private informerServing(type: ResourceType, namespace: string): Informer | undefined {
    return (
      this.informers.get(informerId(type, type.namespaced ? namespace : "")) ??
      this.informers.get(informerId(type, ""))
    );
  }
}

/** Informers that watch a subset, or only metadata, get their own id: they serve no cache reads. */
function informerId(
  type: ResourceType,
  namespace: string,
  narrow: { labelSelector?: string; metadataOnly?: boolean; contentDigest?: boolean } = {},
): string {
  const selector = narrow.labelSelector !== undefined ? `?${narrow.labelSelector}` : "";
  const view = narrow.contentDigest ? "#child" : narrow.metadataOnly ? "#metadata" : "";
  return `${type.apiVersion}/${type.kind}@${namespace}${selector}${view}`;
}

/** A child's identity across informers of its type: what ExpectedCreates is keyed by. */
function childEventKey(type: ResourceType, key: ObjectKey): string {
  return `${type.apiVersion}/${type.kind}@${objectKeyString(key)}`;
}

function childInformerKey(type: ResourceType, namespace: string): string {
  return `${type.apiVersion}/${type.kind}@${namespace}`;
}

/**
 * True when `obj` differs from `old` in status only: same generation (so the same spec) and the
 * same labels, annotations, finalizers, owners and deletion state. Kinds without a generation
 * always count as changed.
 */
export function statusOnlyChange(old: StoredObject, obj: StoredObject): boolean {
  const a = old.metadata;
  const b = obj.metadata;
  if (a.generation === undefined || a.generation !== b.generation) return false;
  const same = (x: unknown, y: unknown) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
  return (
    same(a.labels, b.labels) &&
    same(a.annotations, b.annotations) &&
    same(a.finalizers, b.finalizers) &&
    same(a.ownerReferences, b.ownerReferences) &&
    a.deletionTimestamp === b.deletionTimestamp
  );
}

function isOwnedType(owned: ResourceType | OwnedType): owned is OwnedType {
  return typeof (owned as OwnedType).type === "object";
}

function metadataOnly(obj: StoredObject): StoredObject {
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata };
}

function sameType(a: ResourceType, b: ResourceType): boolean {
  return a.apiVersion === b.apiVersion && a.kind === b.kind;
}
