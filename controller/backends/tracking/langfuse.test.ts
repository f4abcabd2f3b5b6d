// The pure parts of the Langfuse tracker: deterministic ids, the span attributes and scores of a call.
import { describe, expect, it } from "vitest";
import {
  QueuedIdGenerator,
  type TrackedCall,
  callGenerationId,
  callScoreId,
  callScores,
  callSpanAttributes,
  callTraceId,
  datasetItemId,
  experimentRunId,
  experimentRunName,
} from "./langfuse.js";

const session = { experiment: "ns/triage", runKey: "uid-1/run-3", datasetName: "triage-eval" };

function call(overrides: Partial<TrackedCall> = {}): TrackedCall {
  return {
    key: "control/item-7/0",
    variant: "control",
    itemId: "item-7",
    repetition: 0,
    model: "gpt-4o-mini",
    input: [{ role: "user", content: "hi" }],
    output: "hello",
    startTime: new Date("2025-01-01T00:00:00.000Z"),
    endTime: new Date("2025-01-01T00:00:01.500Z"),
    usage: { inputTokens: 10, outputTokens: 5 },
    costUSD: 0.0001,
    scores: { exact: { score: 1, passed: true } },
    metadata: { promptName: "triage" },
    ...overrides,
  };
}

describe("deterministic ids", () => {
  const cases = [
    { name: "trace id: 32 hex", id: () => callTraceId("r", "k"), pattern: /^[0-9a-f]{32}$/ },
    {
      name: "generation id: 16 hex",
      id: () => callGenerationId("r", "k"),
      pattern: /^[0-9a-f]{16}$/,
    },
    {
      name: "score id: 32 hex",
      id: () => callScoreId("r", "k", "exact"),
      pattern: /^[0-9a-f]{32}$/,
    },
    {
      name: "dataset item id",
      id: () => datasetItemId("ds", "item-1"),
      pattern: /^llmops-[0-9a-f]{32}$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(c.id()).toMatch(c.pattern);
      expect(c.id()).toBe(c.id());
    });
  }

  it("differ by every part, and parts cannot be shifted into each other", () => {
    const ids = [
      callTraceId("r", "k"),
      callTraceId("r2", "k"),
      callTraceId("r", "k2"),
      callTraceId("ra", "b"),
      callTraceId("r", "ab"),
      callScoreId("r", "k", "a"),
      callScoreId("r", "k", "b"),
      datasetItemId("ds", "1"),
      datasetItemId("ds2", "1"),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("names and ids the experiment per variant", () => {
    expect(experimentRunName(session, "candidate")).toBe("ns/triage/candidate/uid-1/run-3");
    expect(experimentRunId(session, "candidate")).toMatch(/^[0-9a-f]{16}$/);
    expect(experimentRunId(session, "candidate")).not.toBe(experimentRunId(session, "control"));
  });
});

const link = {
  datasetId: "ds-1",
  itemId: "lf-item-7",
  expectedOutput: { label: "hardware" },
  itemMetadata: null,
};

describe("callSpanAttributes", () => {
  it("a generation, the trace it is the root of, and the experiment item it is", () => {
    const a = callSpanAttributes(session, call(), link);
    expect(a).toMatchObject({
      "langfuse.observation.type": "generation",
      "langfuse.observation.model.name": "gpt-4o-mini",
      "langfuse.observation.input": JSON.stringify([{ role: "user", content: "hi" }]),
      "langfuse.observation.output": "hello",
      "langfuse.observation.usage_details": JSON.stringify({ input: 10, output: 5, total: 15 }),
      "langfuse.observation.cost_details": JSON.stringify({ total: 0.0001 }),
      "langfuse.observation.metadata.promptName": "triage",
      "langfuse.observation.metadata.repetition": "0",
      "langfuse.trace.name": "ns/triage/control",
      "session.id": "uid-1/run-3",
      "langfuse.trace.tags": ["llmops", "variant:control"],
      "langfuse.trace.metadata.variant": "control",
      "langfuse.environment": "sdk-experiment",
      "langfuse.experiment.id": experimentRunId(session, "control"),
      "langfuse.experiment.name": "ns/triage/control/uid-1/run-3",
      "langfuse.experiment.dataset.id": "ds-1",
      "langfuse.experiment.item.id": "lf-item-7",
      "langfuse.experiment.item.expected_output": JSON.stringify({ label: "hardware" }),
      "langfuse.experiment.item.root_observation_id": callGenerationId(
        session.runKey,
        "control/item-7/0",
      ),
    });
    expect(a).not.toHaveProperty("langfuse.experiment.item.metadata");
    expect(a).not.toHaveProperty("langfuse.observation.level");
  });

  it("a failed call is an ERROR generation without output, usage or cost", () => {
    const a = callSpanAttributes(
      session,
      call({ output: null, error: "HTTP 500", usage: undefined, costUSD: null, scores: {} }),
      link,
    );
    expect(a).toMatchObject({
      "langfuse.observation.level": "ERROR",
      "langfuse.observation.status_message": "HTTP 500",
    });
    for (const key of [
      "langfuse.observation.output",
      "langfuse.observation.usage_details",
      "langfuse.observation.cost_details",
    ]) {
      expect(a).not.toHaveProperty(key);
    }
  });

  it("evaluator errors go to the metadata", () => {
    const a = callSpanAttributes(
      session,
      call({ scores: { judge: { score: null, passed: null, error: "judge timed out" } } }),
      link,
    );
    expect(a["langfuse.trace.metadata.evaluatorErrors"]).toBe(
      JSON.stringify({ judge: "judge timed out" }),
    );
  });
});

describe("callScores", () => {
  const rows: { name: string; scores: TrackedCall["scores"]; want: object[] }[] = [
    {
      name: "a score per evaluator with a value, on the generation",
      scores: { exact: { score: 1, passed: true } },
      want: [{ name: "exact", value: 1, comment: "passed" }],
    },
    {
      name: "a null score is left out, never recorded as 0",
      scores: { judge: { score: null, passed: null, error: "judge timed out" } },
      want: [],
    },
    {
      name: "no pass/fail: no comment",
      scores: { bleu: { score: 0.4, passed: null } },
      want: [{ name: "bleu", value: 0.4 }],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const scores = callScores(session, call({ scores: row.scores }));
      expect(scores).toMatchObject(row.want);
      for (const s of scores) {
        expect(s).toMatchObject({
          id: callScoreId(session.runKey, "control/item-7/0", s.name),
          traceId: callTraceId(session.runKey, "control/item-7/0"),
          observationId: callGenerationId(session.runKey, "control/item-7/0"),
          dataType: "NUMERIC",
        });
      }
      if (row.want.length > 0 && !("comment" in (row.want[0] ?? {}))) {
        expect(scores[0]).not.toHaveProperty("comment");
      }
    });
  }
});

describe("QueuedIdGenerator", () => {
  it("hands out the queued ids once, span id first", () => {
    const ids = new QueuedIdGenerator();
    ids.queue("a".repeat(32), "b".repeat(16));
    expect(ids.generateSpanId()).toBe("b".repeat(16));
    expect(ids.generateTraceId()).toBe("a".repeat(32));
    expect(() => ids.generateSpanId()).toThrow(/no ids queued/);
  });
});
