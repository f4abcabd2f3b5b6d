// A `langfuse` analysis metric: the mean of score `scoreName` over the last `window` (default 5m,
// as the CRD says) of scores on traces tagged with the canary's revision name, read through the
// official @langfuse/client: GET /api/public/v2/scores with name, fromTimestamp, toTimestamp
// and traceTags (only scores whose trace carries every listed tag), page by page, newest first.
// The application tags its traces with the revision that served them (the revision name is what
// the canary's pods know as their identity); NUMERIC and BOOLEAN (0/1) scores are averaged,
// categorical and text scores have no mean and are left out. No score in the window is an error
// (nothing to judge yet), never a failure.
//
// At most `maxScores` (default 2000) of the newest scores are read: a busy canary's mean over a
// few thousand recent scores is as good as over all of them, and a measurement stays a few
// requests. Each request is tried once (no client-side retries): the analysis itself tolerates
// errors up to consecutiveErrorLimit.
//
// Langfuse documents GET /api/public/v2/scores as deprecated in favour of /api/public/v3/scores,
// which has no trace-tag filter; deployments fully on Langfuse v4 answer 404, and the error says so.
import { langfuseBaseUrl, langfuseRequestOptions } from "../langfuse/connection.js";
import { LangfuseNotFoundError, toLangfuseError } from "../langfuse/errors.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { errorMessage } from "../../kube/errors.js";
import { parseDuration } from "../../runtime/duration.js";
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
}

/** The CRD's default for langfuse.window. */
export const defaultLangfuseWindow = "5m";
export const defaultMaxLangfuseScores = 2000;

/** The provider for `metric.langfuse`. */
export function langfuseProvider(options: LangfuseAnalysisOptions = {}): AnalysisProvider {
  return { measure: (metric, context) => measureLangfuse(metric, context, options) };
}

/** One score as GET /api/public/v2/scores lists it (the fields used here). */
export interface ListedScore {
  dataType?: string;
  value?: unknown;
}

/**
 * The mean of the numeric scores in `scores` (NUMERIC values, BOOLEAN 0/1); an error when there
 * is none. `what` names the query for the message. Pure.
 */
export function scoreMean(scores: readonly ListedScore[], what: string): Measurement {
  let sum = 0;
  let count = 0;
  const other = new Set<string>();
  for (const score of scores) {
    const type = score.dataType ?? "NUMERIC";
    if ((type === "NUMERIC" || type === "BOOLEAN") && typeof score.value === "number") {
      if (!Number.isFinite(score.value)) continue;
      sum += score.value;
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
  const client = langfuseClient(connection);
  const requestOptions = {
    ...langfuseRequestOptions({ timeoutSeconds: options.timeoutSeconds }),
    maxRetries: 0,
    ...(context.signal === undefined ? {} : { abortSignal: context.signal }),
  };
  const limit = options.pageSize ?? 100;
  const maxScores = options.maxScores ?? defaultMaxLangfuseScores;
  const scores: ListedScore[] = [];
  const seen = new Set<string>();
  for (let page = 1; scores.length < maxScores; page++) {
    let response;
    try {
      // Deprecated, but the one documented listing that filters by trace tags (v3 has no such
      // filter); see the note at the top of this file.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      response = await client.api.scores.getMany(
        {
          name: spec.scoreName,
          fromTimestamp: from,
          toTimestamp: to,
          traceTags: context.revision,
          page,
          limit,
        },
        requestOptions,
      );
    } catch (err: unknown) {
      if (context.signal?.aborted === true) throw context.signal.reason;
      const e = toLangfuseError(err, {
        request: "GET /api/public/v2/scores",
        what: `reading page ${String(page)} of scores ${spec.scoreName}`,
        baseUrl,
      });
      const hint =
        e instanceof LangfuseNotFoundError
          ? " (Langfuse v4 no longer serves this endpoint; trace-tag filtering needs a Langfuse v3 server)"
          : "";
      return { ok: false, error: `${e.message}${hint}` };
    }
    for (const score of response.data) {
      // Newest first: a score added while we read moves the others one place on.
      if (seen.has(score.id) || scores.length >= maxScores) continue;
      seen.add(score.id);
      scores.push(score);
    }
    if (page >= response.meta.totalPages || response.data.length === 0) break;
  }
  return scoreMean(
    scores,
    `named ${spec.scoreName} on traces tagged ${context.revision} in the last ${window} at ${baseUrl}`,
  );
}
