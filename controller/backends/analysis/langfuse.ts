// A `langfuse` analysis metric: the mean of score `scoreName` over the last `window` (default 5m,
// as the CRD says) of scores on traces tagged with the canary's revision name, read through the
// official @langfuse/client in two steps, on the routes Langfuse v4 serves (its migration guide,
// https://langfuse.com/faq/all/deprecated-api-migration, replaces GET /api/public/v2/scores, and
// with it the old traceTags filter, by GET /api/public/v3/scores, which filters by trace id only):
//
// 1. the canary's traces: GET /api/public/v2/observations with a `filter` on traceTags ("any of"
//    the revision) and startTime, cursor by cursor, newest first; only `core` fields (traceId).
//    A score lands after its trace (an evaluator or user feedback runs later), so traces that
//    started up to one more window before the scores' window are looked at too.
// 2. their scores: GET /api/public/v3/scores with name, traceId (a comma-separated batch of ids),
//    fromTimestamp (inclusive) and toTimestamp (exclusive), cursor by cursor.
//
// The application tags its traces with the revision that served them (the revision name is what
// the canary's pods know as their identity); NUMERIC and BOOLEAN (true/false, or 0/1) scores are
// averaged, categorical and text scores have no mean and are left out. No score in the window is
// an error (nothing to judge yet), never a failure.
//
// Bounds keep the number of requests of a measurement small and fixed: at most 50 observation
// pages and `maxTraces` (default 1000) of the newest traces (both listings are read in the order
// Langfuse returns them, newest first), asked about in batches of 100 ids (a URL stays a few KB),
// and of their scores at most `maxScores` (default 2000) of the newest are averaged; a busy
// canary's mean over a few thousand recent scores is as good as over all of them. Each request is
// tried once (no client-side retries): the analysis itself tolerates errors up to
// consecutiveErrorLimit.
//
// Self-hosted Langfuse v3 serves neither route (the observations API v2 needs v4): it answers 404,
// and the error says so.
import { langfuseBaseUrl, langfuseRequestOptions } from "../langfuse/connection.js";
import { LangfuseNotFoundError, toLangfuseError } from "../langfuse/errors.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { errorMessage } from "../../kube/errors.js";
import { parseDuration } from "../../runtime/duration.js";
import type { LangfuseClient } from "@langfuse/client";
import type { ScoreV3 } from "@langfuse/core";
import type {
  AnalysisMetric,
  AnalysisProvider,
  Measurement,
  MeasurementContext,
} from "./provider.js";

export interface LangfuseAnalysisOptions {
  /** Per-request timeout in seconds; default 30 (defaultLangfuseTimeoutSeconds). */
  timeoutSeconds?: number;
  /** Newest scores averaged at most; default 2000. */
  maxScores?: number;
  /** Scores per page; default 100, Langfuse's largest. */
  pageSize?: number;
  /** Newest canary traces whose scores are read at most; default 1000. */
  maxTraces?: number;
  /** Observations per page when finding the traces; default 1000, Langfuse's largest. */
  tracePageSize?: number;
}

/** The CRD's default for langfuse.window. */
export const defaultLangfuseWindow = "5m";
export const defaultMaxLangfuseScores = 2000;
export const defaultMaxLangfuseTraces = 1000;
/** Trace ids per score request: 100 ids of 32 hex digits keep the URL under 4 KB. */
const traceIdsPerRequest = 100;

/** The provider for `metric.langfuse`. */
export function langfuseProvider(options: LangfuseAnalysisOptions = {}): AnalysisProvider {
  return { measure: (metric, context) => measureLangfuse(metric, context, options) };
}

/** One score as GET /api/public/v3/scores lists it (the fields used here). */
export interface ListedScore {
  dataType?: string;
  value?: unknown;
}

/**
 * The mean of the numeric scores in `scores` (NUMERIC values, BOOLEAN true/false or 0/1); an
 * error when there is none. `what` names the query for the message. Pure.
 */
