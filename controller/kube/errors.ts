// Typed errors for everything that talks to the Kubernetes API.
//
// The queue decides what to do with a failed reconcile from the error's class alone:
// TerminalError → Stalled, not retried until the object changes; anything else → retried with
// per-key backoff (TransientError may carry a server-suggested delay). NotFoundError and
// ConflictError are separate because reconcilers branch on them (gone → finalize, conflict →
// re-read) long before the queue sees them.

/** The `Status` object the apiserver returns with a failed request, reduced to what we use. */
export interface ApiStatus {
  /** HTTP status code. */
  code: number;
  /** Machine-readable reason, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`. */
  reason: string;
  /** Human-readable message from the apiserver. */
  message: string;
}

interface ErrorOptions {
  cause?: unknown;
  status?: ApiStatus;
}

/** Something that may succeed later: network failures, 5xx, 429, 401/403 while RBAC settles. */
export class TransientError extends Error {
  override name = "TransientError";
  readonly status: ApiStatus | undefined;
  /** Delay the server asked for (Retry-After), in milliseconds; the queue waits at least this. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Retrying cannot help until the input changes: invalid spec, a request the apiserver rejects as
 * malformed. The reconciler reports Stalled; the queue does not retry.
 */
export class TerminalError extends Error {
  override name = "TerminalError";
  readonly status: ApiStatus | undefined;
  /** PascalCase reason for the Stalled condition, e.g. `InvalidTemplate`. */
  readonly reason: string;

  constructor(message: string, options: ErrorOptions & { reason?: string } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.reason = options.reason ?? options.status?.reason ?? "TerminalError";
  }
}

/** The object (or its kind) does not exist. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  readonly status: ApiStatus | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

/**
 * Optimistic-concurrency conflict (stale resourceVersion), an apply conflict with another field
 * manager, or AlreadyExists on create. Retrying after a fresh read usually succeeds.
 */
export class ConflictError extends TransientError {
  override name = "ConflictError";
}

/** The resourceVersion a list or watch asked for is too old (410 Gone / Expired): relist. */
export class GoneError extends TransientError {
  override name = "GoneError";
}

/** A text for `err` that never throws, for logs and messages. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/** Reads a Kubernetes `Status` body; falls back to the HTTP code when the body is something else. */
export function apiStatusFromBody(code: number, body: unknown): ApiStatus {
  const fallback: ApiStatus = { code, reason: reasonForCode(code), message: `HTTP ${code}` };
  if (typeof body !== "object" || body === null) {
    return typeof body === "string" && body.length > 0 ? { ...fallback, message: body } : fallback;
  }
  const record = body as Record<string, unknown>;
  return {
    code,
    reason:
      typeof record.reason === "string" && record.reason !== "" ? record.reason : fallback.reason,
    message: typeof record.message === "string" ? record.message : fallback.message,
  };
}

function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}

/**
 * Maps a failed apiserver response to the typed error the rest of the controller branches on.
 * `what` names the request (`PATCH configmaps ns/name`) so messages say what failed.
 */
export function errorFromStatus(
  what: string,
  status: ApiStatus,
  options: { retryAfterMs?: number } = {},
): Error {
  const message = `${what}: ${status.message} (${status.reason}, HTTP ${status.code})`;
  const base = { status, retryAfterMs: options.retryAfterMs };
  switch (status.code) {
    case 404:
      return new NotFoundError(message, { status });
    case 409:
      return new ConflictError(message, base);
    case 410:
      return new GoneError(message, base);
    // The request itself is wrong: the same request will fail the same way.
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422:
      return new TerminalError(message, { status });
    // 401/403 are retried: credentials rotate and RBAC is often applied after the controller.
    default:
      return new TransientError(message, base);
  }
}

/** True when `err` (or an error in its cause chain) is a NotFoundError. */
export function isNotFound(err: unknown): boolean {
  return findInCauseChain(err, NotFoundError) !== undefined;
}

/** True when `err` (or an error in its cause chain) is a ConflictError. */
export function isConflict(err: unknown): boolean {
  return findInCauseChain(err, ConflictError) !== undefined;
}

/** The first error of class `type` in the cause chain of `err`, if any. */
export function findInCauseChain<T extends Error>(
  err: unknown,
  type: abstract new (...args: never[]) => T,
): T | undefined {
  let current: unknown = err;
  // Cause chains are short; the bound protects against cycles.
  for (let depth = 0; depth < 16 && current instanceof Error; depth++) {
    if (current instanceof type) return current;
    current = current.cause;
  }
  return undefined;
}
