import { describe, expect, it } from "vitest";
import {
  type Condition,
  type ReconcileOutcome,
  conditionTime,
  deepEqual,
  findCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  statusChanged,
  summarize,
} from "./conditions.js";

const t0 = "2026-01-01T00:00:00Z";
const t1 = "2026-01-01T00:05:00Z";

const ready = (over: Partial<Condition> = {}): Condition => ({
  type: "Ready",
  status: "True",
  observedGeneration: 1,
  lastTransitionTime: t0,
  reason: "Succeeded",
  message: "version 1 published",
  ...over,
});

describe("setCondition", () => {
  const cases: {
    name: string;
    previous: Condition[] | undefined;
    next: Omit<Condition, "lastTransitionTime">;
    want: Condition[];
  }[] = [
    {
      name: "adds a condition with now as transition time",
      previous: undefined,
      next: {
        type: "Ready",
        status: "True",
        observedGeneration: 1,
        reason: "Succeeded",
        message: "ok",
      },
      want: [ready({ lastTransitionTime: t1, message: "ok" })],
    },
    {
      name: "keeps the transition time when only reason/message/generation change",
      previous: [ready()],
      next: {
        type: "Ready",
        status: "True",
        observedGeneration: 2,
        reason: "Published",
        message: "v2",
      },
      want: [ready({ observedGeneration: 2, reason: "Published", message: "v2" })],
    },
    {
      name: "moves the transition time when the status flips",
      previous: [ready()],
      next: {
        type: "Ready",
        status: "False",
        observedGeneration: 2,
        reason: "InvalidTemplate",
        message: "bad",
      },
      want: [
        ready({
          status: "False",
          observedGeneration: 2,
          lastTransitionTime: t1,
          reason: "InvalidTemplate",
          message: "bad",
        }),
      ],
    },
    {
      name: "replaces in place, keeping other conditions and their order",
      previous: [
        { type: "Published", status: "True", lastTransitionTime: t0, reason: "Done", message: "" },
        ready(),
      ],
      next: {
        type: "Ready",
        status: "True",
        observedGeneration: 1,
        reason: "Succeeded",
        message: "m",
      },
      want: [
        { type: "Published", status: "True", lastTransitionTime: t0, reason: "Done", message: "" },
        ready({ message: "m" }),
      ],
    },
  ];
  it.each(cases)("$name", ({ previous, next, want }) => {
    const frozen =
      previous === undefined ? undefined : Object.freeze(previous.map((c) => Object.freeze(c)));
    expect(setCondition(frozen, next, t1)).toEqual(want);
  });

  it("rejects reasons that are not PascalCase", () => {
    expect(() =>
      setCondition([], { type: "Ready", status: "True", reason: "not-pascal", message: "" }, t0),
    ).toThrow(/PascalCase/);
  });
});

describe("find/is/remove", () => {
  it("reads and removes conditions by type", () => {
    const conditions = [ready(), ready({ type: "Stalled", status: "False" })];
    expect(findCondition(conditions, "Stalled")?.status).toBe("False");
    expect(isConditionTrue(conditions, "Ready")).toBe(true);
    expect(isConditionTrue(conditions, "Stalled")).toBe(false);
    expect(isConditionTrue(undefined, "Ready")).toBe(false);
    expect(removeCondition(conditions, "Stalled")).toEqual([ready()]);
  });
});