export function scoreMean(scores: readonly ListedScore[], what: string): Measurement {
  let sum = 0;
  let count = 0;
  const other = new Set<string>();
  for (const score of scores) {
    const type = score.dataType ?? "NUMERIC";
    // v3 lists a BOOLEAN score's value as a boolean; older servers as 0/1.
    const value = typeof score.value === "boolean" ? Number(score.value) : score.value;
    if ((type === "NUMERIC" || type === "BOOLEAN") && typeof value === "number") {
      if (!Number.isFinite(value)) continue;
      sum += value;
      count += 1;
    } else {
      other.add(type);
    }
  }
  if (count === 0) {
    return {
      ok: false,
      error:
        other.size === 0
          ? `no scores ${what}`
          : `no numeric scores ${what} (only ${[...other].sort().join(", ")}, which have no mean)`,
    };
  }
  return { ok: true, value: sum / count };
}

/** The window [from, to) that ends at `now`, as the ISO timestamps the API takes. Pure. */
export function scoreWindow(now: number, window: string): { from: string; to: string } {
  return {
    from: new Date(now - parseDuration(window)).toISOString(),
    to: new Date(now).toISOString(),
  };
}

/**
 * The `filter` of GET /api/public/v2/observations for observations of traces tagged `revision`
 * that started in [from, to). Pure.
 */
export function canaryObservationsFilter(revision: string, from: string, to: string): string {
  return JSON.stringify([
    { type: "arrayOptions", column: "traceTags", operator: "any of", value: [revision] },
    { type: "datetime", column: "startTime", operator: ">=", value: from },
    { type: "datetime", column: "startTime", operator: "<", value: to },
  ]);
}

/** `items` in chunks of `size`. Pure. */
export function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** The newest `max` of `scores` (ISO timestamps), newest first. Pure. */
export function newestScores<S extends { timestamp: string }>(
  scores: readonly S[],
  max: number,
): S[] {
  return [...scores]
    .sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp))
    .slice(0, max);
}

/** What every request of one measurement shares. */
interface Reads {
  client: LangfuseClient;
  requestOptions: { timeoutInSeconds: number; maxRetries: number; abortSignal?: AbortSignal };
  baseUrl: string;
  signal: AbortSignal | undefined;
}

type Step<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Observation pages read at most while finding the traces: a trace has many observations, and a
 * server that keeps handing out cursors must not keep a measurement going.
 */
const maxTracePages = 50;

async function measureLangfuse(
  metric: AnalysisMetric,
  context: MeasurementContext,
  options: LangfuseAnalysisOptions,
): Promise<Measurement> {
  const spec = metric.langfuse;
  if (spec === undefined) throw new Error(`metric ${metric.name} has no langfuse source`);
  const window = spec.window ?? defaultLangfuseWindow;
  const { from, to } = scoreWindow(context.now, window);
  const field = `spec.strategy.canary.analysis.metrics[${metric.name}].langfuse`;
  let connection;
  try {
    connection = await langfuseKeys(context.client, context.namespace, spec, field);
  } catch (err: unknown) {
    if (context.signal?.aborted === true) throw context.signal.reason;
    return { ok: false, error: errorMessage(err) };
  }
  const baseUrl = langfuseBaseUrl(connection);
  // Loaded on first use: most controllers never talk to Langfuse.
  const { langfuseClient } = await import("../langfuse/client.js");
  const reads: Reads = {
    client: langfuseClient(connection),
    requestOptions: {
      ...langfuseRequestOptions({ timeoutSeconds: options.timeoutSeconds }),
      maxRetries: 0,
      ...(context.signal === undefined ? {} : { abortSignal: context.signal }),
    },
    baseUrl,
    signal: context.signal,
  };
  // One more window back for the traces: a score lands after its trace.
  const tracesFrom = new Date(Date.parse(from) - parseDuration(window)).toISOString();
  const traceIds = await canaryTraceIds(reads, context.revision, tracesFrom, to, {
    maxTraces: options.maxTraces ?? defaultMaxLangfuseTraces,
    pageSize: options.tracePageSize ?? 1000,
  });
  if (!traceIds.ok) return traceIds;
  const scores = await traceScores(reads, traceIds.value, spec.scoreName, from, to, {
    maxScores: options.maxScores ?? defaultMaxLangfuseScores,
    pageSize: options.pageSize ?? 100,
  });
  if (!scores.ok) return scores;
  return scoreMean(
    scores.value,
    `named ${spec.scoreName} on traces tagged ${context.revision} in the last ${window} at ${baseUrl}`,
  );
}

