import { describe, expect, it } from "vitest";
import { checkGuardrail, type Guardrail } from "./guardrails.js";
import type { Observation } from "./observations.js";

function rows(values: { latencyMs?: number; costUSD?: number; quality?: number }[]): Observation[] {
  return values.map((v, i) => ({
    key: `item-${i}`,
    score: null,
    passed: null,
    latencyMs: v.latencyMs ?? null,
    costUSD: v.costUSD ?? null,
    metrics: { quality: v.quality ?? null },
  }));
}

const latencies = (xs: number[]) => rows(xs.map((latencyMs) => ({ latencyMs })));
const costs = (xs: number[]) => rows(xs.map((costUSD) => ({ costUSD })));

describe("checkGuardrail", () => {
  const table: {
    name: string;
    guardrail: Guardrail;
    candidate: Observation[];
    control: Observation[];
    paired?: boolean;
    want: { holds: boolean; method: string };
  }[] = [
    {
      name: "p95 latency within a 10% margin holds on the point estimate",
      guardrail: { metric: "latencyP95", relativeMargin: 0.1 },
      candidate: latencies([100, 105, 108]),
      control: latencies([100, 100, 100]),
      want: { holds: true, method: "point-estimate" },
    },
    {
      name: "p95 latency beyond the margin fails",
      guardrail: { metric: "latencyP95", absoluteMargin: 5 },
      candidate: latencies([100, 120, 130]),
      control: latencies([100, 100, 100]),
      want: { holds: false, method: "point-estimate" },
    },
    {
      name: "mean cost: a noisy sample cannot prove non-inferiority",
      guardrail: { metric: "costMean", relativeMargin: 0.05 },
      candidate: costs([0.5, 1.5, 0.2, 1.8]),
      control: costs([1, 1, 1, 1]),
      want: { holds: false, method: "welch-t-confidence-bound" },
    },
    {
      name: "mean cost: a clearly cheaper candidate holds",
      guardrail: { metric: "costMean", relativeMargin: 0.05 },
      candidate: costs([0.5, 0.51, 0.49, 0.5]),
      control: costs([1, 1.01, 0.99, 1]),
      want: { holds: true, method: "welch-t-confidence-bound" },
    },
    {
      name: "paired bound when rows share keys",
      guardrail: { metric: "costMean", absoluteMargin: 0.1 },
      candidate: costs([1.01, 2.02, 3.0, 4.01]),
      control: costs([1, 2, 3, 4]),
      paired: true,
      want: { holds: true, method: "paired-t-confidence-bound" },
    },
    {
      name: "higher-is-better secondary metric that dropped fails",
      guardrail: { metric: "metric:quality", higherIsBetter: true, absoluteMargin: 0.01 },
      candidate: rows([{ quality: 0.5 }, { quality: 0.52 }, { quality: 0.49 }]),
      control: rows([{ quality: 0.9 }, { quality: 0.91 }, { quality: 0.9 }]),
      want: { holds: false, method: "welch-t-confidence-bound" },
    },
    {
      name: "no data does not hold",
      guardrail: { metric: "latencyMean" },
      candidate: latencies([100]),
      control: latencies([100]),
      want: { holds: false, method: "insufficient-data" },
    },
  ];

  it.each(table)("$name", ({ guardrail, candidate, control, paired, want }) => {
    expect(checkGuardrail(guardrail, candidate, control, { paired })).toMatchObject(want);
  });

  it("turns a relative margin into the metric's unit", () => {
    const r = checkGuardrail(
      { metric: "latencyP95", relativeMargin: 0.2 },
      latencies([110]),
      latencies([200]),
    );
    expect(r).toMatchObject({ margin: 40, control: 200, candidate: 110, delta: -90, bound: -90 });
  });
});