describe("summarize", () => {
  const cases: {
    name: string;
    previous: Condition[];
    previousObservedGeneration: number | undefined;
    generation: number;
    outcome: ReconcileOutcome;
    want: { conditions: Condition[]; observedGeneration: number | undefined };
  }[] = [
    {
      name: "first reconcile succeeds: Ready only, observedGeneration set",
      previous: [],
      previousObservedGeneration: undefined,
      generation: 1,
      outcome: { state: "Ready", message: "version 1 published" },
      want: { conditions: [ready({ lastTransitionTime: t1 })], observedGeneration: 1 },
    },
    {
      name: "work in flight: Ready=False + Reconciling=True, observedGeneration kept",
      previous: [ready()],
      previousObservedGeneration: 1,
      generation: 2,
      outcome: { state: "Progressing", reason: "Publishing", message: "publishing version 2" },
      want: {
        conditions: [
          ready({
            status: "False",
            observedGeneration: 2,
            lastTransitionTime: t1,
            reason: "Publishing",
            message: "publishing version 2",
          }),
          {
            type: "Reconciling",
            status: "True",
            observedGeneration: 2,
            lastTransitionTime: t1,
            reason: "Publishing",
            message: "publishing version 2",
          },
        ],
        observedGeneration: 1,
      },
    },
    {
      name: "invalid input: Stalled=True, no Reconciling, generation handled",
      previous: [
        ready({ status: "False", reason: "Publishing", message: "x" }),
        {
          type: "Reconciling",
          status: "True",
          lastTransitionTime: t0,
          reason: "Publishing",
          message: "x",
        },
      ],
      previousObservedGeneration: 1,
      generation: 3,
      outcome: {
        state: "Stalled",
        reason: "InvalidTemplate",
        message: "spec.template: {{x}} is not declared",
      },
      want: {
        conditions: [
          ready({
            status: "False",
            observedGeneration: 3,
            reason: "InvalidTemplate",
            message: "spec.template: {{x}} is not declared",
          }),
          {
            type: "Stalled",
            status: "True",
            observedGeneration: 3,
            lastTransitionTime: t1,
            reason: "InvalidTemplate",
            message: "spec.template: {{x}} is not declared",
          },
        ],
        observedGeneration: 3,
      },
    },
    {
      name: "transient failure: retrying, not ready, not stalled",
      previous: [
        ready({ status: "False", reason: "InvalidTemplate", message: "m" }),
        {
          type: "Stalled",
          status: "True",
          lastTransitionTime: t0,
          reason: "InvalidTemplate",
          message: "m",
        },
      ],
      previousObservedGeneration: 3,
      generation: 4,
      outcome: { state: "Failed", reason: "PublishFailed", message: "langfuse: 503" },
      want: {
        conditions: [
          ready({
            status: "False",
            observedGeneration: 4,
            reason: "PublishFailed",
            message: "langfuse: 503",
          }),
          {
            type: "Reconciling",
            status: "True",
            observedGeneration: 4,
            lastTransitionTime: t1,
            reason: "ProgressingWithRetry",
            message: "langfuse: 503; retrying",
          },
        ],
        observedGeneration: 3,
      },
    },
    {
      name: "recovery: Ready=True again, abnormal conditions gone, other conditions kept after them",
      previous: [
        { type: "Published", status: "True", lastTransitionTime: t0, reason: "Done", message: "" },
        {
          type: "Stalled",
          status: "True",
          lastTransitionTime: t0,
          reason: "InvalidTemplate",
          message: "m",
        },
        ready({ status: "False", reason: "InvalidTemplate", message: "m" }),
      ],
      previousObservedGeneration: 4,
      generation: 5,
      outcome: { state: "Ready", reason: "Published", message: "version 2" },
      want: {
        conditions: [
          ready({
            observedGeneration: 5,
            lastTransitionTime: t1,
            reason: "Published",
            message: "version 2",
          }),
          {
            type: "Published",
            status: "True",
            lastTransitionTime: t0,
            reason: "Done",
            message: "",
          },
        ],
        observedGeneration: 5,
      },
    },
    {
      name: "suspended by the user: Ready=False reason Suspended, no Stalled or Reconciling, generation handled",
      previous: [
        ready({ status: "False", reason: "Running", message: "running" }),
        {
          type: "Reconciling",
          status: "True",
          observedGeneration: 1,
          lastTransitionTime: t0,
          reason: "Running",
          message: "running",
        },
      ],
      previousObservedGeneration: -1,
      generation: 2,
      outcome: { state: "Suspended", reason: "Suspended", message: "spec.suspend is true" },
      want: {
        conditions: [
          ready({
            status: "False",
            observedGeneration: 2,
            reason: "Suspended",
            message: "spec.suspend is true",
          }),
        ],
        observedGeneration: 2,
      },
    },
  ];
  it.each(cases)("$name", ({ previous, previousObservedGeneration, generation, outcome, want }) => {
    expect(
      summarize({ previous, previousObservedGeneration, generation, outcome, now: t1 }),
    ).toEqual(want);
  });

  it("is idempotent: the same outcome twice gives an unchanged status (no write)", () => {
    const outcome: ReconcileOutcome = { state: "Ready", message: "v1" };
    const first = summarize({
      previous: [],
      previousObservedGeneration: undefined,
      generation: 1,
      outcome,
      now: t0,
    });
    const second = summarize({
      previous: first.conditions,
      previousObservedGeneration: first.observedGeneration,
      generation: 1,
      outcome,
      now: t1,
    });
    expect(statusChanged(first, second)).toBe(false);
  });
});

describe("statusChanged", () => {
  const cases = [
    {
      name: "identical",
      a: { version: 1, conditions: [ready()] },
      b: { version: 1, conditions: [ready()] },
      want: false,
    },
    {
      name: "conditions reordered only",
      a: { conditions: [ready(), ready({ type: "Stalled" })] },
      b: { conditions: [ready({ type: "Stalled" }), ready()] },
      want: false,
    },
    {
      name: "a message changed",
      a: { conditions: [ready()] },
      b: { conditions: [ready({ message: "other" })] },
      want: true,
    },
    { name: "a field added", a: { version: 1 }, b: { version: 1, contentHash: "abc" }, want: true },
    {
      name: "undefined members count as absent",
      a: { version: 1, hash: undefined },
      b: { version: 1 },
      want: false,
    },
    {
      name: "array order matters outside conditions",
      a: { history: [1, 2] },
      b: { history: [2, 1] },
      want: true,
    },
    { name: "no status vs empty status", a: undefined, b: {}, want: true },
  ];
  it.each(cases)("$name", ({ a, b, want }) => {
    expect(statusChanged(a, b)).toBe(want);
  });
});

describe("deepEqual", () => {
  it("compares JSON values structurally", () => {
    expect(deepEqual({ a: [1, { b: "x" }] }, { a: [1, { b: "x" }] })).toBe(true);
    expect(deepEqual({ a: [1] }, { a: { 0: 1 } })).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual(1, 1)).toBe(true);
  });
});

describe("conditionTime", () => {
  it("formats as RFC 3339 seconds, as the apiserver stores metav1.Time", () => {
    expect(conditionTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe("2026-01-02T03:04:05Z");
  });
});
