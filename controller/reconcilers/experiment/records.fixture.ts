// Result records for the table tests of this folder (not built into dist: *.fixture.ts).
import { resultKey, type ResultRecord } from "./results.js";

/** One scored call of `variant` on `item` (repetition 0) on the evaluator `correct`. */
export function scoredRecord(
  variant: string,
  item: string,
  passed: boolean,
  cost = 0.01,
): ResultRecord {
  return {
    key: resultKey(variant, item, 0),
    variant,
    item,
    repetition: 0,
    latencyMs: 10,
    costUSD: cost,
    calls: 1,
    scores: { correct: { score: passed ? 1 : 0, passed } },
  };
}
