// kstatus conditions, as Flux writes them. Pure functions of their inputs: no I/O, no clock (the
// caller passes `now`), so they are tested with tables.
//
// - `Ready` is always present, True or False.
// - `Reconciling` and `Stalled` are "abnormal-true" conditions: present only while True.
// - Every condition carries the generation it describes; `lastTransitionTime` changes only when
//   the condition's status flips.
// - `status.observedGeneration` is set once a generation has been fully handled: Ready (done),
//   Stalled (cannot be done until the spec changes) or Suspended (spec.suspend) — never while work
//   is in flight. Until the first such write it is -1, the CRDs' schema default.

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339. */
  lastTransitionTime: string;
  /** PascalCase. */
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, "lastTransitionTime">;

export const ConditionType = {
  Ready: "Ready",
  Reconciling: "Reconciling",
  Stalled: "Stalled",
} as const;

const pascalCase = /^[A-Z][A-Za-z0-9]*$/;

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * Sets a condition, keeping `lastTransitionTime` when the status did not change. Returns a new
 * array; the input is not modified (it may be a frozen cached object).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  now: string,
): Condition[] {
  if (!pascalCase.test(next.reason)) {
    throw new RangeError(`condition ${next.type}: reason "${next.reason}" must be PascalCase`);
  }
  const existing = findCondition(conditions, next.type);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined && { observedGeneration: next.observedGeneration }),
    lastTransitionTime:
      existing !== undefined && existing.status === next.status ? existing.lastTransitionTime : now,
    reason: next.reason,
    message: next.message,
  };
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  if (index === -1) list.push(condition);
  else list[index] = condition;
  return list;
}

/** Removes a condition (used for Reconciling/Stalled when they stop being True). */
export function removeCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** What a reconcile achieved, as the summarize step sees it. */
export type ReconcileOutcome =
  /** Everything for this generation is done. */
  | { state: "Ready"; reason?: string; message: string }
  /** Work for this generation is still in flight (a rollout, a job, a pending external call). */
  | { state: "Progressing"; reason: string; message: string }
  /** Invalid input or an unrecoverable state: nothing will change until the spec does. */
  | { state: "Stalled"; reason: string; message: string }
  /**
   * Stopped because the user asked (spec.suspend): not ready, but neither in flight nor failed, so
   * kstatus reads Current, as for a suspended Flux object. This generation counts as handled.
   */
  | { state: "Suspended"; reason: "Suspended"; message: string }
  /** A transient failure; the queue retries with backoff. */
  | { state: "Failed"; reason: string; message: string };

export interface SummarizedStatus {
  conditions: Condition[];
  /** Set when the generation was fully handled; otherwise the previous value is kept. */
  observedGeneration: number | undefined;
}

/**
 * Derives Ready / Reconciling / Stalled from a reconcile outcome. Other condition types in
 * `previous` are kept as they are; the three kstatus conditions come first, in a fixed order, so
 * an unchanged outcome produces an identical status (and no write).
 */
export function summarize(options: {
  previous: readonly Condition[] | undefined;
  previousObservedGeneration: number | undefined;
  generation: number;
  outcome: ReconcileOutcome;
  now: string;
}): SummarizedStatus {
  const { previous, generation, outcome, now } = options;
  let conditions = [...(previous ?? [])];
  let observedGeneration = options.previousObservedGeneration;
  const set = (type: string, status: ConditionStatus, reason: string, message: string): void => {
    conditions = setCondition(
      conditions,
      { type, status, observedGeneration: generation, reason, message },
      now,
    );
  };
  switch (outcome.state) {
    case "Ready":
      set(ConditionType.Ready, "True", outcome.reason ?? "Succeeded", outcome.message);
      conditions = removeCondition(conditions, ConditionType.Reconciling);
      conditions = removeCondition(conditions, ConditionType.Stalled);
      observedGeneration = generation;
      break;
    case "Progressing":
      set(ConditionType.Ready, "False", outcome.reason, outcome.message);
      set(ConditionType.Reconciling, "True", outcome.reason, outcome.message);
      conditions = removeCondition(conditions, ConditionType.Stalled);
      break;
    case "Stalled":
      set(ConditionType.Ready, "False", outcome.reason, outcome.message);
      set(ConditionType.Stalled, "True", outcome.reason, outcome.message);
      conditions = removeCondition(conditions, ConditionType.Reconciling);
      observedGeneration = generation;
      break;
    case "Suspended":
      set(ConditionType.Ready, "False", outcome.reason, outcome.message);
      conditions = removeCondition(conditions, ConditionType.Reconciling);
      conditions = removeCondition(conditions, ConditionType.Stalled);
      observedGeneration = generation;
      break;
    case "Failed":
      // Flux's convention: still reconciling (a retry is coming), not ready, not stalled.
      set(ConditionType.Ready, "False", outcome.reason, outcome.message);
      set(
        ConditionType.Reconciling,
        "True",
        "ProgressingWithRetry",
        `${outcome.message}; retrying`,
      );
      conditions = removeCondition(conditions, ConditionType.Stalled);
      break;
  }
  return { conditions: orderConditions(conditions), observedGeneration };
}

const kstatusOrder: readonly string[] = [
  ConditionType.Ready,
  ConditionType.Reconciling,
  ConditionType.Stalled,
];

function orderConditions(conditions: Condition[]): Condition[] {
  const rank = (c: Condition): number => {
    const index = kstatusOrder.indexOf(c.type);
    return index === -1 ? kstatusOrder.length : index;
  };
  // Array.prototype.sort is stable: other conditions keep their relative order.
  return [...conditions].sort((a, b) => rank(a) - rank(b));
}

/**
 * True when two status objects differ. Conditions are compared as a set keyed by type, so a
 * reordering alone does not cause a write; everything else is compared structurally.
 */
export function statusChanged(previous: unknown, next: unknown): boolean {
  return !deepEqual(normalizeStatus(previous), normalizeStatus(next));
}

function normalizeStatus(status: unknown): unknown {
  if (typeof status !== "object" || status === null || Array.isArray(status)) return status;
  const record = status as Record<string, unknown>;
  if (!Array.isArray(record.conditions)) return record;
  const conditions = [...(record.conditions as { type?: unknown }[])].sort((a, b) =>
    String(a.type).localeCompare(String(b.type)),
  );
  return { ...record, conditions };
}

/**
 * Structural equality for JSON values. `undefined` object members count as absent, since they
 * vanish when the status is serialized.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keysA = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const keysB = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}

/** RFC 3339 in seconds, as the apiserver stores metav1.Time (so comparisons round-trip). */
export function conditionTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
