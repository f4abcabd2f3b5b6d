import { describe, expect, it } from "vitest";
import {
  ConditionSyntaxError,
  conditionMet,
  judgeMeasurement,
  parseCondition,
  type Condition,
  type Verdict,
} from "./condition.js";

describe("parseCondition", () => {
  const rows: { text: string; want: Condition }[] = [
    { text: "result < 0.01", want: { operator: "<", threshold: 0.01 } },
    { text: "result<=5", want: { operator: "<=", threshold: 5 } },
    { text: "result   >   -1.5", want: { operator: ">", threshold: -1.5 } },
    { text: "result >= 4", want: { operator: ">=", threshold: 4 } },
    { text: "result == 0", want: { operator: "==", threshold: 0 } },
    { text: "result != 100.25", want: { operator: "!=", threshold: 100.25 } },
  ];
  it.each(rows)("$text", ({ text, want }) => {
    expect(parseCondition(text)).toEqual(want);
  });

  it.each(["", "result", "result < ", "value < 1", "result =< 1", "result < 1e3", " result < 1"])(
    "rejects %j with the expected form",
    (text) => {
      expect(() => parseCondition(text)).toThrow(ConditionSyntaxError);
      expect(() => parseCondition(text)).toThrow(/such as "result < 0.01"/);
    },
  );
});

describe("conditionMet", () => {
  const rows: { condition: string; value: number; want: boolean }[] = [
    { condition: "result < 1", value: 0.999, want: true },
    { condition: "result < 1", value: 1, want: false },
    { condition: "result <= 1", value: 1, want: true },
    { condition: "result <= 1", value: 1.0001, want: false },
    { condition: "result > 0", value: 0, want: false },
    { condition: "result > 0", value: 1e-9, want: true },
    { condition: "result >= 0.95", value: 0.95, want: true },
    { condition: "result >= 0.95", value: 0.9499, want: false },
    { condition: "result == 1", value: 1, want: true },
    { condition: "result == 1", value: 0.9999999, want: false },
    { condition: "result != 0", value: 0, want: false },
    { condition: "result != 0", value: -0.5, want: true },
    { condition: "result > -2", value: -1, want: true },
  ];
  it.each(rows)("$condition with $value → $want", ({ condition, value, want }) => {
    expect(conditionMet(parseCondition(condition), value)).toBe(want);
  });
});

describe("judgeMeasurement", () => {
  const rows: {
    name: string;
    successCondition: string;
    failureCondition?: string;
    value: number;
    want: Verdict;
  }[] = [
    {
      name: "success only, met",
      successCondition: "result < 0.01",
      value: 0.002,
      want: "Successful",
    },
    {
      name: "success only, missed",
      successCondition: "result < 0.01",
      value: 0.02,
      want: "Failed",
    },
    {
      name: "success only, on the boundary",
      successCondition: "result < 0.01",
      value: 0.01,
      want: "Failed",
    },
    {
      name: "both, success met",
      successCondition: "result < 0.01",
      failureCondition: "result >= 0.05",
      value: 0.002,
      want: "Successful",
    },
    {
      name: "both, failure met",
      successCondition: "result < 0.01",
      failureCondition: "result >= 0.05",
      value: 0.07,
      want: "Failed",
    },
    {
      name: "both, neither met: inconclusive",
      successCondition: "result < 0.01",
      failureCondition: "result >= 0.05",
      value: 0.03,
      want: "Inconclusive",
    },
    {
      name: "both met: failure wins (Argo Rollouts)",
      successCondition: "result >= 0",
      failureCondition: "result > 0.5",
      value: 0.9,
      want: "Failed",
    },
    {
      name: "higher is better, failure below",
      successCondition: "result >= 4",
      failureCondition: "result < 3",
      value: 4.2,
      want: "Successful",
    },
  ];
  it.each(rows)("$name", ({ successCondition, failureCondition, value, want }) => {
    const metric =
      failureCondition === undefined
        ? { successCondition }
        : { successCondition, failureCondition };
    expect(judgeMeasurement(metric, value)).toBe(want);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    "refuses %s: a non-finite value is an error, never a verdict",
    (value) => {
      expect(() => judgeMeasurement({ successCondition: "result < 1" }, value)).toThrow(RangeError);
    },
  );

  it("a malformed condition is a ConditionSyntaxError", () => {
    expect(() => judgeMeasurement({ successCondition: "result ~ 1" }, 1)).toThrow(
      ConditionSyntaxError,
    );
  });
});
