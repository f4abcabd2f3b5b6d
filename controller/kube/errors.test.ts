import { describe, expect, it } from "vitest";
import {
  ConflictError,
  GoneError,
  NotFoundError,
  TerminalError,
  TransientError,
  apiStatusFromBody,
  errorFromStatus,
  errorMessage,
  findInCauseChain,
  isConflict,
  isNotFound,
} from "./errors.js";

describe("errorFromStatus", () => {
  const cases = [
    { code: 404, reason: "NotFound", type: NotFoundError },
    { code: 409, reason: "Conflict", type: ConflictError },
    { code: 409, reason: "AlreadyExists", type: ConflictError },
    { code: 410, reason: "Expired", type: GoneError },
    { code: 400, reason: "BadRequest", type: TerminalError },
    { code: 422, reason: "Invalid", type: TerminalError },
    { code: 415, reason: "UnsupportedMediaType", type: TerminalError },
    { code: 401, reason: "Unauthorized", type: TransientError },
    { code: 403, reason: "Forbidden", type: TransientError },
    { code: 429, reason: "TooManyRequests", type: TransientError },
    { code: 500, reason: "InternalError", type: TransientError },
    { code: 503, reason: "ServiceUnavailable", type: TransientError },
  ];
  it.each(cases)("HTTP $code $reason → $type.name", ({ code, reason, type }) => {
    const err = errorFromStatus("PATCH Prompt ns/a", { code, reason, message: "m" });
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(`PATCH Prompt ns/a: m (${reason}, HTTP ${code})`);
    expect((err as { status?: unknown }).status).toEqual({ code, reason, message: "m" });
  });

  it("conflicts and gone are transient (retried by the queue)", () => {
    expect(errorFromStatus("x", { code: 409, reason: "Conflict", message: "" })).toBeInstanceOf(
      TransientError,
    );
    expect(errorFromStatus("x", { code: 410, reason: "Expired", message: "" })).toBeInstanceOf(
      TransientError,
    );
  });

  it("carries Retry-After", () => {
    const err = errorFromStatus(
      "x",
      { code: 429, reason: "TooManyRequests", message: "" },
      { retryAfterMs: 3000 },
    );
    expect((err as TransientError).retryAfterMs).toBe(3000);
  });

  it("terminal errors take the apiserver's reason", () => {
    const err = errorFromStatus("x", {
      code: 422,
      reason: "Invalid",
      message: "",
    }) as TerminalError;
    expect(err.reason).toBe("Invalid");
  });
});

describe("apiStatusFromBody", () => {
  it("reads a Status object", () => {
    expect(
      apiStatusFromBody(404, {
        kind: "Status",
        reason: "NotFound",
        message: 'configmaps "x" not found',
      }),
    ).toEqual({ code: 404, reason: "NotFound", message: 'configmaps "x" not found' });
  });
  it("falls back on the code for other bodies", () => {
    expect(apiStatusFromBody(503, undefined)).toEqual({
      code: 503,
      reason: "InternalError",
      message: "HTTP 503",
    });
    expect(apiStatusFromBody(502, "bad gateway")).toEqual({
      code: 502,
      reason: "InternalError",
      message: "bad gateway",
    });
    expect(apiStatusFromBody(429, { reason: "" })).toMatchObject({ reason: "TooManyRequests" });
  });
});

describe("cause chains", () => {
  it("finds typed errors through wrapping", () => {
    const inner = new NotFoundError("gone");
    const outer = new Error("reconcile failed", {
      cause: new Error("observe failed", { cause: inner }),
    });
    expect(findInCauseChain(outer, NotFoundError)).toBe(inner);
    expect(isNotFound(outer)).toBe(true);
    expect(isConflict(outer)).toBe(false);
    expect(isConflict(new ConflictError("c"))).toBe(true);
  });
  it("keeps the cause", () => {
    const cause = new Error("socket hang up");
    expect(new TransientError("GET failed", { cause }).cause).toBe(cause);
    expect(new TerminalError("bad", { cause }).cause).toBe(cause);
  });
});

describe("helpers", () => {
  it("errorMessage never throws", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorMessage(new Error("x"))).toBe("x");
    expect(errorMessage("s")).toBe("s");
    expect(errorMessage({ a: 1 })).toBe('{"a":1}');
    expect(errorMessage(cyclic)).toBe("[object Object]");
  });
});
