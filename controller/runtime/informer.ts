// An informer for one resource type in one namespace (or all): list, then watch from the list's
// resourceVersion, keeping a read-only cache and telling handlers what changed.
//
// What client-go's reflector does, and what we keep:
// - bookmarks (`allowWatchBookmarks`) move the resourceVersion on quiet watches, so a re-watch
//   after the server's timeout continues where it was instead of relisting;
// - 410 Gone / Expired (on the request or as an ERROR event) → relist;
// - any other failure → re-watch from the last resourceVersion with exponential backoff (relist if
//   the list itself failed);
// - a watchdog: no event and no bookmark for `staleAfterMs` → the connection is presumed dead
//   (half-open TCP), closed and re-opened; the apiserver sends a bookmark about once a minute;
// - a periodic full relist (`resyncMs`): catches anything a watch could have missed and gives
//   every object a fresh reconcile (drift check).
//
// Handlers run synchronously, get frozen objects, must only enqueue keys, and are isolated: a
// throwing handler is logged and the informer goes on.
import type { Logger } from "pino";
import type { KubeClient, WatchStream } from "../kube/client.js";
import { GoneError, TransientError, errorMessage } from "../kube/errors.js";
import {
  type KubeObject,
  type ResourceType,
  type StoredObject,
  keyOf,
  objectKeyString,
} from "../kube/resources.js";
import { exponentialDelay, jitter } from "./backoff.js";
import { type Clock, isAborted, sleep } from "./clock.js";

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  onAdd?: (obj: StoredObject<T>) => void;
  /** Also called on resync with `oldObj === newObj` (same resourceVersion). */
  onUpdate?: (oldObj: StoredObject<T>, newObj: StoredObject<T>) => void;
  onDelete?: (obj: StoredObject<T>) => void;
}

export interface InformerOptions {
  client: KubeClient;
  type: ResourceType;
  /** `""` or undefined: all namespaces. Ignored for cluster-scoped types. */
  namespace?: string;
  labelSelector?: string;
  clock: Clock;
  logger: Logger;
  /** No event or bookmark for this long → restart the watch. */
  staleAfterMs?: number;
  /** Full relist period (jittered by up to +10 %); 0 disables it. */
  resyncMs?: number;
  /** Server-side watch timeout is drawn from [min, 2·min), as client-go does. */
  minWatchTimeoutSeconds?: number;
  /** Restart backoff after failures: base → cap. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Page size of the list. */
  listPageSize?: number;
  /**
   * Applied to every object before it is cached (then frozen). The default drops
   * `metadata.managedFields`, which is large and unused by reconcilers.
   */
  transform?: (obj: StoredObject) => StoredObject;
  random?: () => number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Restarts caused by failures (not by the server's watch timeout). */
  restarts: number;
  /** Restarts caused by the staleness watchdog. */
  staleRestarts: number;
  goneRelists: number;
}

/** Ends a watch that went quiet for longer than allowed. */
export class StaleWatchError extends TransientError {
  override name = "StaleWatchError";
}

type Phase = "list" | "watch";

export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  readonly namespace: string;
  readonly labelSelector: string | undefined;
  readonly stats: InformerStats = {
    lists: 0,
    watches: 0,
    restarts: 0,
    staleRestarts: 0,
    goneRelists: 0,
  };
  private readonly options: InformerOptions;
  private readonly store = new Map<string, StoredObject<T>>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  private readonly random: () => number;
  private resourceVersion = "";
  private synced = false;
  private needList = true;
  private currentWatch: WatchStream | undefined;
  private running: Promise<void> | undefined;

  constructor(options: InformerOptions) {
    this.options = options;
    this.type = options.type;
    this.namespace = options.type.namespaced ? (options.namespace ?? "") : "";
    this.labelSelector = options.labelSelector;
    this.random = options.random ?? Math.random;
  }

