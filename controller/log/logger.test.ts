import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, parseLogLevel, redactedValue } from "./logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) {
        if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { lines, logger: createLogger({ destination, level: "debug" }) };
}

describe("createLogger redaction", () => {
  const cases: { name: string; fields: Record<string, unknown>; want: Record<string, unknown> }[] =
    [
      { name: "top-level token", fields: { token: "t0k" }, want: { token: redactedValue } },
      {
        name: "nested apiKey",
        fields: { langfuse: { apiKey: "sk-1", host: "h" } },
        want: { langfuse: { apiKey: redactedValue, host: "h" } },
      },
      {
        name: "two levels down",
        fields: { a: { b: { secretKey: "s" } } },
        want: { a: { b: { secretKey: redactedValue } } },
      },
      {
        name: "deeper than the compiled paths",
        fields: { a: { b: { c: { password: "p" } } } },
        want: { a: { b: { c: { password: redactedValue } } } },
      },
      {
        name: "authorization header",
        fields: { headers: { authorization: "Bearer x" } },
        want: { headers: { authorization: redactedValue } },
      },
      {
        name: "Secret data anywhere",
        fields: {
          observed: {
            secret: { kind: "Secret", metadata: { name: "creds" }, data: { k: "djE=" } },
          },
        },
        want: {
          observed: {
            secret: { kind: "Secret", metadata: { name: "creds" }, data: redactedValue },
          },
        },
      },
      {
        name: "ConfigMap data is kept",
        fields: { cm: { kind: "ConfigMap", data: { a: "b" } } },
        want: { cm: { kind: "ConfigMap", data: { a: "b" } } },
      },
    ];
  it.each(cases)("$name", ({ fields, want }) => {
    const { lines, logger } = capture();
    logger.info(fields, "line");
    logger.flush();
    expect(lines[0]).toMatchObject(want);
    expect(JSON.stringify(lines[0])).not.toMatch(/t0k|sk-1|Bearer x|djE=|"p"|"s"/);
  });

  it("binds the object key on child loggers", () => {
    const { lines, logger } = capture();
    logger.child({ kind: "Prompt", namespace: "a", name: "b" }).info("reconciled");
    expect(lines[0]).toMatchObject({
      kind: "Prompt",
      namespace: "a",
      name: "b",
      msg: "reconciled",
      level: "info",
    });
  });

  it("does not modify the logged object", () => {
    const { logger } = capture();
    const secret = { kind: "Secret", data: { k: "v" } };
    logger.info({ secret }, "x");
    expect(secret.data).toEqual({ k: "v" });
  });
});

describe("parseLogLevel", () => {
  it("accepts pino levels and rejects others", () => {
    expect(parseLogLevel("debug")).toBe("debug");
    expect(() => parseLogLevel("verbose")).toThrow(/log level must be one of/);
  });
});

describe("child bindings", () => {
  it("censor secret names bound at the top level", () => {
    const { lines, logger } = capture();
    logger.child({ token: "t0k", apiKey: "k" }).info("x");
    expect(lines[0]).toMatchObject({ token: redactedValue, apiKey: redactedValue });
  });
});
