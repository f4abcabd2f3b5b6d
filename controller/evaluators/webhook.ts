// webhook: custom scoring logic behind an HTTP endpoint. The item and output are POSTed as JSON,
// signed with HMAC-SHA256 so the receiver can tell the request came from us; the reply is read
// with a size limit and a timeout, so a misbehaving endpoint costs at most that.
import { createHmac, timingSafeEqual } from "node:crypto";
import { systemClock, type Clock } from "../runtime/clock.js";
import {
  EvaluatorConfigError,
  failure,
  type EvaluateOptions,
  type EvaluationInput,
  type EvaluationResult,
} from "./types.js";

/** Header carrying `sha256=<hex HMAC of the raw body>`, as GitHub's X-Hub-Signature-256. */
export const SIGNATURE_HEADER = "x-llmops-signature-256";

/** Options of the webhook evaluator. */
export interface WebhookOptions {
  /** http(s) URL to POST to. */
  url: string;
  /** HMAC key shared with the receiver (from a Secret). */
  secret: string;
  /** Whole-exchange timeout, ms; default 10 s. */
  timeoutMs?: number;
  /** Largest reply read, bytes; default 64 KiB. */
  maxResponseBytes?: number;
  /** Evaluator name, sent so one receiver can serve several evaluators. */
  name?: string;
  fetch?: typeof fetch;
  clock?: Clock;
}

/** `sha256=<hex>` for `body` under `secret`. */
export function signWebhookBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/** Constant-time check of a signature header against `body`; for receivers and tests. */
export function verifyWebhookSignature(
  body: string,
  header: string | null,
  secret: string,
): boolean {
  if (header === null) return false;
  const expected = Buffer.from(signWebhookBody(body, secret));
  const actual = Buffer.from(header);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Rejects a webhook spec that cannot work. */
export function validateWebhookOptions(options: Pick<WebhookOptions, "url" | "secret">): void {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (error) {
    throw new EvaluatorConfigError(`webhook url is not a URL`, { cause: error });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EvaluatorConfigError(`webhook url must be http or https, got ${url.protocol}`);
  }
  if (options.secret === "") throw new EvaluatorConfigError("webhook secret is empty");
}

/** The URL without credentials or query, for messages. */
function displayUrl(raw: string): string {
  const url = new URL(raw);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

class ResponseTooLarge extends Error {
  override name = "ResponseTooLarge";
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new ResponseTooLarge(`reply of ${String(declared)} bytes exceeds ${String(limit)}`);
  }
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    // undici types stream chunks as any; fetch bodies are byte streams.
    const value = chunk as Uint8Array;
    total += value.byteLength;
    if (total > limit) {
      // Leaving the loop early cancels the stream, so the rest is never downloaded.
      throw new ResponseTooLarge(`reply exceeds ${String(limit)} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads `{ score, passed?, reason?, error? }` from the receiver's reply. */
export function parseWebhookReply(text: string): EvaluationResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return failure(`webhook reply is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (!isRecord(parsed)) return failure("webhook reply is not a JSON object");
  if (typeof parsed["error"] === "string") return failure(`webhook: ${parsed["error"]}`);
  const score = parsed["score"];
  const passed = parsed["passed"];
  if (score !== null && (typeof score !== "number" || !Number.isFinite(score))) {
    return failure(
      `webhook reply score ${score === undefined ? "(missing)" : JSON.stringify(score)} is not a number or null`,
    );
  }
  if (passed !== undefined && passed !== null && typeof passed !== "boolean") {
    return failure(`webhook reply passed ${JSON.stringify(passed)} is not a boolean`);
  }
  if (score === null && (passed === undefined || passed === null)) {
    return failure("webhook reply has neither a score nor passed");
  }
  const reason = parsed["reason"];
  return {
    score,
    passed: typeof passed === "boolean" ? passed : null,
    ...(typeof reason === "string" ? { detail: { reason } } : {}),
  };
}

/**
 * POSTs `{ evaluator, item, output, latencyMs, costUSD }` and reads the verdict. Every failure of
 * the receiver (status, timeout, size, bad JSON) is a result with `error`; only the caller
 * aborting rejects.
 */
export async function webhookEvaluate(
  input: EvaluationInput,
  options: WebhookOptions,
  callOptions: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const clock = options.clock ?? systemClock();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const limit = options.maxResponseBytes ?? 64 * 1024;
  const where = displayUrl(options.url);
  const body = JSON.stringify({
    evaluator: options.name ?? "webhook",
    item: input.item,
    output: input.output,
    latencyMs: input.latencyMs ?? null,
    costUSD: input.costUSD ?? null,
  });
  const controller = new AbortController();
  const state = { timedOut: false };
  const timer = clock.setTimer(() => {
    state.timedOut = true;
    controller.abort(new Error("timeout"));
  }, timeoutMs);
  const caller = callOptions.signal;
  const onAbort = (): void => {
    controller.abort(caller?.reason);
  };
  caller?.addEventListener("abort", onAbort, { once: true });
  try {
    const response = await (options.fetch ?? fetch)(options.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [SIGNATURE_HEADER]: signWebhookBody(body, options.secret),
      },
      body,
      signal: controller.signal,
      redirect: "error",
    });
    const text = await readLimited(response, limit);
    if (!response.ok) {
      return failure(`webhook ${where} answered ${String(response.status)}: ${text.slice(0, 200)}`);
    }
    return parseWebhookReply(text);
  } catch (error) {
    if (caller?.aborted === true) throw error;
    if (state.timedOut)
      return failure(`webhook ${where} did not answer within ${String(timeoutMs)} ms`);
    if (error instanceof ResponseTooLarge) return failure(`webhook ${where}: ${error.message}`);
    const cause: unknown = error instanceof Error ? error.cause : undefined;
    const why =
      cause instanceof Error
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
    return failure(`webhook ${where} failed: ${why}`);
  } finally {
    timer.cancel();
    caller?.removeEventListener("abort", onAbort);
  }
}
