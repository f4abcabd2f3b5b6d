import { describe, expect, it } from "vitest";
import {
  PriceTableError,
  costOf,
  defaultPriceTable,
  lookupPrice,
  mergePriceTables,
  parsePriceTable,
} from "./pricing.js";

describe("lookupPrice", () => {
  const table = defaultPriceTable();
  it.each([
    { model: "gpt-4o", want: "gpt-4o" },
    { model: "gpt-4o-mini", want: "gpt-4o-mini" },
    { model: "gpt-4o-2024-08-06", want: "gpt-4o" },
    { model: "gpt-4o-mini-2024-07-18", want: "gpt-4o-mini" },
    { model: "openai/gpt-4.1-mini", want: "gpt-4.1-mini" },
    { model: "claude-3-5-haiku-20241022", want: "claude-3-5-haiku" },
    { model: "anthropic/claude-sonnet-4", want: "claude-sonnet-4" },
    { model: "claude-3-5-sonnet-latest", want: "claude-3-5-sonnet" },
    { model: "o3-pro", want: null },
    { model: "meta-llama/Llama-3.1-8B-Instruct", want: null },
  ])("$model → $want", ({ model, want }) => {
    expect(lookupPrice(table, model)).toBe(want === null ? null : table[want]);
  });
});

describe("costOf", () => {
  const table = defaultPriceTable();
  it("charges input and output per million tokens", () => {
    const usage = { inputTokens: 1000, outputTokens: 500, totalTokens: 1500 };
    // gpt-4o: $2.50 in, $10 out per million.
    expect(costOf(table, "gpt-4o", usage)).toBeCloseTo(0.0025 + 0.005, 12);
  });
  it("is unknown, not zero, without a price or usage", () => {
    expect(
      costOf(table, "my-local-model", { inputTokens: 1, outputTokens: 1, totalTokens: 2 }),
    ).toBeNull();
    expect(costOf(table, "gpt-4o", null)).toBeNull();
  });
});

describe("parsePriceTable and mergePriceTables", () => {
  it("reads YAML from a ConfigMap and overrides the defaults", () => {
    const override = parsePriceTable(
      [
        "gpt-4o: { inputPerMillion: 2, outputPerMillion: 8 }",
        "my-llama:",
        "  inputPerMillion: 0",
        "  outputPerMillion: 0",
        "gpt-3.5-turbo: null",
      ].join("\n"),
      "configmap/llm-prices:prices.yaml",
    );
    const merged = mergePriceTables(defaultPriceTable(), override);
    expect(merged["gpt-4o"]).toStrictEqual({ inputPerMillion: 2, outputPerMillion: 8 });
    expect(merged["my-llama"]).toStrictEqual({ inputPerMillion: 0, outputPerMillion: 0 });
    expect(merged["gpt-3.5-turbo"]).toBeUndefined();
    expect(merged["gpt-4o-mini"]).toStrictEqual(defaultPriceTable()["gpt-4o-mini"]);
  });

  it("reads JSON too", () => {
    expect(
      parsePriceTable('{"m": {"inputPerMillion": 1, "outputPerMillion": 2}}', "p.json"),
    ).toStrictEqual({
      m: { inputPerMillion: 1, outputPerMillion: 2 },
    });
  });

  it("treats an empty document as no overrides", () => {
    expect(parsePriceTable("", "p.yaml")).toStrictEqual({});
  });

  it.each([
    { text: "[1, 2]", want: /p.yaml: expected a map of model id → price/ },
    { text: "m: 3", want: /p.yaml: m must be \{ inputPerMillion, outputPerMillion \}/ },
    {
      text: "m: { inputPerMillion: -1, outputPerMillion: 1 }",
      want: /m.inputPerMillion must be a non-negative number/,
    },
    { text: "m: { inputPerMillion: 1 }", want: /m.outputPerMillion must be/ },
    {
      text: "m: { inputPerMillion: 1, outputPerMillion: 2, input: 3 }",
      want: /m has unknown field input/,
    },
    { text: "m: [", want: /p.yaml: not valid YAML or JSON/ },
  ])("rejects $text with a message naming the field", ({ text, want }) => {
    expect(() => parsePriceTable(text, "p.yaml")).toThrow(PriceTableError);
    expect(() => parsePriceTable(text, "p.yaml")).toThrow(want);
  });

  it("does not mutate the base table", () => {
    const base = defaultPriceTable();
    mergePriceTables(base, { "gpt-4o": null });
    expect(base["gpt-4o"]).toBeDefined();
  });
});
