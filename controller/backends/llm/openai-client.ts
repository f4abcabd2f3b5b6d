// ChatModelClient for any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, vLLM,
// TGI, Ollama), built on the official `openai` package for the wire format and error types.
//
// The SDK's own retries are switched off (maxRetries: 0) and done here instead: the SDK sleeps on
// the real clock with Math.random jitter, so its schedule cannot be tested deterministically, it
// retries 409s, which this client must not, and it waits out any Retry-After below a minute while
// holding the caller. Here the clock and randomness are injected, every retry is recorded in the
// result, and the per-request timeout (also the clock's) covers reading the body, which the SDK's
// timeout does not.
//
// The SDK is imported on a client's first call, not with this module: most controllers never call
// a model (Prompts only), and the package costs ~18 MiB of resident memory once loaded.
import { inspect } from "node:util";
import type OpenAI from "openai";
import type { ClientOptions } from "openai";
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import { sleep, systemClock, type Clock } from "../../runtime/clock.js";
import { EndpointConcurrency, endpointKey, type Semaphore } from "./concurrency.js";
import {
  LlmAbortedError,
  LlmConnectionError,
  LlmError,
  LlmHttpError,
  LlmMalformedResponseError,
  LlmTimeoutError,
  isRetryableLlmError,
  readableExcerpt,
} from "./errors.js";
import { costOf, defaultPriceTable, type PriceTable } from "./pricing.js";
import {
  backoffDelay,
  defaultRetryPolicy,
  retryAfterFromHeaders,
  type RetryPolicy,
} from "./retry.js";
import type {
  CallOptions,
  ChatCompletion,
  ChatModelClient,
  ChatRequest,
  RetryRecord,
  TokenUsage,
} from "./types.js";

/** Options for `createOpenAiChatClient`. */
export interface OpenAiChatClientOptions {
  /** Endpoint base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseURL: string;
  /** Bearer token (from a Secret). Omit for endpoints without auth (a local vLLM or Ollama). */
  apiKey?: string | null;
  /** Extra request headers, e.g. OpenRouter's `HTTP-Referer`. */
  headers?: Readonly<Record<string, string>>;
  /** Per-attempt timeout covering connect, response and body, ms; default 60 s. */
  timeoutMs?: number;
  /** Overrides of the retry policy (see RetryPolicy). */
  retry?: Partial<RetryPolicy>;
  /** Shared per-endpoint limiter; without one this client gets its own with `maxConcurrency`. */
  concurrency?: EndpointConcurrency;
  /** Concurrent requests when no shared limiter is given; default 8. */
  maxConcurrency?: number;
  /** Prices for cost; default `defaultPriceTable()`. */
  prices?: PriceTable;
  /** Name of the output-length field: o-series models only accept `max_completion_tokens`. */
  maxTokensField?: "max_tokens" | "max_completion_tokens";
  /** Time source for timeouts, retry waits and latency; default the system clock. */
  clock?: Clock;
  /** Waits between retries; default `sleep` on `clock`. Tests pass one that records and returns. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** [0, 1) source for jitter; default Math.random. */
  random?: () => number;
  /** fetch implementation (e.g. undici's with a larger pool); default the global fetch. */
  fetch?: typeof fetch;
}

/** What of a client's configuration may be logged: the API key is never included. */
export interface EndpointDescription {
  /** Base URL without credentials, query or trailing slash (the concurrency key). */
  endpoint: string;
  apiKey: "[redacted]" | null;
  headers: string[];
  timeoutMs: number;
  maxConcurrency: number;
}

/** Loggable view of `options`: the key is redacted, URL credentials and header values dropped. */
export function describeEndpoint(
  options: Pick<OpenAiChatClientOptions, "baseURL" | "apiKey" | "headers" | "timeoutMs"> & {
    maxConcurrency?: number;
  },
): EndpointDescription {
  return {
    endpoint: endpointKey(options.baseURL),
    apiKey: options.apiKey ? "[redacted]" : null,
    headers: Object.keys(options.headers ?? {}),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxConcurrency: options.maxConcurrency ?? 8,
  };
}

const DEFAULT_TIMEOUT_MS = 60_000;
const EXCERPT_LENGTH = 200;

type OpenAiSdk = typeof OpenAI;
let sdkModule: Promise<OpenAiSdk> | undefined;
/** The SDK's class once some client has loaded it (errors are classified against its types). */
let loadedSdk: OpenAiSdk | undefined;

