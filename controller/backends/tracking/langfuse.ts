// Langfuse tracking of an Experiment's model calls: one generation per call (model, input, output,
// usage, cost, timings) as the root observation of its own trace, marked as an experiment item of
// the variant's experiment and linked to its dataset item, plus one numeric score per evaluator.
//
// Routes (Langfuse v4; the v3 ingestion and dataset-run-item endpoints are deprecated on Langfuse
// Cloud and gone since 2026-11-16):
// - Traces, generations and experiment items: OpenTelemetry, `POST /api/public/otel/v1/traces`
//   (OTLP/HTTP JSON, Basic auth), through the official LangfuseSpanProcessor of @langfuse/otel on a
//   tracer provider private to the tracker (never registered globally). Span attributes are built
//   by @langfuse/tracing's own helpers and the `langfuse.*` names of @langfuse/core, the ones the
//   SDK's experiment runner sets: `langfuse.observation.*` for the generation, `langfuse.trace.*`
//   and `session.id` for the trace, `langfuse.experiment.*` (id, name, dataset id, item id,
//   expected output, root observation id) for the link to the dataset item, which replaces
//   dataset run items in v4. Our calls have already happened when we record them, so every span
//   gets the call's own start and end time.
// - Scores: `POST /api/public/scores` (`client.api.scores.create`, the v4 route), awaited one by
//   one so a refused score fails the call instead of being logged and lost as with the client's
//   ScoreManager.
// - Datasets and dataset items: the v2 dataset and dataset-item endpoints (not deprecated).
//
// Idempotency: Langfuse upserts observations by (trace id, span id) and scores by id, so all ids
// are derived from the run key and the call key (trace 32 hex, span 16 hex, score 32 hex): the
// tracer provider's IdGenerator hands out exactly the ids queued for the span being started, so a
// retry after a crash, even from a fresh process, rewrites the same observations and scores. The
// experiment id is derived from the run key and the variant. The dataset goes by name (looked up
// before it is created), its items by deterministic id (upserted only when missing or changed).
//
// Failures: the BatchSpanProcessor only logs a failed export, so the processor gets an exporter
// that wraps the OTLP exporter and records each batch's result; `recordCalls` flushes, then fails
// with a typed error (401/403 → LangfuseAuthError) when a batch failed or a span was not
// acknowledged. The OTLP exporter itself retries 429/502/503/504 with backoff within the timeout;
// other statuses (500, 413…) fail at once and are left to the queue's retry, which is safe by the
// ids above.
import type { LangfuseClient } from "@langfuse/client";
import {
  LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT,
  LANGFUSE_SDK_VERSION,
  LANGFUSE_TRACER_NAME,
  LangfuseOtelSpanAttributes as Attr,
} from "@langfuse/core";
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { createObservationAttributes } from "@langfuse/tracing";
import {
  type Attributes,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BasicTracerProvider,
  type IdGenerator,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { canonicalJson, contentHash } from "../../runtime/hash.js";
import { langfuseClient } from "../langfuse/client.js";
import {
  langfuseBaseUrl,
  langfuseRequestOptions,
  type LangfuseConnection,
} from "../langfuse/connection.js";
import {
  LangfuseNotFoundError,
  LangfuseRequestError,
  otlpExportError,
  toLangfuseError,
} from "../langfuse/errors.js";
import type { TrackedCall } from "./tracking.js";

export type { TrackedCall } from "./tracking.js";
export {
  LangfuseAuthError,
  LangfuseNotFoundError,
  LangfuseRequestError,
} from "../langfuse/errors.js";

/** The run the calls belong to. */
export interface TrackingSession {
  /** `namespace/name` of the Experiment. */
  experiment: string;
  /** Stable id of this run (experiment uid + run id); also the Langfuse session id. */
  runKey: string;
  /** The Langfuse dataset the experiment items belong to. */
  datasetName: string;
}

/** A dataset item to make present in Langfuse. */
export interface TrackedDatasetItem {
  id: string;
  input: unknown;
  expectedOutput?: unknown;
}

/** The Langfuse dataset item a call ran on: what the experiment attributes of its span name. */
export interface ExperimentItemLink {
  datasetId: string;
  /** The Langfuse item id. */
  itemId: string;
  expectedOutput: unknown;
  itemMetadata: unknown;
}

/** One score of a call, as sent to `POST /api/public/scores`. */
export interface CallScore {
  id: string;
  traceId: string;
  observationId: string;
  name: string;
  value: number;
  dataType: "NUMERIC";
  comment?: string;
  metadata: Record<string, unknown>;
  environment: string;
}

interface KnownItem {
  expectedOutput: unknown;
  metadata: unknown;
}

interface ListedItem extends KnownItem {
  input: unknown;
  status: string;
}

/** Parallel requests for dataset items and scores (one object per request in those APIs). */
const requestConcurrency = 8;
const pageSize = 100;
/** Spans per OTLP request. */
const spansPerExport = 100;
/** Calls started before each flush: below the BatchSpanProcessor's queue (2048), which drops what overflows. */
const callsPerFlush = 500;
const otelRoute = "POST /api/public/otel/v1/traces";

function hexId(length: number, ...parts: string[]): string {
  return contentHash(["llmops", ...parts])
    .replace(/^sha256:/, "")
    .slice(0, length);
}

/** Trace id of a call: 32 hex digits (the W3C/OTel trace-id form), from run key and call key. */
export function callTraceId(runKey: string, callKey: string): string {
  return hexId(32, "trace", runKey, callKey);
}

/** Span id of a call's generation, its trace's root observation: 16 hex digits. */
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

/** Name of the experiment (Langfuse v4's successor of a dataset run) of one variant in one run. */
export function experimentRunName(session: TrackingSession, variant: string): string {
  return `${session.experiment}/${variant}/${session.runKey}`;
}

/** Id of the experiment of one variant in one run: 16 hex digits, like the SDK runner's. */
export function experimentRunId(session: TrackingSession, variant: string): string {
  return hexId(16, "experiment", session.runKey, variant);
}

/** A JSON string for a non-string value, the string itself otherwise; undefined for null/undefined (as the SDK serializes). */
function serialized(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Metadata of a call's trace and generation. */
function callMetadata(session: TrackingSession, call: TrackedCall): Record<string, unknown> {
  const evaluatorErrors = Object.fromEntries(
    Object.entries(call.scores).flatMap(([name, s]) =>
      s.error === undefined ? [] : [[name, s.error]],
    ),
  );
  return {
    ...call.metadata,
    experiment: session.experiment,
    runKey: session.runKey,
    variant: call.variant,
    itemId: call.itemId,
    repetition: call.repetition,
    callKey: call.key,
    ...(Object.keys(evaluatorErrors).length > 0 ? { evaluatorErrors } : {}),
  };
}

/**
 * The attributes of a call's span: a generation (`langfuse.observation.*`), the trace it is the
 * root of (`langfuse.trace.*`, `session.id`; v4 takes the trace's input and output from its root
 * observation, so no deprecated `langfuse.trace.input/output`), and the experiment item it is
 * (`langfuse.experiment.*`).
 */
export function callSpanAttributes(
  session: TrackingSession,
  call: TrackedCall,
  link: ExperimentItemLink,
): Attributes {
  const metadata = callMetadata(session, call);
  const traceMetadata: Attributes = {};
  for (const [key, value] of Object.entries(metadata)) {
    const s = serialized(value);
    if (s !== undefined) traceMetadata[`${Attr.TRACE_METADATA}.${key}`] = s;
  }
  const experimentMetadata = {
    experiment: session.experiment,
    variant: call.variant,
    runKey: session.runKey,
  };
  const optional = (key: string, value: unknown): Attributes => {
    const s = serialized(value);
    return s === undefined ? {} : { [key]: s };
  };
  return {
    ...createObservationAttributes("generation", {
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
    }),
    [Attr.TRACE_NAME]: `${session.experiment}/${call.variant}`,
    [Attr.TRACE_SESSION_ID]: session.runKey,
    [Attr.TRACE_TAGS]: ["llmops", `variant:${call.variant}`],
    ...traceMetadata,
    [Attr.ENVIRONMENT]: LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT,
    [Attr.EXPERIMENT_ID]: experimentRunId(session, call.variant),
    [Attr.EXPERIMENT_NAME]: experimentRunName(session, call.variant),
    [Attr.EXPERIMENT_DESCRIPTION]: `llmops Experiment ${session.experiment}, variant ${call.variant}`,
    [Attr.EXPERIMENT_METADATA]: JSON.stringify(experimentMetadata),
    [Attr.EXPERIMENT_DATASET_ID]: link.datasetId,
    [Attr.EXPERIMENT_ITEM_ID]: link.itemId,
    ...optional(Attr.EXPERIMENT_ITEM_EXPECTED_OUTPUT, link.expectedOutput),
    ...optional(Attr.EXPERIMENT_ITEM_METADATA, link.itemMetadata),
    [Attr.EXPERIMENT_ITEM_ROOT_OBSERVATION_ID]: callGenerationId(session.runKey, call.key),
  };
}

/** The scores of a call: one per evaluator with a value, on the call's generation. */
export function callScores(session: TrackingSession, call: TrackedCall): CallScore[] {
  const traceId = callTraceId(session.runKey, call.key);
  const observationId = callGenerationId(session.runKey, call.key);
  return Object.entries(call.scores).flatMap(([name, s]) =>
    // A missing score is not a zero: leave it out (its error is in the trace metadata).
    s.score === null
      ? []
      : [
          {
            id: callScoreId(session.runKey, call.key, name),
            traceId,
            observationId,
            name,
            value: s.score,
            dataType: "NUMERIC" as const,
            ...(s.passed === null ? {} : { comment: s.passed ? "passed" : "failed" }),
            metadata: { passed: s.passed, variant: call.variant, experiment: session.experiment },
            environment: LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT,
          },
        ],
  );
}

/** Hands out the ids queued for the next span; a span started without queued ids is a bug, not a random id. */
export class QueuedIdGenerator implements IdGenerator {
  #next: { traceId: string; spanId: string } | undefined;

  /** Queues the ids of the span that is started next (synchronously). */
  queue(traceId: string, spanId: string): void {
    this.#next = { traceId, spanId };
  }

  generateTraceId(): string {
    return this.#take().traceId;
  }

  generateSpanId(): string {
    // The tracer asks for the span id first, then (root spans only, which all of ours are) the trace id.
    return this.#peek().spanId;
  }

  #peek(): { traceId: string; spanId: string } {
    const next = this.#next;
    if (next === undefined) throw new Error("QueuedIdGenerator: no ids queued for this span");
    return next;
  }

  #take(): { traceId: string; spanId: string } {
    const next = this.#peek();
    this.#next = undefined;
    return next;
  }
}

