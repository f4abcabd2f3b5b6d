// Langfuse tracking of an Experiment's model calls through the official @langfuse/client: one trace
// and one generation per call (model, input, output, usage, cost, timings), one numeric score per
// evaluator, and a dataset run per variant whose run items link each trace to its dataset item.
//
// Route: the public REST API through `client.api` (ingestion batch, datasets, dataset items,
// dataset run items), not OpenTelemetry. Our calls have already happened when we record them (the
// evaluation runner paid for them earlier), so what we need is a replayable write, not live spans:
// - Ingestion events upsert by body id, so deterministic ids (a hash of the run key and the call's
//   key) make a retry after a crash rewrite the same trace, generation and scores instead of adding
//   new ones. With OTel the span ids come from the tracer provider's id generator and the
//   exporter's batching hides per-span failures; both would need custom plumbing to get the same.
// - The ingestion answer is a 207 with per-event errors, which we turn into an error; the client's
//   own ScoreManager only logs those, and the OTel exporter reports nothing per span.
// - No tracer provider, no global state: one LangfuseClient per tracker, everything passed in.
// Langfuse marks the ingestion and dataset-run-item endpoints deprecated for Langfuse Cloud v4
// (removal announced for 2026-11-16; self-hosted v3 keeps them). When that lands, this file moves
// to the OTel endpoint with a seeded id generator; the TrackedCall interface stays.
//
// Idempotency per object: traces, generations and scores by deterministic id (upsert); the dataset
// by name (looked up before it is created); dataset items by deterministic id (upsert, and only
// when missing or changed); dataset run items, which Langfuse always creates with a fresh id, by
// listing the run's items first and creating only (item, trace) pairs not linked yet, without
// client-side retries so an attempt that landed is never repeated blindly.
import { randomUUID } from "node:crypto";
import { LangfuseClient } from "@langfuse/client";
import { canonicalJson, contentHash } from "../../runtime/hash.js";
import {
  type IngestionFailure,
  LangfuseIngestionError,
  LangfuseNotFoundError,
  LangfuseRequestError,
  toLangfuseError,
} from "./langfuse-errors.js";

export {
  LangfuseAuthError,
  LangfuseIngestionError,
  LangfuseNotFoundError,
  LangfuseRequestError,
} from "./langfuse-errors.js";

/** Where and as whom to write. */
export interface LangfuseConnection {
  baseUrl: string;
  publicKey: string;
  secretKey: string;
  /** Per-request timeout in seconds; default 30. */
  timeoutSeconds?: number;
}

/** One model call of an experiment run, as it is recorded. */
export interface TrackedCall {
  /** Idempotency key of the call within the run, e.g. `control/item-7/0`. */
  key: string;
  variant: string;
  /** The dataset item's id (a Langfuse item id when the dataset came from Langfuse). */
  itemId: string;
  repetition: number;
  model: string;
  /** The rendered chat messages sent to the model. */
  input: { role: string; content: string }[];
  output: string | null;
  error?: string;
  startTime: Date;
  endTime: Date;
  usage?: { inputTokens: number; outputTokens: number };
  costUSD: number | null;
  /** By evaluator name; a null score (evaluator failed or not applicable) is not recorded as a score. */
  scores: Record<string, { score: number | null; passed: boolean | null; error?: string }>;
  /** Prompt name, prompt version, content hash, experiment, run id… (trace and generation metadata). */
  metadata: Record<string, string>;
}

/** The run the calls belong to. */
export interface TrackingSession {
  /** `namespace/name` of the Experiment. */
  experiment: string;
  /** Stable id of this run (experiment uid + run id); also the Langfuse session id. */
  runKey: string;
  /** The Langfuse dataset the run items belong to. */
  datasetName: string;
}

/** A dataset item to make present in Langfuse. */
export interface TrackedDatasetItem {
  id: string;
  input: unknown;
  expectedOutput?: unknown;
}

type IngestionRequest = Parameters<LangfuseClient["api"]["ingestion"]["batch"]>[0];
type IngestionEvent = IngestionRequest["batch"][number];

