import { describe, expect, it } from "vitest";
import { compileRegex, contains, exactMatch, normalizeText, regexMatch } from "./text.js";
import { EvaluatorConfigError, type EvaluationInput } from "./types.js";

const input = (output: string | null, expected?: unknown): EvaluationInput => ({
  item: { id: "i1", expected },
  output,
});

describe("normalizeText", () => {
  it.each([
    { text: "  Paris \n", options: { trim: true }, want: "Paris" },
    { text: "PaRiS", options: { caseInsensitive: true }, want: "paris" },
    { text: " a \t b\n\nc ", options: { collapseWhitespace: true }, want: "a b c" },
    { text: "Hello, world! (yes)", options: { stripPunctuation: true }, want: "Hello world yes" },
    { text: "$42 + 1", options: { stripPunctuation: true }, want: "$42 + 1" },
    { text: "«Ça va?»", options: { stripPunctuation: true, caseInsensitive: true }, want: "ça va" },
    { text: " x ", options: {}, want: " x " },
  ])("$text with $options → $want", ({ text, options, want }) => {
    expect(normalizeText(text, options)).toBe(want);
  });
});

describe("exactMatch", () => {
  it.each([
    { name: "identical", output: "42", expected: "42", normalize: {}, want: true },
    {
      name: "whitespace differs, no normalisation",
      output: "42 ",
      expected: "42",
      normalize: {},
      want: false,
    },
    { name: "trimmed", output: " 42\n", expected: "42", normalize: { trim: true }, want: true },
    {
      name: "all options",
      output: "  the  Answer: PARIS. ",
      expected: "The answer Paris",
      normalize: {
        trim: true,
        caseInsensitive: true,
        collapseWhitespace: true,
        stripPunctuation: true,
      },
      want: true,
    },
    { name: "numeric expected", output: "7", expected: 7, normalize: {}, want: true },
    { name: "no output fails", output: null, expected: "7", normalize: {}, want: false },
  ])("$name", ({ output, expected, normalize, want }) => {
    const r = exactMatch(input(output, expected), { normalize });
    expect(r.passed).toBe(want);
    expect(r.score).toBe(want ? 1 : 0);
  });

  it("is an evaluator error, not a fail, without an expected answer", () => {
    const r = exactMatch(input("x"));
    expect(r).toMatchObject({ score: null, passed: null });
    expect(r.error).toBe("item i1 has no expected answer to match");
  });
});

describe("contains", () => {
  it("looks for the expected answer by default", () => {
    expect(contains(input("The capital is Paris.", "Paris")).passed).toBe(true);
  });
  it("needs all values by default, any when asked", () => {
    const i = input("red and blue");
    expect(contains(i, { values: ["red", "green"] }).passed).toBe(false);
    expect(contains(i, { values: ["red", "green"], mode: "any" }).passed).toBe(true);
  });
  it("normalises both sides", () => {
    expect(
      contains(input("PARIS!"), { values: ["paris"], normalize: { caseInsensitive: true } }).passed,
    ).toBe(true);
  });
});

describe("regex", () => {
  it("passes on a match, or on no match with mustMatch false", () => {
    const regex = compileRegex("^\\d{3}-\\d{4}$");
    expect(regexMatch(input("555-1234"), { regex }).passed).toBe(true);
    expect(regexMatch(input("call me"), { regex }).passed).toBe(false);
    expect(regexMatch(input("call me"), { regex, mustMatch: false }).passed).toBe(true);
  });
  it("rejects patterns that do not compile and stateful flags", () => {
    expect(() => compileRegex("(")).toThrow(EvaluatorConfigError);
    expect(() => compileRegex("a", "g")).toThrow(/stateful/);
  });
});

describe("exactMatch with a JSON Pointer field", () => {
  it.each([
    ["object expected", '{"category":"billing","why":"x"}', { category: "billing" }, true],
    ["scalar expected", '{"category":"billing"}', "billing", true],
    ["fenced answer", '```json\n{"category": "Billing"}\n```', "billing", false],
    ["nested and escaped", '{"a/b":{"c":[1,2]}}', { "a/b": { c: [1, 2] } }, true],
    ["wrong value", '{"category":"refund"}', { category: "billing" }, false],
  ] as const)("%s", (_name, output, expected, passed) => {
    const field = _name === "nested and escaped" ? "/a~1b/c/1" : "/category";
    expect(exactMatch(input(output, expected), { field }).passed).toBe(passed);
  });
  it("an answer that is not JSON or lacks the field fails with the reason", () => {
    expect(exactMatch(input("billing", "billing"), { field: "/category" })).toMatchObject({
      passed: false,
      detail: { reason: "the answer is not JSON" },
    });
    expect(exactMatch(input("{}", "billing"), { field: "/category" })).toMatchObject({
      passed: false,
      detail: { reason: "the answer has no /category" },
    });
  });
  it("an expected value without the field is an evaluator failure, not a zero", () => {
    const r = exactMatch(input('{"category":"x"}', { other: 1 }), { field: "/category" });
    expect(r.score).toBeNull();
    expect(r.error).toMatch(/expected value has no \/category/);
  });
  it("normalisation applies to the field", () => {
    const r = exactMatch(input('{"category":" Billing "}', "billing"), {
      field: "/category",
      normalize: { trim: true, caseInsensitive: true },
    });
    expect(r.passed).toBe(true);
  });
});
