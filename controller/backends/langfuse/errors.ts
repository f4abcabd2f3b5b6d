// Typed failures of Langfuse public-API requests made through @langfuse/client, and of OTLP span
// exports made through @opentelemetry/exporter-trace-otlp-http, for every Langfuse use: the dataset
// reader and the call tracker throw LangfuseRequestError (and its subclasses); the prompt registry
// reads the client's status with langfuseStatus. Callers branch on the class or on `retryable`:
// refused keys and a missing dataset need a spec or Secret fix; the rest may pass on a retry.
// Messages name the request and Langfuse's own error text, never the keys (the client's errors
// carry response data only, no request headers).
//
// The client's error classes live in @langfuse/core, which is not our direct dependency, so they
// are recognised by shape: LangfuseAPIError has `statusCode` and `body`; the timeout error has
// neither, only its message ("Timeout exceeded when calling …"). The OTLP exporter's
// OTLPExporterError has the HTTP status in `code` and the response body in `data`; an export that
// ran out of retries or time has no status.

/** A Langfuse request failed; `request` is e.g. `POST /api/public/otel/v1/traces`. */
export class LangfuseRequestError extends Error {
  override name = "LangfuseRequestError";
  constructor(
    message: string,
    readonly request: string,
    /** HTTP status, or null when no response came (timeout, connection refused). */
    readonly status: number | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Timeouts, connection failures, 408, 429 and 5xx may pass later; other 4xx will not. */
  get retryable(): boolean {
    const s = this.status;
    return s === null || s === 408 || s === 429 || s >= 500;
  }
}

/** Langfuse refused the public/secret key pair (401) or its project lacks access (403). */
export class LangfuseAuthError extends LangfuseRequestError {
  override name = "LangfuseAuthError";
}

/** The named object (dataset, dataset item, run) does not exist in the key's project. */
export class LangfuseNotFoundError extends LangfuseRequestError {
  override name = "LangfuseNotFoundError";
}

/** The HTTP status of an error @langfuse/client threw; undefined when no response came. */
export function langfuseStatus(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** Langfuse's error text from a response body (`{ message, error }`), when it has one. */
function bodyMessage(body: unknown): string | null {
  if (typeof body === "string" && body.trim() !== "") {
    try {
      const parsed = JSON.parse(body) as unknown;
      if (parsed !== null && typeof parsed === "object") return bodyMessage(parsed);
    } catch {
      // Not JSON: the text itself.
    }
    return body.trim().slice(0, 300);
  }
  if (body !== null && typeof body === "object") {
    const { message, error } = body as { message?: unknown; error?: unknown };
    if (typeof message === "string" && message !== "") return message.slice(0, 300);
    if (typeof error === "string" && error !== "") return error.slice(0, 300);
  }
  return null;
}

/**
 * Wraps what @langfuse/client threw for `request` into a typed error; `what` says what the
 * request was for (e.g. `reading dataset "qa"`), `baseUrl` which server was asked.
 */
export function toLangfuseError(
  err: unknown,
  context: { request: string; what: string; baseUrl: string },
): LangfuseRequestError {
  if (err instanceof LangfuseRequestError) return err;
  const { request, what, baseUrl } = context;
  if (err instanceof Error && err.message.startsWith("Timeout exceeded")) {
    return new LangfuseRequestError(
      `Langfuse at ${baseUrl} did not answer ${request} (${what}) in time`,
      request,
      null,
      { cause: err },
    );
  }
  const status = langfuseStatus(err);
  if (err instanceof Error && status !== undefined) {
    return httpError(status, (err as { body?: unknown }).body, err, context);
  }
  return unanswered(err, { request, what, baseUrl });
}

function httpError(
  status: number,
  body: unknown,
  cause: unknown,
  context: { request: string; what: string; baseUrl: string },
): LangfuseRequestError {
  const { request, what, baseUrl } = context;
  const detail = bodyMessage(body);
  const said = detail === null ? "" : `: ${detail}`;
  if (status === 401 || status === 403) {
    return new LangfuseAuthError(
      `Langfuse at ${baseUrl} refused the API keys for ${request} (${what}), HTTP ${String(status)}${said}; ` +
        `check the public/secret key pair in the Secret and that they belong to a project on this host`,
      request,
      status,
      { cause },
    );
  }
  if (status === 404) {
    return new LangfuseNotFoundError(
      `Langfuse at ${baseUrl} answered 404 to ${request} (${what})${said}`,
      request,
      status,
      { cause },
    );
  }
  return new LangfuseRequestError(
    `Langfuse at ${baseUrl} failed ${request} (${what}) with HTTP ${String(status)}${said}`,
    request,
    status,
    { cause },
  );
}

/**
 * Wraps the error of a failed OTLP export (the `error` of the exporter's FAILED result) into a
 * typed error: an HTTP status when Langfuse answered, none when retries or time ran out.
 */
export function otlpExportError(
  err: unknown,
  context: { request: string; what: string; baseUrl: string },
): LangfuseRequestError {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "number") {
    return httpError(code, (err as { data?: unknown }).data, err, context);
  }
  const { request, what, baseUrl } = context;
  return unanswered(err, { request, what, baseUrl });
}

/** A request that got no HTTP answer (connection refused, reset, DNS). */
function unanswered(
  err: unknown,
  { request, what, baseUrl }: { request: string; what: string; baseUrl: string },
): LangfuseRequestError {
  const reason = err instanceof Error ? err.message : String(err);
  return new LangfuseRequestError(
    `Langfuse at ${baseUrl}: ${request} (${what}) failed: ${reason}`,
    request,
    null,
    { cause: err },
  );
}
