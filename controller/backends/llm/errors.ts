// Typed failures of an LLM call. Callers branch on the class: a non-retryable request error means
// the prompt or model is wrong (fix the spec), the rest are the endpoint's trouble. Every error
// carries how many attempts were made so the record of what was paid for stays honest.

interface LlmErrorOptions {
  cause?: unknown;
  /** Attempts made before giving up. */
  attempts?: number;
}

/** Base class of every error the LLM client throws. */
export class LlmError extends Error {
  override name = "LlmError";
  /** Attempts made before giving up (1 when the first attempt was final). */
  attempts: number;

  constructor(message: string, options: LlmErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.attempts = options.attempts ?? 1;
  }
}

/** The endpoint answered with an HTTP error status. */
export class LlmHttpError extends LlmError {
  override name = "LlmHttpError";
  readonly status: number;
  /** The provider's error type/code, when its body had one (e.g. `invalid_request_error`). */
  readonly code: string | null;
  /** Delay the server asked for, ms (Retry-After / retry-after-ms), when it sent one. */
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    options: LlmErrorOptions & {
      status: number;
      code?: string | null;
      retryAfterMs?: number | null;
    },
  ) {
    super(message, options);
    this.status = options.status;
    this.code = options.code ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }

  /** 408, 429 and 5xx may succeed later; other 4xx will not until the request changes. */
  get retryable(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** No response within the per-request timeout. */
export class LlmTimeoutError extends LlmError {
  override name = "LlmTimeoutError";
  readonly timeoutMs: number;

  constructor(message: string, options: LlmErrorOptions & { timeoutMs: number }) {
    super(message, options);
    this.timeoutMs = options.timeoutMs;
  }
}

/** The connection failed (refused, reset, DNS) before a response arrived. */
export class LlmConnectionError extends LlmError {
  override name = "LlmConnectionError";
}

/**
 * The endpoint answered 2xx with a body that is not a chat completion (not JSON, or JSON of the
 * wrong shape). Not retried: the call may already have been billed.
 */
export class LlmMalformedResponseError extends LlmError {
  override name = "LlmMalformedResponseError";
  /** The first bytes of what came back, for the status message. */
  readonly bodyExcerpt: string;

  constructor(message: string, options: LlmErrorOptions & { bodyExcerpt?: string }) {
    super(message, options);
    this.bodyExcerpt = options.bodyExcerpt ?? "";
  }
}

/** The caller aborted the call through its AbortSignal. */
export class LlmAbortedError extends LlmError {
  override name = "LlmAbortedError";
}

/** True for failures worth another attempt: 408/429/5xx, timeouts and connection errors. */
export function isRetryableLlmError(error: unknown): boolean {
  if (error instanceof LlmHttpError) return error.retryable;
  return error instanceof LlmTimeoutError || error instanceof LlmConnectionError;
}

const namedEntities: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

/**
 * What an error body says, as one readable line for a status condition or a log: HTML tags (and
 * the contents of script and style elements, and comments) removed, the common entities decoded,
 * whitespace collapsed, cut to `maxLength` characters ending in "…". Proxies and servers answer
 * errors with whole HTML pages; a condition message must not carry one.
 */
export function readableExcerpt(text: string, maxLength = 200): string {
  const plain = text
    .replace(/<!--[\s\S]*?(-->|$)/g, " ")
    .replace(/<(script|style)\b[^>]*>[\s\S]*?(<\/\1\s*>|$)/gi, " ")
    .replace(/<\/?[a-z!?][^>]*(>|$)/gi, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      const lower = name.toLowerCase();
      if (lower.startsWith("#")) {
        const code = lower.startsWith("#x") ? parseInt(lower.slice(2), 16) : Number(lower.slice(1));
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      }
      return namedEntities[lower] ?? entity;
    })
    .replace(/\s+/g, " ")
    .trim();
  if (plain.length <= maxLength) return plain;
  let end = maxLength - 1;
  // Do not cut a surrogate pair in half.
  if (/[\uD800-\uDBFF]/.test(plain.charAt(end - 1))) end -= 1;
  return `${plain.slice(0, end).trimEnd()}…`;
}
