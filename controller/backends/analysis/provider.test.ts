import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../kube/client.js";
import {
  AnalysisMetricError,
  analysisProviderFor,
  analysisSourceOf,
  formatValue,
  judged,
  measureMetric,
  type AnalysisMetric,
  type AnalysisProvider,
  type AnalysisProviders,
  type Measurement,
  type MeasurementContext,
} from "./provider.js";
import { ConditionSyntaxError } from "./condition.js";

const prometheus = { query: "vector(1)" };
const experiment = { name: "e", metric: "m" };
const langfuse = {
  scoreName: "s",
  publicKeySecretRef: { name: "lf", key: "public" },
  secretKeySecretRef: { name: "lf", key: "secret" },
};

function metric(extra: Partial<AnalysisMetric>): AnalysisMetric {
  return { name: "error-rate", successCondition: "result < 0.01", ...extra };
}

describe("analysisSourceOf", () => {
  it.each([
    { source: "prometheus", spec: { prometheus } },
    { source: "experiment", spec: { experiment } },
    { source: "langfuse", spec: { langfuse } },
  ] as const)("$source", ({ source, spec }) => {
    expect(analysisSourceOf(metric(spec))).toBe(source);
  });

  it("none is an AnalysisMetricError", () => {
    expect(() => analysisSourceOf(metric({}))).toThrow(AnalysisMetricError);
  });

  it("several is an AnalysisMetricError naming them", () => {
    expect(() => analysisSourceOf(metric({ prometheus, langfuse }))).toThrow(
      /sets prometheus and langfuse/,
    );
  });
});

/** A provider that answers `measurement` and records what it was asked. */
function fixed(measurement: Measurement): AnalysisProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    measure: (m) => {
      calls.push(m.name);
      return Promise.resolve(measurement);
    },
  };
}

describe("analysisProviderFor", () => {
  it("picks the provider by the source field", () => {
    const table: AnalysisProviders = {
      prometheus: fixed({ ok: true, value: 1 }),
      experiment: fixed({ ok: true, value: 2 }),
      langfuse: fixed({ ok: true, value: 3 }),
    };
    expect(analysisProviderFor(metric({ experiment }), table)).toBe(table.experiment);
    expect(analysisProviderFor(metric({ langfuse }), table)).toBe(table.langfuse);
    expect(analysisProviderFor(metric({ prometheus }), table)).toBe(table.prometheus);
  });
});

describe("judged", () => {
  const rows: {
    name: string;
    metric: AnalysisMetric;
    measurement: Measurement;
    want: { value?: number; verdict: string; message: string };
  }[] = [
    {
      name: "successful",
      metric: metric({ prometheus }),
      measurement: { ok: true, value: 0.002 },
      want: {
        value: 0.002,
        verdict: "Successful",
        message: "error-rate = 0.002 (result < 0.01): Successful",
      },
    },
    {
      name: "failed",
      metric: metric({ prometheus }),
      measurement: { ok: true, value: 0.25 },
      want: {
        value: 0.25,
        verdict: "Failed",
        message: "error-rate = 0.25 (result < 0.01): Failed",
      },
    },
    {
      name: "inconclusive, both conditions shown",
      metric: metric({ prometheus, failureCondition: "result >= 0.05" }),
      measurement: { ok: true, value: 0.03 },
      want: {
        value: 0.03,
        verdict: "Inconclusive",
        message:
          "error-rate = 0.03 (success: result < 0.01, failure: result >= 0.05): Inconclusive",
      },
    },
    {
      name: "an error is not a failure",
      metric: metric({ prometheus }),
      measurement: { ok: false, error: "Prometheus at http://p: unreachable" },
      want: { verdict: "Error", message: "error-rate: Prometheus at http://p: unreachable: Error" },
    },
    {
      name: "a NaN that slipped through is an error",
      metric: metric({ prometheus }),
      measurement: { ok: true, value: Number.NaN },
      want: { verdict: "Error", message: "error-rate: the result is NaN: Error" },
    },
  ];
  it.each(rows)("$name", ({ metric: m, measurement, want }) => {
    expect(judged(m, measurement)).toEqual(want);
  });
});

describe("formatValue", () => {
  it.each([
    { value: 0.002, want: "0.002" },
    { value: 0.1 + 0.2, want: "0.3" },
    { value: 123456789, want: "123457000" },
    { value: 1 / 3, want: "0.333333" },
    { value: -4, want: "-4" },
  ])("$value", ({ value, want }) => {
    expect(formatValue(value)).toBe(want);
  });
});

describe("measureMetric", () => {
  const context: MeasurementContext = {
    client: {} as KubeClient,
    cache: { get: () => undefined, list: () => [] },
    namespace: "team",
    revision: "r1",
    service: "r1",
    now: 0,
  };

  it("measures with the metric's provider and judges the value", async () => {
    const table: AnalysisProviders = {
      prometheus: fixed({ ok: true, value: 0.001 }),
      experiment: fixed({ ok: true, value: 1 }),
      langfuse: fixed({ ok: true, value: 1 }),
    };
    await expect(measureMetric(metric({ prometheus }), context, table)).resolves.toMatchObject({
      value: 0.001,
      verdict: "Successful",
    });
  });

  it("checks the conditions before asking the provider", async () => {
    const provider = fixed({ ok: true, value: 0 });
    const table: AnalysisProviders = {
      prometheus: provider,
      experiment: provider,
      langfuse: provider,
    };
    await expect(
      measureMetric(metric({ prometheus, failureCondition: "result >> 1" }), context, table),
    ).rejects.toThrow(ConditionSyntaxError);
    expect(provider.calls).toEqual([]);
  });

  it("an aborted measurement rejects with the reason instead of returning a verdict", async () => {
    const stop = new AbortController();
    const provider: AnalysisProvider = {
      measure: () => {
        stop.abort(new Error("shutting down"));
        return Promise.resolve({ ok: false, error: "aborted" });
      },
    };
    const table: AnalysisProviders = {
      prometheus: provider,
      experiment: provider,
      langfuse: provider,
    };
    await expect(
      measureMetric(metric({ prometheus }), { ...context, signal: stop.signal }, table),
    ).rejects.toThrow("shutting down");
  });
});