/** Langfuse accepts ingestion batches up to 3.5 MB; stay well below it. */
const maxBatchBytes = 3_000_000;
/** Parallel requests for dataset items and run items (one object per request in that API). */
const requestConcurrency = 8;
const pageSize = 100;

function hexId(length: number, ...parts: string[]): string {
  return contentHash(["llmops", ...parts])
    .replace(/^sha256:/, "")
    .slice(0, length);
}

/** Trace id of a call: 32 hex digits (the W3C/OTel trace-id form Langfuse uses), from run key and call key. */
export function callTraceId(runKey: string, callKey: string): string {
  return hexId(32, "trace", runKey, callKey);
}

/** Generation (observation) id of a call: 16 hex digits, the OTel span-id form. */
export function callGenerationId(runKey: string, callKey: string): string {
  return hexId(16, "generation", runKey, callKey);
}

/** Score id of one evaluator's score of a call. */
export function callScoreId(runKey: string, callKey: string, evaluator: string): string {
  return hexId(32, "score", runKey, callKey, evaluator);
}

/** Langfuse id of an llmops dataset item; item ids are unique per Langfuse project, so the dataset name is part of it. */
export function datasetItemId(datasetName: string, itemId: string): string {
  return `llmops-${hexId(32, "dataset-item", datasetName, itemId)}`;
}

/** The dataset run of one variant in one experiment run. */
export function datasetRunName(session: TrackingSession, variant: string): string {
  return `${session.experiment}/${variant}/${session.runKey}`;
}