/**
 * The ids of the newest (at most `maxTraces`) traces tagged `revision` with an observation that
 * started in [from, to): GET /api/public/v2/observations, newest first, cursor by cursor.
 */
async function canaryTraceIds(
  reads: Reads,
  revision: string,
  from: string,
  to: string,
  bounds: { maxTraces: number; pageSize: number },
): Promise<Step<string[]>> {
  // The time bounds go in the filter too: a `filter` takes precedence over the query parameters.
  const filter = canaryObservationsFilter(revision, from, to);
  const ids = new Set<string>();
  let cursor: string | undefined;
  for (let page = 1; page <= maxTracePages && ids.size < bounds.maxTraces; page++) {
    let response;
    try {
      response = await reads.client.api.observations.getMany(
        {
          fields: "core",
          filter,
          fromStartTime: from,
          toStartTime: to,
          limit: bounds.pageSize,
          ...(cursor === undefined ? {} : { cursor }),
        },
        reads.requestOptions,
      );
    } catch (err: unknown) {
      return failed(err, reads, {
        request: "GET /api/public/v2/observations",
        what: `reading page ${String(page)} of the observations of traces tagged ${revision}`,
      });
    }
    for (const observation of response.data) {
      if (observation.traceId === null || ids.size >= bounds.maxTraces) continue;
      ids.add(observation.traceId);
    }
    cursor = response.meta.cursor;
    if (cursor === undefined || cursor === "" || response.data.length === 0) break;
  }
  return { ok: true, value: [...ids] };
}

/**
 * The newest (at most `maxScores`) scores named `name` on `traceIds` stamped in [from, to):
 * GET /api/public/v3/scores per batch of trace ids, newest first, cursor by cursor. A batch is
 * read up to `maxScores` only: its older scores cannot be among the newest of all.
 */
async function traceScores(
  reads: Reads,
  traceIds: readonly string[],
  name: string,
  from: string,
  to: string,
  bounds: { maxScores: number; pageSize: number },
): Promise<Step<ScoreV3[]>> {
  const scores: ScoreV3[] = [];
  const seen = new Set<string>();
  for (const batch of chunked(traceIds, traceIdsPerRequest)) {
    let read = 0;
    let cursor: string | undefined;
    for (let page = 1; read < bounds.maxScores; page++) {
      let response;
      try {
        response = await reads.client.api.scoresV3.getManyV3(
          {
            name,
            traceId: batch.join(","),
            fromTimestamp: from,
            toTimestamp: to,
            limit: bounds.pageSize,
            ...(cursor === undefined ? {} : { cursor }),
          },
          reads.requestOptions,
        );
      } catch (err: unknown) {
        return failed(err, reads, {
          request: "GET /api/public/v3/scores",
          what: `reading page ${String(page)} of scores ${name}`,
        });
      }
      for (const score of response.data) {
        // Newest first: a score added while we read moves the others one place on.
        if (seen.has(score.id) || read >= bounds.maxScores) continue;
        seen.add(score.id);
        scores.push(score);
        read += 1;
      }
      cursor = response.meta.cursor;
      if (cursor === undefined || cursor === "" || response.data.length === 0) break;
    }
  }
  return { ok: true, value: newestScores(scores, bounds.maxScores) };
}

/** A failed request as a measurement error; rejects with the signal's reason on abort. */
function failed(
  err: unknown,
  reads: Reads,
  request: { request: string; what: string },
): { ok: false; error: string } {
  if (reads.signal?.aborted === true) throw reads.signal.reason;
  const e = toLangfuseError(err, { ...request, baseUrl: reads.baseUrl });
  const hint =
    e instanceof LangfuseNotFoundError
      ? " (the observations API v2 and scores API v3 need Langfuse v4; self-hosted Langfuse v3 serves neither)"
      : "";
  return { ok: false, error: `${e.message}${hint}` };
}
