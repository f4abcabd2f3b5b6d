// Kubernetes Events (events.k8s.io/v1) for the transitions a user should see in
// `kubectl describe` / `kubectl events`: became Ready, stalled, published, rolled back.
//
// Repeats of the same event for the same object become one Event with a growing `series.count`
// (as client-go's events library does) instead of a new object per occurrence, so a retry loop
// cannot flood etcd. Recording never throws: an Event that cannot be written is logged and
// dropped — it must never fail a reconcile.
import type { Logger } from "pino";
import type { KubeClient } from "./client.js";
import { NotFoundError, errorMessage } from "./errors.js";
import { EventType, type KubeObject } from "./resources.js";
import { microTime } from "./time.js";

export type EventSeverity = "Normal" | "Warning";

export interface EventSpec {
  type: EventSeverity;
  /** PascalCase reason, e.g. `Published`, `InvalidTemplate`. */
  reason: string;
  /** What the controller did or failed to do, e.g. `Reconcile`, `Publish`, `Finalize`. */
  action: string;
  /** Human-readable message (truncated to the apiserver's 1 KiB limit). */
  note: string;
}

export interface EventRecorderOptions {
  client: KubeClient;
  logger: Logger;
  /** `reportingController`: a qualified name such as `llmops.dev/controller`. */
  controller: string;
  /** `reportingInstance`: this replica, e.g. the pod name. */
  instance: string;
  now: () => number;
  /** Repeats within this window extend the existing series (client-go uses 6 minutes). */
  seriesWindowMs?: number;
  /** Bound on remembered events, so memory stays flat with many objects. */
  cacheSize?: number;
}

interface RecordedEvent {
  namespace: string;
  name: string;
  count: number;
  lastObserved: number;
}

const maxNoteBytes = 1024;

export class EventRecorder {
  private readonly options: Required<EventRecorderOptions>;
  private readonly recent = new Map<string, RecordedEvent>();
  private sequence = 0;

  constructor(options: EventRecorderOptions) {
    this.options = { seriesWindowMs: 6 * 60_000, cacheSize: 4096, ...options };
  }

  /** Records an event about `regarding`. Resolves when written (or given up on); never rejects. */
  async record(regarding: KubeObject, spec: EventSpec): Promise<void> {
    const meta = regarding.metadata;
    if (meta?.name === undefined || regarding.kind === undefined) {
      this.options.logger.warn({ reason: spec.reason }, "event dropped: object has no kind/name");
      return;
    }
    const namespace = meta.namespace ?? "default";
    const note = truncateUtf8(spec.note, maxNoteBytes);
    const cacheKey = JSON.stringify([
      meta.uid ?? `${namespace}/${meta.name}`,
      spec.type,
      spec.reason,
      spec.action,
      note,
    ]);
    const now = this.options.now();
    try {
      const previous = this.recent.get(cacheKey);
      if (previous !== undefined && now - previous.lastObserved <= this.options.seriesWindowMs) {
        const extended = await this.extendSeries(previous, now);
        if (extended) return;
      }
      const name = `${meta.name}.${now.toString(16)}${(this.sequence++ % 0x10000).toString(16).padStart(4, "0")}`;
      await this.options.client.create(EventType, {
        metadata: { name, namespace },
        eventTime: microTime(now),
        reportingController: this.options.controller,
        reportingInstance: this.options.instance,
        action: spec.action,
        reason: spec.reason,
        note,
        type: spec.type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
      });
      this.remember(cacheKey, { namespace, name, count: 1, lastObserved: now });
    } catch (err: unknown) {
      this.options.logger.warn(
        { err: errorMessage(err), reason: spec.reason, object: `${namespace}/${meta.name}` },
        "could not record event",
      );
    }
  }

  /** Bumps `series` on the existing Event; false when it is gone (expired by its TTL). */
  private async extendSeries(previous: RecordedEvent, now: number): Promise<boolean> {
    const count = previous.count + 1;
    try {
      await this.options.client.mergePatch(
        EventType,
        { namespace: previous.namespace, name: previous.name },
        { series: { count, lastObservedTime: microTime(now) } },
      );
    } catch (err: unknown) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
    previous.count = count;
    previous.lastObserved = now;
    return true;
  }

  private remember(key: string, event: RecordedEvent): void {
    this.recent.delete(key);
    this.recent.set(key, event);
    if (this.recent.size > this.options.cacheSize) {
      // Maps iterate in insertion order: the first key is the least recently recorded.
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut, "utf8") > maxBytes - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}
