import { describe, expect, it } from "vitest";
import type { ChatModelClient } from "../backends/llm/types.js";
import { createEvaluator, type EvaluatorSpec } from "./create-evaluator.js";
import { EvaluatorConfigError } from "./types.js";

const judgeClient: ChatModelClient = {
  complete: () => Promise.reject(new Error("unused")),
  listModels: () => Promise.resolve([]),
};

describe("createEvaluator", () => {
  it.each([
    {
      spec: { name: "re", type: "regex", pattern: "(" },
      want: /^evaluators\[re\]: regex \/\(\/ does not compile/,
    },
    {
      spec: { name: "js", type: "jsonSchema", schema: { type: 5 } },
      want: /^evaluators\[js\]: jsonSchema: the schema does not compile/,
    },
    {
      spec: { name: "num", type: "numeric", absoluteTolerance: -1 },
      want: "evaluators[num].absoluteTolerance must be a non-negative number, got -1",
    },
    {
      spec: { name: "judge", type: "llmJudge", model: "m", rubric: "r", scale: { min: 5, max: 5 } },
      want: "evaluators[judge]: llmJudge scale 5–5: min must be below max",
    },
    {
      spec: { name: "judge", type: "llmJudge", model: "m", rubric: " ", scale: { min: 1, max: 5 } },
      want: "evaluators[judge]: llmJudge rubric is empty",
    },
    {
      spec: { name: "hook", type: "webhook", url: "ftp://x" },
      want: "evaluators[hook]: webhook url must be http or https, got ftp:",
    },
  ] satisfies { spec: EvaluatorSpec; want: string | RegExp }[])(
    "rejects $spec.name: $want",
    ({ spec, want }) => {
      expect(() => createEvaluator(spec, { judgeClient, webhookSecret: "s" })).toThrow(
        EvaluatorConfigError,
      );
      expect(() => createEvaluator(spec, { judgeClient, webhookSecret: "s" })).toThrow(want);
    },
  );

  it("needs a judge client and a webhook secret", () => {
    expect(() =>
      createEvaluator({
        name: "j",
        type: "llmJudge",
        model: "m",
        rubric: "r",
        scale: { min: 1, max: 5 },
      }),
    ).toThrow("evaluators[j]: llmJudge needs a client for model m");
    expect(() => createEvaluator({ name: "h", type: "webhook", url: "https://x" })).toThrow(
      "evaluators[h]: webhook secret is empty",
    );
  });

  it("builds working evaluators", async () => {
    const item = { id: "1", expected: "Paris" };
    const specs: EvaluatorSpec[] = [
      { name: "em", type: "exactMatch", normalize: { caseInsensitive: true, trim: true } },
      { name: "has", type: "contains" },
      { name: "re", type: "regex", pattern: "paris", flags: "i" },
      { name: "lat", type: "latency", maxMs: 100 },
      { name: "cost", type: "cost", maxUSD: 0.01 },
    ];
    const results = await Promise.all(
      specs.map((spec) =>
        createEvaluator(spec).evaluate({ item, output: " paris ", latencyMs: 50, costUSD: 0.001 }),
      ),
    );
    expect(results.map((r) => r.passed)).toStrictEqual([true, false, true, true, true]);
  });
});