function loadSdk(): Promise<OpenAiSdk> {
  sdkModule ??= import("openai").then(({ default: sdk }) => (loadedSdk = sdk));
  return sdkModule;
}

/** Creates a ChatModelClient for an OpenAI-compatible endpoint. */
export function createOpenAiChatClient(options: OpenAiChatClientOptions): OpenAiChatClient {
  return new OpenAiChatClient(options);
}

type Attempt<T> = { ok: true; value: T; latencyMs: number } | { ok: false; error: LlmError };

/** See the file comment; construct through `createOpenAiChatClient`. */
export class OpenAiChatClient implements ChatModelClient {
  // Private fields are invisible to JSON.stringify, pino and util.inspect: the SDK instance and
  // the key stay out of logs even if someone logs the client.
  readonly #sdkOptions: ClientOptions;
  #sdk: Promise<OpenAI> | undefined;
  readonly #apiKey: string | null;
  readonly #description: EndpointDescription;
  readonly #semaphore: Semaphore;
  readonly #timeoutMs: number;
  readonly #policy: RetryPolicy;
  readonly #prices: PriceTable;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #maxTokensField: "max_tokens" | "max_completion_tokens";

  constructor(options: OpenAiChatClientOptions) {
    const apiKey = options.apiKey ?? null;
    this.#apiKey = apiKey === "" ? null : apiKey;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#policy = { ...defaultRetryPolicy(), ...options.retry };
    this.#prices = options.prices ?? defaultPriceTable();
    this.#clock = options.clock ?? systemClock();
    this.#random = options.random ?? Math.random;
    const clock = this.#clock;
    this.#sleep = options.sleep ?? ((ms, signal) => sleep(clock, ms, signal));
    this.#maxTokensField = options.maxTokensField ?? "max_tokens";
    const concurrency =
      options.concurrency ?? new EndpointConcurrency({ defaultLimit: options.maxConcurrency ?? 8 });
    this.#semaphore = concurrency.for(options.baseURL);
    this.#description = describeEndpoint({
      ...options,
      maxConcurrency: this.#semaphore.limit,
    });
    this.#sdkOptions = {
      baseURL: options.baseURL,
      // The SDK insists on a credential; a keyless endpoint gets a placeholder whose header is
      // then removed (a null default header deletes it), so nothing is sent.
      apiKey: this.#apiKey ?? "unused",
      // Everything the SDK would otherwise read from OPENAI_* environment variables is pinned, so
      // a key or organization meant for api.openai.com never reaches another endpoint.
      adminAPIKey: null,
      organization: null,
      project: null,
      webhookSecret: null,
      defaultHeaders: {
        ...options.headers,
        ...(this.#apiKey === null ? { Authorization: null } : {}),
      },
      maxRetries: 0,
      timeout: this.#timeoutMs,
      logLevel: "off",
      ...(options.fetch ? { fetch: options.fetch } : {}),
    };
  }

  #client(): Promise<OpenAI> {
    this.#sdk ??= loadSdk().then((Sdk) => new Sdk(this.#sdkOptions));
    return this.#sdk;
  }

  /** The loggable description of this client's endpoint. */
  describe(): EndpointDescription {
    return this.#description;
  }

  toJSON(): EndpointDescription {
    return this.#description;
  }

  [inspect.custom](): string {
    return `OpenAiChatClient ${JSON.stringify(this.#description)}`;
  }

  async complete(request: ChatRequest, options: CallOptions = {}): Promise<ChatCompletion> {
    const body = this.#body(request);
    const { value, latencyMs, attempts, retries } = await this.#withRetries(async (signal) => {
      const sdk = await this.#client();
      const raw: unknown = await sdk.chat.completions.create(body, {
        signal,
        maxRetries: 0,
      });
      return parseChatCompletion(raw, request.model);
    }, options.signal);
    return {
      ...value,
      costUSD:
        costOf(this.#prices, value.model, value.usage) ??
        costOf(this.#prices, request.model, value.usage),
      latencyMs,
      attempts,
      retries,
    };
  }

  async listModels(options: CallOptions = {}): Promise<string[]> {
    const { value } = await this.#withRetries(async (signal) => {
      const sdk = await this.#client();
      const page = await sdk.models.list({ signal, maxRetries: 0 });
      return page.data.map((m) => m.id);
    }, options.signal);
    return value;
  }

  #body(request: ChatRequest): ChatCompletionCreateParamsNonStreaming {
    const messages: ChatCompletionMessageParam[] = request.messages.map((m) => ({
      role: m.role,
      content: m.content,
    }));
    const body: ChatCompletionCreateParamsNonStreaming = { model: request.model, messages };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.topP !== undefined) body.top_p = request.topP;
    // Deprecated in OpenAI's API but honoured by vLLM and TGI, where it makes runs reproducible.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    if (request.seed !== undefined) body.seed = request.seed;
    if (request.stop !== undefined) body.stop = [...request.stop];
    if (request.maxTokens !== undefined) body[this.#maxTokensField] = request.maxTokens;
    if (request.jsonSchema !== undefined) {
      body.response_format = {
        type: "json_schema",
        json_schema: {
          name: request.jsonSchema.name,
          schema: request.jsonSchema.schema,
          ...(request.jsonSchema.strict !== undefined ? { strict: request.jsonSchema.strict } : {}),
        },
      };
    }
    return body;
  }

  async #withRetries<T>(
    operation: (signal: AbortSignal) => Promise<T>,
    callerSignal: AbortSignal | undefined,
  ): Promise<{ value: T; latencyMs: number; attempts: number; retries: RetryRecord[] }> {
    const retries: RetryRecord[] = [];
    for (let attempt = 0; ; attempt++) {
      const attempts = attempt + 1;
      if (callerSignal?.aborted === true) throw this.#aborted(attempt);
      let release: () => void;
      try {
        // A permit per attempt: waiting out a backoff does not occupy the endpoint.
        release = await this.#semaphore.acquire(callerSignal);
      } catch (error) {
        throw this.#aborted(attempt, error);
      }
      let outcome: Attempt<T>;
      try {
        outcome = await this.#attempt(operation, callerSignal);
      } finally {
        release();
      }
      if (outcome.ok)
        return { value: outcome.value, latencyMs: outcome.latencyMs, attempts, retries };

      const error = outcome.error;
      error.attempts = attempts;
      if (!isRetryableLlmError(error) || attempt >= this.#policy.maxRetries) throw error;
      const asked = error instanceof LlmHttpError ? error.retryAfterMs : null;
      // A server that asks for a long pause gets it from the caller's queue, not from a held worker.
      if (asked !== null && asked > this.#policy.maxRetryAfterMs) throw error;
      const delayMs = asked ?? backoffDelay(this.#policy, attempt, this.#random);
      retries.push({ reason: retryReason(error), delayMs, fromRetryAfter: asked !== null });
      await this.#sleep(delayMs, callerSignal);
    }
  }

  async #attempt<T>(
    operation: (signal: AbortSignal) => Promise<T>,
    callerSignal: AbortSignal | undefined,
  ): Promise<Attempt<T>> {
    const controller = new AbortController();
    const state = { timedOut: false };
    const onCallerAbort = (): void => {
      controller.abort(callerSignal?.reason);
    };
    callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
    const timer = this.#clock.setTimer(() => {
      state.timedOut = true;
      controller.abort(new Error(`timed out after ${this.#timeoutMs} ms`));
    }, this.#timeoutMs);
    const started = this.#clock.now();
    try {
      const value = await operation(controller.signal);
      return { ok: true, value, latencyMs: this.#clock.now() - started };
    } catch (error) {
      if (state.timedOut) {
        return {
          ok: false,
          error: new LlmTimeoutError(
            `${this.#description.endpoint} did not answer within ${this.#timeoutMs} ms`,
            { cause: error, timeoutMs: this.#timeoutMs },
          ),
        };
      }
      if (callerSignal?.aborted === true) return { ok: false, error: this.#aborted(0, error) };
      return { ok: false, error: this.#classify(error) };
    } finally {
      timer.cancel();
      callerSignal?.removeEventListener("abort", onCallerAbort);
    }
  }

  #aborted(attempts: number, cause?: unknown): LlmAbortedError {
    return new LlmAbortedError(`call to ${this.#description.endpoint} was aborted`, {
      cause,
      attempts: Math.max(1, attempts),
    });
  }

  #classify(error: unknown): LlmError {
    const endpoint = this.#description.endpoint;
    if (error instanceof LlmError) return error;
    const Sdk = loadedSdk;
    if (Sdk !== undefined && error instanceof Sdk.APIConnectionTimeoutError) {
      return new LlmTimeoutError(`${endpoint} did not answer within ${this.#timeoutMs} ms`, {
        cause: error,
        timeoutMs: this.#timeoutMs,
      });
    }
    if (Sdk !== undefined && error instanceof Sdk.APIConnectionError) {
      return new LlmConnectionError(
        `cannot reach ${endpoint}: ${this.#scrub(causeMessage(error))}`,
        {
          cause: error,
        },
      );
    }
    if (Sdk !== undefined && error instanceof Sdk.APIError && typeof error.status === "number") {
      const code =
        (typeof error.code === "string" ? error.code : null) ??
        (typeof error.type === "string" ? error.type : null);
      // The SDK's message is "<status> <body or the error's message>"; the body may be an HTML page.
      const said = readableExcerpt(
        this.#scrub(error.message).replace(new RegExp(`^${String(error.status)}\\b`), ""),
        EXCERPT_LENGTH,
      );
      return new LlmHttpError(`${endpoint} answered ${String(error.status)} ${said}`.trimEnd(), {
        cause: error,
        status: error.status,
        code,
        retryAfterMs: retryAfterFromHeaders(
          error.headers as Headers | undefined,
          this.#clock.now(),
        ),
      });
    }
    if (error instanceof SyntaxError) {
      const excerpt = readableExcerpt(this.#scrub(error.message), EXCERPT_LENGTH);
      return new LlmMalformedResponseError(
        `${endpoint} answered with a body that is not JSON: ${excerpt}`,
        { cause: error, bodyExcerpt: excerpt },
      );
    }
    // fetch reports resets and refused connections as TypeError ("fetch failed", "terminated").
    if (error instanceof TypeError) {
      return new LlmConnectionError(
        `cannot reach ${endpoint}: ${this.#scrub(causeMessage(error))}`,
        {
          cause: error,
        },
      );
    }
    return new LlmError(`call to ${endpoint} failed: ${this.#scrub(String(error))}`, {
      cause: error,
    });
  }

  /** Removes the API key from text that may end up in status or logs. */
  #scrub(text: string): string {
    if (this.#apiKey === null) return text;
    return text.split(this.#apiKey).join("[redacted]");
  }
}

function retryReason(error: LlmError): string {
  if (error instanceof LlmHttpError) return `http ${error.status}`;
  if (error instanceof LlmTimeoutError) return "timeout";
  return "connection";
}

function causeMessage(error: Error): string {
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const inner: unknown = cause.cause;
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message;
  }
  return error.message;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * Checks that a 2xx body is a chat completion and extracts what callers use. Providers differ in
 * optional fields, so only the parts we rely on are required: choices[0].message.
 */
export function parseChatCompletion(
  raw: unknown,
  requestedModel: string,
): Omit<ChatCompletion, "costUSD" | "latencyMs" | "attempts" | "retries"> {
  // JSON.stringify returns undefined for undefined input, whatever its declared type says.
  const json = JSON.stringify(raw) as string | undefined;
  const excerpt = (typeof raw === "string" ? raw : (json ?? String(raw))).slice(0, EXCERPT_LENGTH);
  const malformed = (why: string): LlmMalformedResponseError =>
    new LlmMalformedResponseError(`response is not a chat completion: ${why}`, {
      bodyExcerpt: excerpt,
    });
  if (!isRecord(raw))
    throw malformed(typeof raw === "string" ? "body is not JSON" : "body is not an object");
  const choices = raw["choices"];
  if (!Array.isArray(choices) || choices.length === 0) throw malformed("no choices");
  const first: unknown = choices[0];
  if (!isRecord(first) || !isRecord(first["message"]))
    throw malformed("choices[0].message missing");
  const content = first["message"]["content"];
  if (content !== null && content !== undefined && typeof content !== "string") {
    throw malformed("choices[0].message.content is not a string");
  }
  const usageRaw = raw["usage"];
  let usage: TokenUsage | null = null;
  if (isRecord(usageRaw)) {
    const input = count(usageRaw["prompt_tokens"]);
    const output = count(usageRaw["completion_tokens"]);
    if (input !== null && output !== null) {
      usage = {
        inputTokens: input,
        outputTokens: output,
        totalTokens: count(usageRaw["total_tokens"]) ?? input + output,
      };
    }
  }
  const finish = first["finish_reason"];
  return {
    id: typeof raw["id"] === "string" ? raw["id"] : null,
    model: typeof raw["model"] === "string" && raw["model"] !== "" ? raw["model"] : requestedModel,
    content: typeof content === "string" ? content : null,
    finishReason: typeof finish === "string" ? finish : null,
    usage,
  };
}
