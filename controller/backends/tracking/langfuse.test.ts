// The pure parts of the Langfuse tracker: deterministic ids, batching, and the events of a call.
import { describe, expect, it } from "vitest";
import {
  type TrackedCall,
  callEvents,
  callGenerationId,
  callScoreId,
  callTraceId,
  chunkEvents,
  datasetItemId,
  datasetRunName,
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

  it("names the dataset run per variant", () => {
    expect(datasetRunName(session, "candidate")).toBe("ns/triage/candidate/uid-1/run-3");
  });
});

describe("chunkEvents", () => {
  const rows = [
    { name: "empty", events: [], max: 100, want: [] },
    { name: "all fit", events: ["a", "b", "c"], max: 100, want: [["a", "b", "c"]] },
    {
      name: "splits at the limit",
      events: ["aaaa", "bbbb", "cccc"],
      max: 15,
      want: [["aaaa", "bbbb"], ["cccc"]],
    },
    {
      name: "an oversized event goes alone",
      events: ["x".repeat(50), "b"],
      max: 10,
      want: [["x".repeat(50)], ["b"]],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(chunkEvents(row.events, row.max)).toEqual(row.want);
    });
  }
});

describe("callEvents", () => {
  let n = 0;
  const eventId = () => `e${String(n++)}`;

  it("a trace, a generation with usage and cost, and a score per evaluator", () => {
    const events = callEvents(session, call(), eventId);
    expect(events.map((e) => e.type)).toEqual([
      "trace-create",
      "generation-create",
      "score-create",
    ]);
    const [trace, generation, score] = events;
    expect(trace?.body).toMatchObject({
      id: callTraceId(session.runKey, "control/item-7/0"),
      sessionId: "uid-1/run-3",
      tags: ["llmops", "variant:control"],
      metadata: { promptName: "triage", variant: "control", itemId: "item-7", repetition: 0 },
    });
    expect(generation?.body).toMatchObject({
      id: callGenerationId(session.runKey, "control/item-7/0"),
      traceId: callTraceId(session.runKey, "control/item-7/0"),
      model: "gpt-4o-mini",
      startTime: "2025-01-01T00:00:00.000Z",
      endTime: "2025-01-01T00:00:01.500Z",
      usageDetails: { input: 10, output: 5, total: 15 },
      costDetails: { total: 0.0001 },
    });
    expect(score?.body).toMatchObject({
      name: "exact",
      value: 1,
      dataType: "NUMERIC",
      comment: "passed",
    });
  });

  it("a null score is left out, never recorded as 0; its error goes to the trace metadata", () => {
    const events = callEvents(
      session,
      call({ scores: { judge: { score: null, passed: null, error: "judge timed out" } } }),
      eventId,
    );
    expect(events.filter((e) => e.type === "score-create")).toEqual([]);
    expect(events[0]?.body).toMatchObject({
      metadata: { evaluatorErrors: { judge: "judge timed out" } },
    });
  });

  it("a failed call is an ERROR generation without usage or cost", () => {
    const events = callEvents(
      session,
      call({ output: null, error: "HTTP 500", usage: undefined, costUSD: null, scores: {} }),
      eventId,
    );
    const generation = events[1]?.body as Record<string, unknown>;
    expect(generation).toMatchObject({ level: "ERROR", statusMessage: "HTTP 500", output: null });
    expect(generation).not.toHaveProperty("usageDetails");
    expect(generation).not.toHaveProperty("costDetails");
  });
});