/** Splits events into batches whose JSON stays under `maxBytes` (an oversized event goes alone). */
export function chunkEvents<T>(events: readonly T[], maxBytes: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const event of events) {
    const bytes = Buffer.byteLength(JSON.stringify(event)) + 1;
    if (current.length > 0 && size + bytes > maxBytes) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(event);
    size += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The ingestion events for one call: trace, generation, and a score per evaluator with a value. */
export function callEvents(
  session: TrackingSession,
  call: TrackedCall,
  newEventId: () => string = randomUUID,
): IngestionEvent[] {
  const traceId = callTraceId(session.runKey, call.key);
  const generationId = callGenerationId(session.runKey, call.key);
  const timestamp = call.endTime.toISOString();
  const evaluatorErrors = Object.fromEntries(
    Object.entries(call.scores).flatMap(([name, s]) =>
      s.error === undefined ? [] : [[name, s.error]],
    ),
  );
  const metadata = {
    ...call.metadata,
    experiment: session.experiment,
    runKey: session.runKey,
    variant: call.variant,
    itemId: call.itemId,
    repetition: call.repetition,
    callKey: call.key,
    ...(Object.keys(evaluatorErrors).length > 0 ? { evaluatorErrors } : {}),
  };
  const events: IngestionEvent[] = [
    {
      type: "trace-create",
      id: newEventId(),
      timestamp,
      body: {
        id: traceId,
        timestamp: call.startTime.toISOString(),
        name: `${session.experiment}/${call.variant}`,
        sessionId: session.runKey,
        input: call.input,
        output: call.output,
        metadata,
        tags: ["llmops", `variant:${call.variant}`],
      },
    },
    {
      type: "generation-create",
      id: newEventId(),
      timestamp,
      body: {
        id: generationId,
        traceId,
        name: "model-call",
        startTime: call.startTime.toISOString(),
        endTime: call.endTime.toISOString(),
        model: call.model,
        input: call.input,
        output: call.output,
        metadata,
        ...(call.error === undefined ? {} : { level: "ERROR" as const, statusMessage: call.error }),
        ...(call.usage === undefined
          ? {}
          : {
              usageDetails: {
                input: call.usage.inputTokens,
                output: call.usage.outputTokens,
                total: call.usage.inputTokens + call.usage.outputTokens,
              },
            }),
        ...(call.costUSD === null ? {} : { costDetails: { total: call.costUSD } }),
      },
    },
  ];
  for (const [name, s] of Object.entries(call.scores)) {
    // A missing score is not a zero: leave it out (its error is in the trace metadata).
    if (s.score === null) continue;
    events.push({
      type: "score-create",
      id: newEventId(),
      timestamp,
      body: {
        id: callScoreId(session.runKey, call.key, name),
        traceId,
        name,
        value: s.score,
        dataType: "NUMERIC",
        ...(s.passed === null ? {} : { comment: s.passed ? "passed" : "failed" }),
        metadata: { passed: s.passed, variant: call.variant, experiment: session.experiment },
      },
    });
  }
  return events;
}

async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Records experiment calls, scores and dataset runs in Langfuse. */
export class LangfuseCallTracker {
  readonly #client: LangfuseClient;
  readonly #baseUrl: string;
  readonly #timeoutSeconds: number;
  /** Langfuse item ids per dataset name, as last seen; refreshed by ensureDataset. */
  readonly #itemIds = new Map<string, Set<string>>();
  #projectId: string | undefined;

  constructor(options: LangfuseConnection) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#timeoutSeconds = options.timeoutSeconds ?? 30;
    this.#client = new LangfuseClient({
      baseUrl: this.#baseUrl,
      publicKey: options.publicKey,
      secretKey: options.secretKey,
      timeout: this.#timeoutSeconds,
    });
  }

  /** Creates the dataset when missing and upserts the items that are not in it yet (or changed), with deterministic ids. */
  async ensureDataset(datasetName: string, items: readonly TrackedDatasetItem[]): Promise<void> {
    const dataset = await this.#findDataset(datasetName);
    if (dataset === undefined) {
      await this.#request(`POST /api/public/v2/datasets`, `creating dataset "${datasetName}"`, () =>
        this.#client.api.datasets.create(
          {
            name: datasetName,
            description: "Evaluation dataset of an llmops Experiment",
            metadata: { managedBy: "llmops" },
          },
          this.#options(),
        ),
      );
    }
    const existing =
      dataset === undefined
        ? new Map<string, { input: unknown; expectedOutput: unknown; status: string }>()
        : await this.#listItems(datasetName);
    const present = new Set(existing.keys());
    const writes: { id: string; item: TrackedDatasetItem }[] = [];
    for (const item of items) {
      // An item that came from this Langfuse dataset keeps its own id and content.
      if (existing.has(item.id)) continue;
      const id = datasetItemId(datasetName, item.id);
      const found = existing.get(id);
      const same =
        found !== undefined &&
        found.status === "ACTIVE" &&
        canonicalJson(found.input) === canonicalJson(item.input) &&
        canonicalJson(found.expectedOutput ?? null) === canonicalJson(item.expectedOutput ?? null);
      if (!same) writes.push({ id, item });
      present.add(id);
    }
    await eachLimited(writes, requestConcurrency, async ({ id, item }) => {
      await this.#request(
        "POST /api/public/dataset-items",
        `upserting item "${item.id}" of dataset "${datasetName}"`,
        () =>
          this.#client.api.datasetItems.create(
            {
              datasetName,
              id,
              input: item.input,
              expectedOutput: item.expectedOutput ?? null,
              metadata: { llmopsItemId: item.id },
              status: "ACTIVE",
            },
            this.#options(),
          ),
      );
    });
    this.#itemIds.set(datasetName, present);
  }

  /** Writes a trace, a generation and the scores of every call, then links each trace to its dataset item in the variant's dataset run. Idempotent. */
  async recordCalls(session: TrackingSession, calls: readonly TrackedCall[]): Promise<void> {
    if (calls.length === 0) return;
    await this.#ingest(calls.flatMap((call) => callEvents(session, call)));
    await this.#linkRunItems(session, calls);
  }

  /** Browser URL of the dataset's page, where each variant's run and its scores are listed. */
  async url(session: TrackingSession): Promise<string> {
    const projectId = await this.#project();
    const dataset = await this.#findDataset(session.datasetName);
    if (dataset === undefined) return `${this.#baseUrl}/project/${projectId}/datasets`;
    return `${this.#baseUrl}/project/${projectId}/datasets/${encodeURIComponent(dataset.id)}`;
  }

  /** Flushes what the client still queues and stops it. */
  async shutdown(): Promise<void> {
    await this.#client.shutdown();
  }

  #options(extra: { maxRetries?: number } = {}): { timeoutInSeconds: number; maxRetries?: number } {
    return { timeoutInSeconds: this.#timeoutSeconds, ...extra };
  }

  async #request<T>(request: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err: unknown) {
      throw toLangfuseError(err, { request, what, baseUrl: this.#baseUrl });
    }
  }

  async #project(): Promise<string> {
    if (this.#projectId !== undefined) return this.#projectId;
    const projects = await this.#request(
      "GET /api/public/projects",
      "finding the project of the API keys",
      () => this.#client.api.projects.get(this.#options()),
    );
    const id = projects.data[0]?.id;
    if (id === undefined) {
      throw new LangfuseRequestError(
        `Langfuse at ${this.#baseUrl} listed no project for the API keys`,
        "GET /api/public/projects",
        200,
      );
    }
    this.#projectId = id;
    return id;
  }

  async #findDataset(name: string): Promise<{ id: string } | undefined> {
    try {
      return await this.#request(
        `GET /api/public/v2/datasets/{name}`,
        `reading dataset "${name}"`,
        () => this.#client.api.datasets.get(name, this.#options()),
      );
    } catch (err: unknown) {
      if (err instanceof LangfuseNotFoundError) return undefined;
      throw err;
    }
  }

  async #listItems(
    datasetName: string,
  ): Promise<Map<string, { input: unknown; expectedOutput: unknown; status: string }>> {
    const items = new Map<string, { input: unknown; expectedOutput: unknown; status: string }>();
    for (let page = 1; ; page++) {
      const res = await this.#request(
        "GET /api/public/dataset-items",
        `listing items of dataset "${datasetName}" (page ${page})`,
        () =>
          this.#client.api.datasetItems.list(
            { datasetName, page, limit: pageSize },
            this.#options(),
          ),
      );
      for (const item of res.data) {
        items.set(item.id, {
          input: item.input,
          expectedOutput: item.expectedOutput,
          status: item.status,
        });
      }
      if (page >= res.meta.totalPages || res.data.length === 0) return items;
    }
  }

  async #ingest(events: readonly IngestionEvent[]): Promise<void> {
    const sent = new Map(events.map((e) => [e.id, e]));
    const failures: IngestionFailure[] = [];
    for (const batch of chunkEvents(events, maxBatchBytes)) {
      // Bodies upsert by id, so the client's retries (5xx, 429) cannot duplicate anything.
      const res = await this.#request(
        "POST /api/public/ingestion",
        `sending ${batch.length} trace, generation and score events`,
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- v3 REST route chosen on purpose, see the header
        () => this.#client.api.ingestion.batch({ batch }, this.#options()),
      );
      for (const e of res.errors) {
        const event = sent.get(e.id);
        const detail =
          e.message ?? (typeof e.error === "string" ? e.error : JSON.stringify(e.error ?? null));
        failures.push({
          eventId: e.id,
          type: event?.type ?? null,
          bodyId: (event?.body as { id?: string } | undefined)?.id ?? null,
          status: e.status,
          message: detail,
        });
      }
    }
    if (failures.length > 0) {
      const shown = failures
        .slice(0, 3)
        .map(
          (f) => `${f.type ?? "event"} ${f.bodyId ?? f.eventId}: ${String(f.status)} ${f.message}`,
        )
        .join("; ");
      const more = failures.length > 3 ? ` (and ${failures.length - 3} more)` : "";
      throw new LangfuseIngestionError(
        `Langfuse at ${this.#baseUrl} rejected ${failures.length} of ${events.length} ingestion events: ${shown}${more}`,
        failures,
      );
    }
  }

  async #linkRunItems(session: TrackingSession, calls: readonly TrackedCall[]): Promise<void> {
    const dataset = await this.#findDataset(session.datasetName);
    if (dataset === undefined) {
      throw new LangfuseNotFoundError(
        `Langfuse dataset "${session.datasetName}" does not exist at ${this.#baseUrl}; ` +
          `ensureDataset must run before recordCalls`,
        "GET /api/public/v2/datasets/{name}",
        404,
      );
    }
    const itemIds = await this.#knownItemIds(
      session.datasetName,
      calls.map((c) => c.itemId),
    );
    const byVariant = new Map<string, TrackedCall[]>();
    for (const call of calls) {
      const list = byVariant.get(call.variant);
      if (list === undefined) byVariant.set(call.variant, [call]);
      else list.push(call);
    }

    for (const [variant, variantCalls] of byVariant) {
      const runName = datasetRunName(session, variant);
      const linked = await this.#linkedPairs(dataset.id, runName);
      const missing = variantCalls
        .map((call) => {
          const langfuseItemId = itemIds.has(call.itemId)
            ? call.itemId
            : datasetItemId(session.datasetName, call.itemId);
          if (!itemIds.has(langfuseItemId)) {
            throw new LangfuseNotFoundError(
              `call ${call.key}: item "${call.itemId}" is not in Langfuse dataset "${session.datasetName}"; ` +
                `pass it to ensureDataset first`,
              "POST /api/public/dataset-run-items",
              null,
            );
          }
          return { call, langfuseItemId, traceId: callTraceId(session.runKey, call.key) };
        })
        .filter((r) => !linked.has(`${r.langfuseItemId}\u0000${r.traceId}`));
      const link = async ({ call, langfuseItemId, traceId }: (typeof missing)[number]) => {
        await this.#request(
          "POST /api/public/dataset-run-items",
          `linking call ${call.key} to dataset run "${runName}"`,
          () =>
            // eslint-disable-next-line @typescript-eslint/no-deprecated -- v3 REST route chosen on purpose, see the header
            this.#client.api.datasetRunItems.create(
              {
                runName,
                runDescription: `llmops Experiment ${session.experiment}, variant ${variant}`,
                metadata: { experiment: session.experiment, variant, runKey: session.runKey },
                datasetItemId: langfuseItemId,
                traceId,
              },
              // Not retried by the client: Langfuse mints a new run item per request, so a retried
              // request whose first attempt landed would link the call twice. The queue retries,
              // and the listing above runs first.
              this.#options({ maxRetries: 0 }),
            ),
        );
      };
      // Langfuse creates the run with its first item; a burst of parallel first items could race
      // on the run's unique name, so a new run gets one item alone before the rest go in parallel.
      const [first, ...rest] = linked.size === 0 ? missing : [];
      if (first !== undefined) await link(first);
      await eachLimited(linked.size === 0 ? rest : missing, requestConcurrency, link);
    }
  }

  /** Item ids of the dataset, from the cache while it knows every id asked for, else listed again. */
  async #knownItemIds(datasetName: string, wanted: readonly string[]): Promise<Set<string>> {
    const cached = this.#itemIds.get(datasetName);
    const covers = (ids: Set<string>): boolean =>
      wanted.every((id) => ids.has(id) || ids.has(datasetItemId(datasetName, id)));
    if (cached !== undefined && covers(cached)) return cached;
    const listed = new Set((await this.#listItems(datasetName)).keys());
    this.#itemIds.set(datasetName, listed);
    return listed;
  }

  /** `itemId\0traceId` of the run items already in the dataset run (none when the run does not exist yet). */
  async #linkedPairs(datasetId: string, runName: string): Promise<Set<string>> {
    const pairs = new Set<string>();
    for (let page = 1; ; page++) {
      let res;
      try {
        res = await this.#request(
          "GET /api/public/dataset-run-items",
          `listing items of dataset run "${runName}" (page ${page})`,
          () =>
            // eslint-disable-next-line @typescript-eslint/no-deprecated -- v3 REST route chosen on purpose, see the header
            this.#client.api.datasetRunItems.list(
              { datasetId, runName, page, limit: pageSize },
              this.#options(),
            ),
        );
      } catch (err: unknown) {
        if (err instanceof LangfuseNotFoundError && page === 1) return pairs;
        throw err;
      }
      for (const item of res.data) pairs.add(`${item.datasetItemId}\u0000${item.traceId}`);
      if (page >= res.meta.totalPages || res.data.length === 0) return pairs;
    }
  }
}
