// Latency and cost evaluators: pass when the call stayed within a limit. Pure.
import { failure, verdict, type EvaluationInput, type EvaluationResult } from "./types.js";

/** latency: the model call took at most `maxMs`. */
export function latencyWithin(
  input: EvaluationInput,
  options: { maxMs: number },
): EvaluationResult {
  const latency = input.latencyMs;
  if (latency === undefined || latency === null) return failure("latency was not recorded");
  return verdict(latency <= options.maxMs, { latencyMs: latency, maxMs: options.maxMs });
}

/** cost: the model call cost at most `maxUSD`; unknown cost (no price) is an error, not a pass. */
export function costWithin(input: EvaluationInput, options: { maxUSD: number }): EvaluationResult {
  const cost = input.costUSD;
  if (cost === undefined || cost === null) {
    return failure("cost is unknown: the model has no price in the price table");
  }
  return verdict(cost <= options.maxUSD, { costUSD: cost, maxUSD: options.maxUSD });
}
