// A `prometheus` analysis metric: one instant query (GET {address}/api/v1/query?query=…&time=…)
// whose result is one number. The query is rendered and the response read by promql.ts; this file
// does the request, with a per-request timeout and a bounded response, and turns every way it can
// go wrong (refused connection, timeout, HTTP error, oversized body) into a measurement error.
import { readableExcerpt } from "../llm/errors.js";
import { readQueryResponse, renderQuery } from "./promql.js";
import type {
  AnalysisMetric,
  AnalysisProvider,
  Measurement,
  MeasurementContext,
} from "./provider.js";

export interface PrometheusOptions {
  /** The controller's configured Prometheus, for metrics that name no address. */
  defaultPrometheusAddress?: string;
  /** Per-request timeout; default 10 s. */
  prometheusTimeoutMs?: number;
  /** Largest response body read; default 1 MiB (one number needs a few hundred bytes). */
  prometheusMaxResponseBytes?: number;
}

export const defaultPrometheusTimeoutMs = 10_000;
export const defaultPrometheusMaxResponseBytes = 1024 * 1024;

/** The provider for `metric.prometheus`. */
export function prometheusProvider(options: PrometheusOptions = {}): AnalysisProvider {
  return {
    measure: (metric, context) => measurePrometheus(metric, context, options),
  };
}

async function measurePrometheus(
  metric: AnalysisMetric,
  context: MeasurementContext,
  options: PrometheusOptions,
): Promise<Measurement> {
  const spec = metric.prometheus;
  if (spec === undefined) throw new Error(`metric ${metric.name} has no prometheus source`);
  const address = (spec.address ?? options.defaultPrometheusAddress)?.replace(/\/+$/, "");
  if (address === undefined || address === "") {
    return {
      ok: false,
      error:
        "no Prometheus address: set prometheus.address on the metric, or configure the controller's default Prometheus",
    };
  }
  const query = renderQuery(spec.query, { revision: context.revision, service: context.service });
  const url = new URL(`${address}/api/v1/query`);
  url.searchParams.set("query", query);
  url.searchParams.set("time", (context.now / 1000).toFixed(3));
  const where = `Prometheus at ${address}`;
  const result = await instantQuery(url, context.signal, {
    timeoutMs: options.prometheusTimeoutMs ?? defaultPrometheusTimeoutMs,
    maxBytes: options.prometheusMaxResponseBytes ?? defaultPrometheusMaxResponseBytes,
  });
  if (!result.ok) return { ok: false, error: `${where}: ${result.error}` };
  const measurement = readQueryResponse(result);
  if (measurement.ok) return measurement;
  return {
    ok: false,
    error: `${where}: ${measurement.error} (query: ${readableExcerpt(query, 300)})`,
  };
}

type Fetched = { ok: true; status: number; body: string } | { ok: false; error: string };

async function instantQuery(
  url: URL,
  signal: AbortSignal | undefined,
  limits: { timeoutMs: number; maxBytes: number },
): Promise<Fetched> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  try {
    const response = await fetch(url, {
      headers: { accept: "application/json" },
      signal: combined,
      redirect: "follow",
    });
    const body = await readBounded(response, limits.maxBytes);
    if (body === undefined) {
      return {
        ok: false,
        error: `HTTP ${String(response.status)}: the response is larger than ${String(limits.maxBytes)} bytes`,
      };
    }
    return { ok: true, status: response.status, body };
  } catch (err: unknown) {
    // The caller's cancellation is not a Prometheus problem: let it end the measurement.
    if (signal?.aborted === true) throw signal.reason;
    if (timeout.aborted) {
      return { ok: false, error: `no answer within ${String(limits.timeoutMs)} ms` };
    }
    return { ok: false, error: `unreachable: ${connectionError(err)}` };
  }
}

/** The body as text, or undefined once it grows past `maxBytes` (the rest is not read). */
async function readBounded(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream: the rest of an oversized body is never read.
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** fetch's "fetch failed" says nothing; its cause (ECONNREFUSED, ENOTFOUND, …) does. */
function connectionError(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof Error && cause.message !== "") return cause.message;
  return err instanceof Error ? err.message : String(err);
}