/** Wraps the OTLP exporter to keep what the BatchSpanProcessor only logs: which spans went out, and why a batch did not. */
class ObservedExporter implements SpanExporter {
  readonly acknowledged = new Set<string>();
  readonly failures: unknown[] = [];

  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        for (const span of spans) {
          const { traceId, spanId } = span.spanContext();
          this.acknowledged.add(`${traceId}/${spanId}`);
        }
      } else {
        this.failures.push(result.error ?? new Error("span export failed"));
      }
      resultCallback(result);
    });
  }

  reset(): void {
    this.acknowledged.clear();
    this.failures.length = 0;
  }

  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.inner.shutdown();
  }
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

/** Records experiment calls, scores and experiment items in Langfuse. */
export class LangfuseCallTracker {
  readonly #client: LangfuseClient;
  readonly #baseUrl: string;
  /** Per-request options of every client call (the timeout). */
  readonly #requestOptions: { timeoutInSeconds: number };
  readonly #ids = new QueuedIdGenerator();
  readonly #exporter: ObservedExporter;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  /** Langfuse items per dataset name (by Langfuse item id), as last seen; refreshed by ensureDataset. */
  readonly #items = new Map<string, Map<string, KnownItem>>();
  readonly #datasetIds = new Map<string, string>();
  #projectId: string | undefined;
  /** Exports run one at a time: the exporter's record of results is per export round. */
  #exporting: Promise<unknown> = Promise.resolve();