  /**
   * Registers handlers; objects already cached are replayed to them as adds. Returns what
   * unregisters them (an informer that outlives its handlers' controller).
   */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.push(handlers);
    for (const obj of this.store.values()) this.call(handlers.onAdd, obj);
    return () => {
      const i = this.handlers.indexOf(handlers);
      if (i !== -1) this.handlers.splice(i, 1);
    };
  }

  /** The cached object, or undefined. Frozen: copy before changing. */
  get(key: string): StoredObject<T> | undefined {
    return this.store.get(key);
  }

  /** Every cached object. */
  list(): StoredObject<T>[] {
    return [...this.store.values()];
  }

  get size(): number {
    return this.store.size;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion the next watch starts from. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Resolves after the first successful list (or when `signal` aborts). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced || signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener(
        "abort",
        () => {
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Starts list+watch until `signal` aborts; the promise resolves once fully stopped. */
  run(signal: AbortSignal): Promise<void> {
    this.running ??= this.loop(signal).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Ends the current watch so the loop relists now (the periodic resync, or on demand). */
  requestRelist(): void {
    this.needList = true;
    this.currentWatch?.close();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { clock, logger } = this.options;
    const onAbort = (): void => this.currentWatch?.close();
    signal.addEventListener("abort", onAbort, { once: true });
    const resync = this.scheduleResync(signal);
    let failures = 0;
    try {
      while (!signal.aborted) {
        let phase: Phase = "watch";
        try {
          if (this.needList) {
            phase = "list";
            await this.relist(signal);
          }
          phase = "watch";
          await this.watchOnce(signal);
          failures = 0;
        } catch (err: unknown) {
          if (isAborted(signal)) break;
          if (err instanceof GoneError) {
            // Our resourceVersion fell out of the apiserver's window: start over from a list.
            this.stats.goneRelists++;
            this.needList = true;
            logger.info({ err: errorMessage(err) }, "resourceVersion expired; relisting");
            continue;
          }
          if (err instanceof StaleWatchError) this.stats.staleRestarts++;
          else this.stats.restarts++;
          failures++;
          const delay = jitter(
            exponentialDelay({
              baseMs: this.options.backoffBaseMs ?? 200,
              maxMs: this.options.backoffMaxMs ?? 30_000,
              failures: failures - 1,
            }),
            { factor: 0.5, random: this.random },
          );
          logger.warn(
            { err: errorMessage(err), phase, failures, retryInMs: delay },
            `${phase} failed; restarting`,
          );
          await sleep(clock, delay, signal);
        }
      }
    } finally {
      resync?.cancel();
      signal.removeEventListener("abort", onAbort);
      this.currentWatch?.close();
      this.currentWatch = undefined;
    }
  }

  private scheduleResync(signal: AbortSignal): { cancel(): void } | undefined {
    const period = this.options.resyncMs ?? 10 * 60_000;
    if (period <= 0) return undefined;
    let timer = this.options.clock.setTimer(tick.bind(this), this.nextResyncDelay(period));
    function tick(this: Informer<T>): void {
      if (signal.aborted) return;
      this.options.logger.debug("periodic relist");
      this.requestRelist();
      timer = this.options.clock.setTimer(tick.bind(this), this.nextResyncDelay(period));
    }
    return {
      cancel: () => {
        timer.cancel();
      },
    };
  }

  private nextResyncDelay(period: number): number {
    return jitter(period, { factor: 0.1, random: this.random });
  }

  private async relist(signal: AbortSignal): Promise<void> {
    this.stats.lists++;
    const seen = new Set<string>();
    let resourceVersion = "";
    // Page by page: only one page of full objects is held at a time, beside the cache itself.
    for await (const page of this.options.client.listPages<T>(this.type, {
      namespace: this.namespace,
      labelSelector: this.options.labelSelector,
      limit: this.options.listPageSize ?? 500,
      signal,
    })) {
      resourceVersion ||= page.resourceVersion;
      for (const raw of page.items) {
        const key = objectKeyString(keyOf(raw));
        seen.add(key);
        const old = this.store.get(key);
        // Same resourceVersion: keep the cached instance (no copy, no transform), still deliver
        // it as a resync.
        if (old !== undefined && old.metadata.resourceVersion === raw.metadata.resourceVersion) {
          this.emitUpdate(old, old);
          continue;
        }
        const obj = this.prepare(raw);
        this.store.set(key, obj);
        if (old === undefined) this.emitAdd(obj);
        else this.emitUpdate(old, obj);
      }
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emitDelete(old);
      }
    }
    this.resourceVersion = resourceVersion;
    this.needList = false;
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  /**
   * Caches what a write of ours returned, but only while the cache still holds the version the
   * write was based on (`basedOn`, its resourceVersion): no event has arrived since, so the written
   * object is the newest state known. The next reconcile then reads its own write instead of a
   * stale copy and does not write the same thing again (client-go's mutation cache). No handler
   * runs; the watch event for the write follows with the same resourceVersion and is compared
   * against this copy. Objects that were absent are never recorded: their watch event may already
   * have come and gone (created, then deleted), and a recorded copy would outlive the object.
   */
  recordWrite(written: StoredObject<T>, basedOn: string): boolean {
    if (this.namespace !== "" && written.metadata.namespace !== this.namespace) return false;
    const key = objectKeyString(keyOf(written));
    const cached = this.store.get(key);
    if (cached === undefined || cached.metadata.resourceVersion !== basedOn) return false;
    if (written.metadata.resourceVersion === basedOn) return false;
    this.store.set(key, this.prepare(written));
    return true;
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const { clock } = this.options;
    const minTimeout = this.options.minWatchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(minTimeout * (1 + this.random()));
    this.stats.watches++;
    const watch = await this.options.client.watch(this.type, {
      namespace: this.namespace,
      resourceVersion: this.resourceVersion,
      timeoutSeconds,
      labelSelector: this.options.labelSelector,
      signal,
    });
    this.currentWatch = watch;
    // A resync or stop requested while the watch was being opened must not be lost.
    if (signal.aborted || this.needList) watch.close();
    const staleAfterMs = this.options.staleAfterMs ?? 150_000;
    let lastActivity = clock.now();
    const state = { stale: false };
    const check = (): void => {
      const quiet = clock.now() - lastActivity;
      if (quiet >= staleAfterMs) {
        state.stale = true;
        watch.close();
        return;
      }
      watchdog = clock.setTimer(check, staleAfterMs - quiet);
    };
    let watchdog = clock.setTimer(check, staleAfterMs);
    try {
      for await (const event of watch) {
        lastActivity = clock.now();
        this.handleEvent(event.type, event.object);
      }
    } finally {
      watchdog.cancel();
      watch.close();
      if (this.currentWatch === watch) this.currentWatch = undefined;
    }
    if (state.stale) {
      throw new StaleWatchError(
        `WATCH ${this.type.plural}: no event or bookmark for ${staleAfterMs} ms; reconnecting`,
      );
    }
  }

  private handleEvent(type: string, object: Record<string, unknown>): void {
    switch (type) {
      case "ADDED":
      case "MODIFIED": {
        const obj = this.prepare(object as StoredObject<T>);
        const key = objectKeyString(keyOf(obj));
        const old = this.store.get(key);
        this.store.set(key, obj);
        this.resourceVersion = obj.metadata.resourceVersion;
        if (old === undefined) this.emitAdd(obj);
        else this.emitUpdate(old, obj);
        return;
      }
      case "DELETED": {
        const obj = this.prepare(object as StoredObject<T>);
        const key = objectKeyString(keyOf(obj));
        this.store.delete(key);
        this.resourceVersion = obj.metadata.resourceVersion;
        this.emitDelete(obj);
        return;
      }
      case "BOOKMARK": {
        const rv = (object as KubeObject).metadata?.resourceVersion;
        if (typeof rv === "string" && rv !== "") this.resourceVersion = rv;
        return;
      }
      case "ERROR": {
        const status = object as { code?: unknown; reason?: unknown; message?: unknown };
        const message = `WATCH ${this.type.plural}: ${typeof status.message === "string" ? status.message : "error event"}`;
        if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") {
          throw new GoneError(message);
        }
        throw new TransientError(message);
      }
      default:
        this.options.logger.warn({ type }, "ignoring watch event of unknown type");
    }
  }

  private prepare(raw: StoredObject<T>): StoredObject<T> {
    // Watch events carry apiVersion/kind already; list items got them from KubeClient.
    const withType = { ...raw, apiVersion: this.type.apiVersion, kind: this.type.kind };
    const transform = this.options.transform ?? stripManagedFields;
    return deepFreeze(transform(withType) as StoredObject<T>);
  }

  private emitAdd(obj: StoredObject<T>): void {
    for (const h of this.handlers) this.call(h.onAdd, obj);
  }

  private emitUpdate(oldObj: StoredObject<T>, newObj: StoredObject<T>): void {
    for (const h of this.handlers) this.call2(h.onUpdate, oldObj, newObj);
  }

  private emitDelete(obj: StoredObject<T>): void {
    for (const h of this.handlers) this.call(h.onDelete, obj);
  }

  private call(fn: ((obj: StoredObject<T>) => void) | undefined, obj: StoredObject<T>): void {
    if (fn === undefined) return;
    try {
      fn(obj);
    } catch (err: unknown) {
      this.options.logger.error({ err: errorMessage(err) }, "informer handler threw; ignored");
    }
  }

  private call2(
    fn: ((a: StoredObject<T>, b: StoredObject<T>) => void) | undefined,
    a: StoredObject<T>,
    b: StoredObject<T>,
  ): void {
    if (fn === undefined) return;
    try {
      fn(a, b);
    } catch (err: unknown) {
      this.options.logger.error({ err: errorMessage(err) }, "informer handler threw; ignored");
    }
  }
}

/** The default transform: managedFields can be larger than the object itself. */
export function stripManagedFields(obj: StoredObject): StoredObject {
  if (obj.metadata.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Freezes a JSON value in place, recursively; returns it. */
export function deepFreeze<V>(value: V): V {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
