// What the HTTP API answers when a request cannot be served: a status, a PascalCase code for
// programs, and a message for people that names the field and says what to do.

/** A request that is answered with `status` and `{ "error": { code, message, field? } }`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { field?: string; retryAfterSeconds?: number; details?: unknown } = {},
  ) {
    super(message);
  }
}

/** The JSON body of an error answer. */
export function errorBody(error: ApiError): { error: Record<string, unknown> } {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.extra.field !== undefined ? { field: error.extra.field } : {}),
      ...(error.extra.details !== undefined ? { details: error.extra.details } : {}),
    },
  };
}
