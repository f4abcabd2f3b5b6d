// The analysis input: one row per scored unit (dataset item × repetition, or an online assignment
// unit) of one variant, and how two variants' rows are matched for paired tests.

/** One unit of one variant, as the reconciler recorded it. */
export interface Observation {
  /**
   * Identifies the unit across variants (e.g. `${itemId}#${repetition}`): rows with equal keys in
   * two variants saw the same input, which is what makes a paired test valid.
   */
  key: string;
  /** Continuous value of the primary metric; null when it could not be scored (a judge failure). */
  score: number | null;
  /** Pass/fail of the primary metric; null when it could not be decided. */
  passed: boolean | null;
  /** Wall time of the model call; null when unknown. */
  latencyMs: number | null;
  /** Cost of the model call in USD; null when the model has no known price. */
  costUSD: number | null;
  /** Secondary metrics by name (e.g. other evaluators), for guardrails such as `metric:toxicity`. */
  metrics?: Readonly<Record<string, number | null>>;
}

/** All rows of one variant. */
export interface VariantObservations {
  name: string;
  observations: readonly Observation[];
}

/** Values of two variants matched by key, in the same order on both sides. */
export interface Paired<T> {
  candidate: T[];
  control: T[];
}

/** The non-null value of each row, in row order. */
export function present<T>(
  observations: readonly Observation[],
  pick: (o: Observation) => T | null,
): T[] {
  const out: T[] = [];
  for (const o of observations) {
    const v = pick(o);
    if (v !== null) out.push(v);
  }
  return out;
}

/** True when no key occurs twice: pairing needs a one-to-one match. */
export function hasUniqueKeys(observations: readonly Observation[]): boolean {
  return new Set(observations.map((o) => o.key)).size === observations.length;
}

/**
 * Matches candidate and control rows by key, keeping only keys where both have a value (complete
 * cases), ordered by the control's row order so results do not depend on completion order.
 */
export function pairByKey<T>(
  candidate: readonly Observation[],
  control: readonly Observation[],
  pick: (o: Observation) => T | null,
): Paired<T> {
  const byKey = new Map<string, T>();
  for (const o of candidate) {
    const v = pick(o);
    if (v !== null) byKey.set(o.key, v);
  }
  const out: Paired<T> = { candidate: [], control: [] };
  for (const o of control) {
    const ctrl = pick(o);
    const cand = byKey.get(o.key);
    if (ctrl === null || cand === undefined) continue;
    out.candidate.push(cand);
    out.control.push(ctrl);
  }
  return out;
}

/** Number of keys the two variants share. */
export function sharedKeyCount(
  candidate: readonly Observation[],
  control: readonly Observation[],
): number {
  const keys = new Set(control.map((o) => o.key));
  let shared = 0;
  for (const o of candidate) if (keys.has(o.key)) shared++;
  return shared;
}
