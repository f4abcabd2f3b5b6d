// Evaluators score one model output each: text, numbers, JSON, thresholds, an LLM judge and a
// webhook. `createEvaluator` builds one from a spec.
export * from "./types.js";
export * from "./text.js";
export * from "./numeric.js";
export * from "./json-schema.js";
export * from "./thresholds.js";
export * from "./llm-judge.js";
export * from "./webhook.js";
export * from "./create-evaluator.js";
