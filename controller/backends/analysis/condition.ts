// The success and failure conditions of a canary analysis metric (`result < 0.01`), and the verdict
// on one measured value, with Argo Rollouts' semantics. Pure.
import type { ModelDeploymentStrategyCanaryAnalysisMetric } from "../../api/generated/index.js";

export type ConditionOperator = "<" | "<=" | ">" | ">=" | "==" | "!=";

/** A parsed condition: `result <operator> <threshold>`. */
export interface Condition {
  operator: ConditionOperator;
  threshold: number;
}

/** What one measured value means for the rollout. */
export type Verdict = "Successful" | "Failed" | "Inconclusive";

/** A condition that is not `result`, an operator and a number (the CRD's pattern rejects it first). */
export class ConditionSyntaxError extends Error {
  override name = "ConditionSyntaxError";
}

// The CRD's pattern, with the operator and the number captured. `<=` before `<` so that the
// longer operator wins.
const conditionPattern = /^result *(<=|>=|==|!=|<|>) *(-?[0-9]+(?:\.[0-9]+)?)$/;

/** Parses `text` (e.g. `result >= 0.95`); throws ConditionSyntaxError naming the expected form. */
export function parseCondition(text: string): Condition {
  const match = conditionPattern.exec(text);
  if (match === null) {
    throw new ConditionSyntaxError(
      `"${text}" is not a condition; write result, an operator (<, <=, >, >=, ==, !=) and a number, such as "result < 0.01"`,
    );
  }
  return { operator: match[1] as ConditionOperator, threshold: Number(match[2]) };
}

/** Whether `value` meets `condition`. */
export function conditionMet(condition: Condition, value: number): boolean {
  const { operator, threshold } = condition;
  switch (operator) {
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "==":
      return value === threshold;
    case "!=":
      return value !== threshold;
  }
}

/**
 * The verdict on `value`, as Argo Rollouts judges it. With only successCondition: met is
 * Successful, otherwise Failed. With failureCondition too: failure met is Failed (it wins when
 * both are met), else success met is Successful, else Inconclusive (the rollout pauses).
 * `value` must be finite: a NaN or infinite result is a measurement error, never a verdict, so it
 * throws RangeError here (a provider bug). Throws ConditionSyntaxError for a malformed condition.
 */
export function judgeMeasurement(
  metric: Pick<
    ModelDeploymentStrategyCanaryAnalysisMetric,
    "successCondition" | "failureCondition"
  >,
  value: number,
): Verdict {
  if (!Number.isFinite(value)) {
    throw new RangeError(`a measurement must be a finite number to be judged, got ${value}`);
  }
  const success = conditionMet(parseCondition(metric.successCondition), value);
  if (metric.failureCondition === undefined) return success ? "Successful" : "Failed";
  if (conditionMet(parseCondition(metric.failureCondition), value)) return "Failed";
  return success ? "Successful" : "Inconclusive";
}
