// Outcomes of an online Experiment read from Langfuse (spec.traffic.langfuse): applications that
// already trace their LLM calls in Langfuse tag each trace `llmops:<namespace>/<experiment>/<variant>`
// and score it there (user feedback, an evaluator); every score named after one of the
// Experiment's metrics then counts as an outcome of that variant, once (its id is the score id),
// with the trace's user id (else the trace id) as its unit. Read-only, through the official
// @langfuse/client, on the routes Langfuse v4 serves (as backends/analysis/langfuse.ts does):
//
// 1. the run's traces per variant: GET /api/public/v2/observations filtered on the tag and on
//    startTime from the run's start, `core,basic` fields (traceId, userId), cursor by cursor, at
//    most `maxTracePages` pages;
// 2. their scores per metric: GET /api/public/v3/scores with name, traceId (batches of 100), the
//    `subject` fields (which trace a score is on) and fromTimestamp = the run's cursor minus a minute (a late write is read again and counted once).
import type { LangfuseClient } from "@langfuse/client";
import { langfuseBaseUrl, langfuseRequestOptions } from "../backends/langfuse/connection.js";
import { toLangfuseError } from "../backends/langfuse/errors.js";
import type { KubeClient } from "../kube/client.js";
import { langfuseKeys, type LangfuseKeyRefs } from "../kube/langfuse-keys.js";
import { assignVariant, outcomeFingerprint, type TrafficWeight } from "./assignment.js";
import type { OutcomeEvent } from "./store.js";

/** The tag a trace carries to count for `variant` of Experiment `namespace/experiment`. */
export function variantTag(namespace: string, experiment: string, variant: string): string {
  return `llmops:${namespace}/${experiment}/${variant}`;
}

export interface LangfuseOutcomesRequest {
  client: KubeClient;
  namespace: string;
  experiment: string;
  uid: string;
  salt: string;
  weights: readonly TrafficWeight[];
  spec: LangfuseKeyRefs;
  variants: readonly string[];
  /** Metric name → whether its values must be 0/1. */
  metrics: ReadonlyMap<string, boolean>;
  runStartedAt: string;
  /** Where the previous read ended (ISO), or undefined for the first read. */
  cursor: string | undefined;
  now: number;
  signal?: AbortSignal;
  maxTracePages?: number;
}

const traceIdsPerRequest = 100;
const overlapMs = 60_000;

/** The outcomes scored since the cursor, and where the next read starts. */
export async function readLangfuseOutcomes(
  request: LangfuseOutcomesRequest,
): Promise<{ events: OutcomeEvent[]; cursor: string }> {
  const connection = await langfuseKeys(
    request.client,
    request.namespace,
    request.spec,
    "spec.traffic.langfuse",
  );
  const { langfuseClient } = await import("../backends/langfuse/client.js");
  const client = langfuseClient(connection);
  const baseUrl = langfuseBaseUrl(connection);
  const options = {
    ...langfuseRequestOptions(connection),
    maxRetries: 0,
    ...(request.signal ? { abortSignal: request.signal } : {}),
  };
  const to = new Date(request.now).toISOString();
  const scoresFrom = new Date(
    Date.parse(request.cursor ?? request.runStartedAt) - (request.cursor ? overlapMs : 0),
  ).toISOString();
  const events: OutcomeEvent[] = [];
  for (const variant of request.variants) {
    const traces = await variantTraces(client, options, baseUrl, {
      tag: variantTag(request.namespace, request.experiment, variant),
      from: request.runStartedAt,
      to,
      maxPages: request.maxTracePages ?? 20,
    });
    const ids = [...traces.keys()];
    for (const [metric, binary] of request.metrics) {
      for (let i = 0; i < ids.length; i += traceIdsPerRequest) {
        const batch = ids.slice(i, i + traceIdsPerRequest);
        let cursor: string | undefined;
        do {
          let page;
          try {
            page = await client.api.scoresV3.getManyV3(
              {
                name: metric,
                traceId: batch.join(","),
                fromTimestamp: scoresFrom,
                toTimestamp: to,
                limit: 100,
                fields: "subject",
                ...(cursor === undefined ? {} : { cursor }),
              },
              options,
            );
          } catch (error) {
            throw toLangfuseError(error, {
              request: "GET /api/public/v3/scores",
              what: `reading scores ${metric} of variant ${variant}`,
              baseUrl,
            });
          }
          for (const score of page.data) {
            const raw = (score as { value?: unknown }).value;
            const value = typeof raw === "boolean" ? Number(raw) : raw;
            if (typeof value !== "number" || !Number.isFinite(value)) continue;
            if (binary && value !== 0 && value !== 1) continue;
            const traceId = scoreTraceId(score);
            if (traceId === undefined) continue;
            const unit = traces.get(traceId) ?? traceId;
            events.push({
              id: outcomeFingerprint(`langfuse:${score.id}`),
              unit: assignVariant({
                uid: request.uid,
                salt: request.salt,
                unit,
                weights: request.weights,
              }).unit,
              variant,
              metric,
              value,
            });
          }
          cursor = page.meta.cursor ?? undefined;
          if (page.data.length === 0) cursor = undefined;
        } while (cursor !== undefined && cursor !== "");
      }
    }
  }
  return { events, cursor: to };
}

/** The trace a v3 score is on (its `subject`: the trace, or an observation of it). */
function scoreTraceId(score: unknown): string | undefined {
  const subject = (
    score as { subject?: { kind?: string; id?: string | null; traceId?: string | null } }
  ).subject;
  if (subject?.kind === "trace") return subject.id ?? undefined;
  if (subject?.kind === "observation") return subject.traceId ?? undefined;
  return undefined;
}

/** Trace id → unit (the user id, else the trace id) of the traces tagged `tag` since `from`. */
async function variantTraces(
  client: LangfuseClient,
  options: { timeoutInSeconds: number; maxRetries: number; abortSignal?: AbortSignal },
  baseUrl: string,
  query: { tag: string; from: string; to: string; maxPages: number },
): Promise<Map<string, string>> {
  const filter = JSON.stringify([
    { type: "arrayOptions", column: "traceTags", operator: "any of", value: [query.tag] },
    { type: "datetime", column: "startTime", operator: ">=", value: query.from },
    { type: "datetime", column: "startTime", operator: "<", value: query.to },
  ]);
  const units = new Map<string, string>();
  let cursor: string | undefined;
  for (let page = 1; page <= query.maxPages; page++) {
    let response;
    try {
      response = await client.api.observations.getMany(
        {
          fields: "core,basic",
          filter,
          fromStartTime: query.from,
          toStartTime: query.to,
          limit: 1000,
          ...(cursor === undefined ? {} : { cursor }),
        },
        options,
      );
    } catch (error) {
      throw toLangfuseError(error, {
        request: "GET /api/public/v2/observations",
        what: `finding the traces tagged ${query.tag}`,
        baseUrl,
      });
    }
    for (const o of response.data) {
      if (o.traceId === null) continue;
      const user = (o as { userId?: string | null }).userId;
      if (!units.has(o.traceId) || (user !== null && user !== undefined)) {
        units.set(o.traceId, user ?? units.get(o.traceId) ?? o.traceId);
      }
    }
    cursor = response.meta.cursor;
    if (cursor === undefined || cursor === "" || response.data.length === 0) break;
  }
  return units;
}
