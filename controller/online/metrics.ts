// Which metrics of an online Experiment are 0/1 rates. Pure.
import type { ExperimentEvaluator } from "../api/generated/index.js";

const passFail = new Set<ExperimentEvaluator["type"]>([
  "exactMatch",
  "contains",
  "regex",
  "jsonSchema",
  "numeric",
]);

/** Whether a metric's values are 0/1 (reported as a rate): binary outcomes and pass/fail types. */
export function isBinaryMetric(evaluator: ExperimentEvaluator | undefined): boolean {
  if (evaluator === undefined) return false;
  if (evaluator.type === "outcome") return evaluator.outcome?.kind === "binary";
  return passFail.has(evaluator.type);
}