  constructor(options: LangfuseConnection) {
    this.#baseUrl = langfuseBaseUrl(options);
    this.#requestOptions = langfuseRequestOptions(options);
    this.#client = langfuseClient(options);
    // The exporter LangfuseSpanProcessor would build itself, wrapped so its results are seen.
    this.#exporter = new ObservedExporter(
      new OTLPTraceExporter({
        url: `${this.#baseUrl}/api/public/otel/v1/traces`,
        headers: {
          Authorization: `Basic ${Buffer.from(`${options.publicKey}:${options.secretKey}`).toString("base64")}`,
          "x-langfuse-sdk-name": "javascript",
          "x-langfuse-sdk-version": LANGFUSE_SDK_VERSION,
          "x-langfuse-public-key": options.publicKey,
        },
        timeoutMillis: this.#requestOptions.timeoutInSeconds * 1000,
      }),
    );
    const processor = new LangfuseSpanProcessor({
      exporter: this.#exporter,
      baseUrl: this.#baseUrl,
      publicKey: options.publicKey,
      secretKey: options.secretKey,
      exportMode: "batched",
      flushAt: spansPerExport,
      environment: LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT,
      mediaUploadEnabled: false,
      // Every span of this private provider is ours.
      shouldExportSpan: () => true,
    });
    this.#provider = new BasicTracerProvider({
      idGenerator: this.#ids,
      spanProcessors: [processor],
      // Metadata is flattened into one attribute per key; the default limit of 128 would drop some silently.
      spanLimits: { attributeCountLimit: 1024 },
    });
    this.#tracer = this.#provider.getTracer(LANGFUSE_TRACER_NAME, LANGFUSE_SDK_VERSION);
  }

  /** Creates the dataset when missing and upserts the items that are not in it yet (or changed), with deterministic ids. */
  async ensureDataset(datasetName: string, items: readonly TrackedDatasetItem[]): Promise<void> {
    let dataset = await this.#findDataset(datasetName);
    const existing =
      dataset === undefined ? new Map<string, ListedItem>() : await this.#listItems(datasetName);
    if (dataset === undefined) {
      dataset = await this.#request(
        `POST /api/public/v2/datasets`,
        `creating dataset "${datasetName}"`,
        () =>
          this.#client.api.datasets.create(
            {
              name: datasetName,
              description: "Evaluation dataset of an llmops Experiment",
              metadata: { managedBy: "llmops" },
            },
            this.#options(),
          ),
      );
      this.#datasetIds.set(datasetName, dataset.id);
    }
    const known = new Map<string, KnownItem>(
      [...existing].map(([id, i]) => [
        id,
        { expectedOutput: i.expectedOutput, metadata: i.metadata },
      ]),
    );
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
      known.set(id, {
        expectedOutput: item.expectedOutput ?? null,
        metadata: { llmopsItemId: item.id },
      });
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
    this.#items.set(datasetName, known);
  }

  /** Writes each call as a generation span (an experiment item of its variant, linked to its dataset item) and its scores. Idempotent. */
  async recordCalls(session: TrackingSession, calls: readonly TrackedCall[]): Promise<void> {
    if (calls.length === 0) return;
    const links = await this.#links(session, calls);
    const exported = this.#exporting.then(() => this.#exportSpans(session, calls, links));
    this.#exporting = exported.catch(() => undefined);
    await exported;
    const scores = calls.flatMap((call) => callScores(session, call));
    await eachLimited(scores, requestConcurrency, async (score) => {
      await this.#request(
        "POST /api/public/scores",
        `writing score "${score.name}" of trace ${score.traceId}`,
        // Scores upsert by id, so the client's retries (5xx, 429) cannot duplicate one.
        () => this.#client.api.scores.create(score, this.#options()),
      );
    });
  }

  /** Browser URL of the dataset's page, where each variant's experiment and its scores are listed. */
  async url(session: TrackingSession): Promise<string> {
    const projectId = await this.#project();
    const dataset = await this.#findDataset(session.datasetName);
    if (dataset === undefined) return `${this.#baseUrl}/project/${projectId}/datasets`;
    return `${this.#baseUrl}/project/${projectId}/datasets/${encodeURIComponent(dataset.id)}`;
  }

  /** Flushes what is still queued and stops the exporter and the client. */
  async shutdown(): Promise<void> {
    await this.#exporting;
    await this.#provider.shutdown();
    await this.#client.shutdown();
  }

  async #exportSpans(
    session: TrackingSession,
    calls: readonly TrackedCall[],
    links: readonly ExperimentItemLink[],
  ): Promise<void> {
    for (let start = 0; start < calls.length; start += callsPerFlush) {
      this.#exporter.reset();
      const expected: string[] = [];
      for (let i = start; i < Math.min(start + callsPerFlush, calls.length); i++) {
        const call = calls[i] as TrackedCall;
        const traceId = callTraceId(session.runKey, call.key);
        const spanId = callGenerationId(session.runKey, call.key);
        this.#ids.queue(traceId, spanId);
        const span = this.#tracer.startSpan(
          "model-call",
          {
            root: true,
            kind: SpanKind.CLIENT,
            startTime: call.startTime,
            attributes: callSpanAttributes(session, call, links[i] as ExperimentItemLink),
          },
          ROOT_CONTEXT,
        );
        if (call.error !== undefined) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: call.error });
        }
        span.end(call.endTime);
        expected.push(`${traceId}/${spanId}`);
      }
      // The BatchSpanProcessor rejects a flush whose export failed (the provider collects those
      // rejections into an array); the exporter's own record says why, the rejection is the fallback.
      const flushFailure = await this.#provider.forceFlush().then(
        () => undefined,
        (err: unknown) => (Array.isArray(err) ? (err[0] as unknown) : err) ?? "flush failed",
      );
      const failure = this.#exporter.failures[0] ?? flushFailure;
      if (failure !== undefined) {
        throw otlpExportError(failure, {
          request: otelRoute,
          what: `exporting ${String(expected.length)} generation spans`,
          baseUrl: this.#baseUrl,
        });
      }
      const missing = expected.filter((id) => !this.#exporter.acknowledged.has(id));
      if (missing.length > 0) {
        throw new LangfuseRequestError(
          `Langfuse at ${this.#baseUrl}: ${String(missing.length)} of ${String(expected.length)} generation spans ` +
            `were not exported (first: ${missing[0] ?? ""})`,
          otelRoute,
          null,
        );
      }
    }
  }

  /** The dataset item of each call, in call order. */
  async #links(
    session: TrackingSession,
    calls: readonly TrackedCall[],
  ): Promise<ExperimentItemLink[]> {
    const datasetId = await this.#datasetId(session.datasetName);
    const items = await this.#knownItems(
      session.datasetName,
      calls.map((c) => c.itemId),
    );
    return calls.map((call) => {
      const itemId = items.has(call.itemId)
        ? call.itemId
        : datasetItemId(session.datasetName, call.itemId);
      const item = items.get(itemId);
      if (item === undefined) {
        throw new LangfuseNotFoundError(
          `call ${call.key}: item "${call.itemId}" is not in Langfuse dataset "${session.datasetName}"; ` +
            `pass it to ensureDataset first`,
          "GET /api/public/dataset-items",
          null,
        );
      }
      return {
        datasetId,
        itemId,
        expectedOutput: item.expectedOutput,
        itemMetadata: item.metadata,
      };
    });
  }

  #options(): { timeoutInSeconds: number } {
    return this.#requestOptions;
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
      const dataset = await this.#request(
        `GET /api/public/v2/datasets/{name}`,
        `reading dataset "${name}"`,
        () => this.#client.api.datasets.get(name, this.#options()),
      );
      this.#datasetIds.set(name, dataset.id);
      return dataset;
    } catch (err: unknown) {
      if (err instanceof LangfuseNotFoundError) return undefined;
      throw err;
    }
  }

  async #datasetId(name: string): Promise<string> {
    const cached = this.#datasetIds.get(name);
    if (cached !== undefined) return cached;
    const dataset = await this.#findDataset(name);
    if (dataset === undefined) {
      throw new LangfuseNotFoundError(
        `Langfuse dataset "${name}" does not exist at ${this.#baseUrl}; ` +
          `ensureDataset must run before recordCalls`,
        "GET /api/public/v2/datasets/{name}",
        404,
      );
    }
    return dataset.id;
  }

  async #listItems(datasetName: string): Promise<Map<string, ListedItem>> {
    const items = new Map<string, ListedItem>();
    for (let page = 1; ; page++) {
      const res = await this.#request(
        "GET /api/public/dataset-items",
        `listing items of dataset "${datasetName}" (page ${String(page)})`,
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
          metadata: item.metadata,
          status: item.status,
        });
      }
      if (page >= res.meta.totalPages || res.data.length === 0) return items;
    }
  }

  /** Items of the dataset, from the cache while it knows every id asked for, else listed again. */
  async #knownItems(
    datasetName: string,
    wanted: readonly string[],
  ): Promise<Map<string, KnownItem>> {
    const cached = this.#items.get(datasetName);
    const covers = (known: Map<string, KnownItem>): boolean =>
      wanted.every((id) => known.has(id) || known.has(datasetItemId(datasetName, id)));
    if (cached !== undefined && covers(cached)) return cached;
    const listed = new Map<string, KnownItem>(
      [...(await this.#listItems(datasetName))]
        .filter(([, i]) => i.status === "ACTIVE")
        .map(([id, i]) => [id, { expectedOutput: i.expectedOutput, metadata: i.metadata }]),
    );
    this.#items.set(datasetName, listed);
    return listed;
  }
}
