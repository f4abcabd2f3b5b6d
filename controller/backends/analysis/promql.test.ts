import { describe, expect, it } from "vitest";
import type { Measurement } from "./provider.js";
import { promqlString, readQueryResponse, renderQuery, sampleValue } from "./promql.js";

describe("promqlString", () => {
  const rows: { value: string; want: string }[] = [
    { value: "coder-7b-3f9a1c2d4e", want: "coder-7b-3f9a1c2d4e" },
    { value: 'a"b', want: "a\\x22b" },
    { value: "a'b", want: "a\\x27b" },
    { value: "a\\b", want: "a\\\\b" },
    { value: "a\nb\tc\rd", want: "a\\nb\\tc\\rd" },
    { value: "a\u0000b\u007f", want: "a\\x00b\\x7f" },
    { value: "", want: "" },
  ];
  it.each(rows)("$value", ({ value, want }) => {
    expect(promqlString(value)).toBe(want);
  });
});

describe("renderQuery", () => {
  const variables = { revision: "coder-7b-3f9a1c2d4e", service: "coder-7b-3f9a1c2d4e-svc" };
  const rows: { name: string; query: string; want: string }[] = [
    {
      name: "both placeholders",
      query: 'sum(rate(x{revision="{{revision}}",service="{{service}}"}[5m]))',
      want: 'sum(rate(x{revision="coder-7b-3f9a1c2d4e",service="coder-7b-3f9a1c2d4e-svc"}[5m]))',
    },
    {
      name: "every occurrence, spaces inside the braces",
      query: 'a{r="{{ revision }}"} / b{r="{{revision}}"}',
      want: 'a{r="coder-7b-3f9a1c2d4e"} / b{r="coder-7b-3f9a1c2d4e"}',
    },
    { name: "no placeholder", query: "vector(1)", want: "vector(1)" },
    {
      name: "other mustache names are left alone",
      query: 'x{a="{{model}}"}',
      want: 'x{a="{{model}}"}',
    },
  ];
  it.each(rows)("$name", ({ query, want }) => {
    expect(renderQuery(query, variables)).toBe(want);
  });

  it("escapes the values", () => {
    expect(
      renderQuery('x{r="{{revision}}"}', { revision: 'a"} or vector(1) #', service: "" }),
    ).toBe('x{r="a\\x22} or vector(1) #"}');
  });
});

describe("sampleValue", () => {
  const rows: { text: unknown; want: Measurement | RegExp }[] = [
    { text: "0.002", want: { ok: true, value: 0.002 } },
    { text: "-3", want: { ok: true, value: -3 } },
    { text: "1e-7", want: { ok: true, value: 1e-7 } },
    { text: "NaN", want: /NaN/ },
    { text: "+Inf", want: /\+Inf/ },
    { text: "-Inf", want: /-Inf/ },
    { text: "", want: /not a number/ },
    { text: "abc", want: /not a number/ },
    { text: undefined, want: /no value/ },
  ];
  it.each(rows)("$text", ({ text, want }) => {
    const got = sampleValue(text);
    if (want instanceof RegExp) {
      expect(got.ok).toBe(false);
      expect(got.ok ? "" : got.error).toMatch(want);
    } else {
      expect(got).toEqual(want);
    }
  });
});

describe("readQueryResponse", () => {
  const ok = (data: unknown) => ({
    status: 200,
    body: JSON.stringify({ status: "success", data }),
  });
  const rows: {
    name: string;
    response: { status: number; body: string };
    want: Measurement | RegExp;
  }[] = [
    {
      name: "a vector of one sample",
      response: ok({
        resultType: "vector",
        result: [{ metric: { revision: "r1" }, value: [1700000000.5, "0.002"] }],
      }),
      want: { ok: true, value: 0.002 },
    },
    {
      name: "a scalar",
      response: ok({ resultType: "scalar", result: [1700000000, "42"] }),
      want: { ok: true, value: 42 },
    },
    {
      name: "an empty vector",
      response: ok({ resultType: "vector", result: [] }),
      want: /^empty result/,
    },
    {
      name: "several samples, with their labels",
      response: ok({
        resultType: "vector",
        result: [
          { metric: { code: "200" }, value: [1, "1"] },
          { metric: { code: "500" }, value: [1, "2"] },
        ],
      }),
      want: /2 series, not one \(\{code="200"\}, \{code="500"\}\); aggregate/,
    },
    {
      name: "a NaN sample",
      response: ok({ resultType: "vector", result: [{ metric: {}, value: [1, "NaN"] }] }),
      want: /NaN/,
    },
    {
      name: "an infinite scalar",
      response: ok({ resultType: "scalar", result: [1, "+Inf"] }),
      want: /\+Inf/,
    },
    {
      name: "a range vector",
      response: ok({ resultType: "matrix", result: [] }),
      want: /range vector/,
    },
    {
      name: "a string",
      response: ok({ resultType: "string", result: [1, "x"] }),
      want: /string/,
    },
    {
      name: "Prometheus' error body",
      response: {
        status: 400,
        body: JSON.stringify({
          status: "error",
          errorType: "bad_data",
          error: 'invalid parameter "query": 1:6: parse error: unexpected end of input',
        }),
      },
      want: /^HTTP 400 bad_data: invalid parameter "query": 1:6: parse error: unexpected end of input$/,
    },
    {
      name: "an execution error with status 200 and status error",
      response: {
        status: 200,
        body: JSON.stringify({ status: "error", errorType: "execution", error: "boom" }),
      },
      want: /^HTTP 200 execution: boom$/,
    },
    {
      name: "an HTML error page from a proxy",
      response: { status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>" },
      want: /^HTTP 502: 502 Bad Gateway$/,
    },
    {
      name: "a success that is not JSON",
      response: { status: 200, body: "hello" },
      want: /not JSON: hello/,
    },
  ];
  it.each(rows)("$name", ({ response, want }) => {
    const got = readQueryResponse(response);
    if (want instanceof RegExp) {
      expect(got.ok).toBe(false);
      expect(got.ok ? "" : got.error).toMatch(want);
    } else {
      expect(got).toEqual(want);
    }
  });
});
