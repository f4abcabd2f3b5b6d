// Langfuse tracking (OTLP spans through @langfuse/otel, scores and datasets through @langfuse/client)
// and the Langfuse dataset loader, against the local Langfuse-protocol server.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadLangfuseDataset } from "../../controller/backends/datasets/langfuse-dataset.js";
import {
  LangfuseAuthError,
  LangfuseCallTracker,
  LangfuseNotFoundError,
  LangfuseRequestError,
  type TrackedCall,
  type TrackingSession,
  callGenerationId,
  callScoreId,
  callTraceId,
  datasetItemId,
  experimentRunId,
  experimentRunName,
} from "../../controller/backends/tracking/langfuse.js";
import { LangfuseTestServer, type StoredSpan, testProjectId } from "../servers/langfuse/server.js";

const credentials = { publicKey: "pk-lf-test", secretKey: "sk-lf-test-secret" };
const session: TrackingSession = {
  experiment: "team-a/triage",
  runKey: "0b7c-uid/run-1",
  datasetName: "llmops/team-a/triage",
};
const items = [
  { id: "item-0", input: { ticket: "printer on fire" }, expectedOutput: "hardware" },
  { id: "item-1", input: { ticket: "forgot password" }, expectedOutput: "account" },
];

function call(
  variant: string,
  itemIndex: number,
  overrides: Partial<TrackedCall> = {},
): TrackedCall {
  const item = items[itemIndex] ?? items[0];
  return {
    key: `${variant}/${item?.id ?? ""}/0`,
    variant,
    itemId: item?.id ?? "",
    repetition: 0,
    model: variant === "control" ? "gpt-4o-mini" : "gpt-4o",
    input: [
      { role: "system", content: "Classify the ticket." },
      { role: "user", content: JSON.stringify(item?.input) },
    ],
    output: "hardware",
    startTime: new Date("2025-03-01T10:00:00.000Z"),
    endTime: new Date("2025-03-01T10:00:02.000Z"),
    usage: { inputTokens: 120, outputTokens: 3 },
    costUSD: 0.00021,
    scores: {
      exactMatch: { score: itemIndex === 0 ? 1 : 0, passed: itemIndex === 0 },
      judge: { score: null, passed: null, error: "judge endpoint timed out" },
    },
    metadata: { promptName: "triage", promptVersion: "3", contentHash: "sha256:abc" },
    ...overrides,
  };
}

const calls = [call("control", 0), call("control", 1), call("candidate", 0), call("candidate", 1)];

describe("LangfuseCallTracker", () => {
  let server: LangfuseTestServer;
  let tracker: LangfuseCallTracker;
  let baseUrl: string;

  const spanOf = (callKey: string): StoredSpan | undefined =>
    server.spans.get(
      `${callTraceId(session.runKey, callKey)}/${callGenerationId(session.runKey, callKey)}`,
    );
  const otelPosts = () =>
    server.requests.filter((r) => r.method === "POST" && r.path === "/api/public/otel/v1/traces");

  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    baseUrl = await server.start();
    tracker = new LangfuseCallTracker({ baseUrl, ...credentials, timeoutSeconds: 5 });
  });
  afterEach(async () => {
    await tracker.shutdown();
    await server.stop();
  });

  it("exports one generation span per call with model, input, output, usage, cost, times and metadata", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    expect(server.spans.size).toBe(4);
    const span = spanOf("candidate/item-1/0");
    expect(span).toMatchObject({
      parentSpanId: null,
      name: "model-call",
      startTime: "2025-03-01T10:00:00.000Z",
      endTime: "2025-03-01T10:00:02.000Z",
      scope: { name: "langfuse-sdk" },
    });
    const a = span?.attributes ?? {};
    expect(a).toMatchObject({
      "langfuse.observation.type": "generation",
      "langfuse.observation.model.name": "gpt-4o",
      "langfuse.observation.input": JSON.stringify(calls[3]?.input),
      "langfuse.observation.output": "hardware",
      "langfuse.observation.metadata.promptName": "triage",
      "langfuse.observation.metadata.promptVersion": "3",
      "langfuse.observation.metadata.variant": "candidate",
      "langfuse.observation.metadata.itemId": "item-1",
      "langfuse.trace.name": "team-a/triage/candidate",
      "session.id": session.runKey,
      "langfuse.trace.tags": ["llmops", "variant:candidate"],
      "langfuse.trace.metadata.promptName": "triage",
      "langfuse.environment": "sdk-experiment",
    });
    expect(JSON.parse(a["langfuse.observation.usage_details"] as string)).toEqual({
      input: 120,
      output: 3,
      total: 123,
    });
    expect(JSON.parse(a["langfuse.observation.cost_details"] as string)).toEqual({
      total: 0.00021,
    });
    expect(JSON.parse(a["langfuse.observation.metadata.evaluatorErrors"] as string)).toEqual({
      judge: "judge endpoint timed out",
    });
  });

  it("marks each span as an experiment item of its variant, linked to its dataset item", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    const datasetId = server.datasets.get(session.datasetName)?.id;
    expect(datasetId).toMatch(/^ds-/);
    for (const variant of ["control", "candidate"]) {
      for (const [index, item] of items.entries()) {
        const key = `${variant}/${item.id}/0`;
        expect(spanOf(key)?.attributes, key).toMatchObject({
          "langfuse.experiment.id": experimentRunId(session, variant),
          "langfuse.experiment.name": experimentRunName(session, variant),
          "langfuse.experiment.dataset.id": datasetId,
          "langfuse.experiment.item.id": datasetItemId(session.datasetName, item.id),
          "langfuse.experiment.item.expected_output": items[index]?.expectedOutput,
          "langfuse.experiment.item.root_observation_id": callGenerationId(session.runKey, key),
        });
      }
    }
    expect(experimentRunId(session, "control")).not.toBe(experimentRunId(session, "candidate"));
    expect(await tracker.url(session)).toMatch(
      new RegExp(`^${baseUrl}/project/${testProjectId}/datasets/ds-`),
    );
  });

  it("creates the dataset and its items with deterministic ids", async () => {
    await tracker.ensureDataset(session.datasetName, items);

    expect([...server.datasets.keys()]).toEqual([session.datasetName]);
    expect([...server.datasetItems.keys()].sort()).toEqual(
      items.map((i) => datasetItemId(session.datasetName, i.id)).sort(),
    );
    expect(server.datasetItems.get(datasetItemId(session.datasetName, "item-1"))).toMatchObject({
      input: { ticket: "forgot password" },
      expectedOutput: "account",
      status: "ACTIVE",
    });
  });

  it("records one numeric score per evaluator that has a value, on the call's generation; a null score is not a 0", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    const scores = [...server.scores.values()];
    expect(scores).toHaveLength(4);
    expect(scores.every((s) => s.name === "exactMatch" && s.dataType === "NUMERIC")).toBe(true);
    expect(
      server.scores.get(callScoreId(session.runKey, "control/item-1/0", "exactMatch")),
    ).toMatchObject({
      traceId: callTraceId(session.runKey, "control/item-1/0"),
      observationId: callGenerationId(session.runKey, "control/item-1/0"),
      value: 0,
      comment: "failed",
    });
  });

  it("recording the same calls again, even from a fresh tracker after a crash, duplicates nothing", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);
    const first = structuredClone([...server.spans.entries()]);
    const restarted = new LangfuseCallTracker({ baseUrl, ...credentials });
    await restarted.ensureDataset(session.datasetName, items);
    await restarted.recordCalls(session, calls);
    await restarted.shutdown();

    // Two exports of the same four ids, upserted onto the same keys.
    expect(otelPosts().length).toBeGreaterThanOrEqual(2);
    expect(server.spans.size).toBe(4);
    expect([...server.spans.keys()].sort()).toEqual(first.map(([k]) => k).sort());
    expect(server.scores.size).toBe(4);
    expect(server.datasetItems.size).toBe(2);
    // The second ensureDataset found the items unchanged and wrote none.
    expect(
      server.requests.filter((r) => r.method === "POST" && r.path === "/api/public/dataset-items"),
    ).toHaveLength(2);
  });

  it("links calls to the items of a Langfuse dataset under their own ids, without copying them", async () => {
    server.seedDataset("support-golden", [
      {
        id: "lf-item-a",
        input: { ticket: "printer on fire" },
        expectedOutput: "hardware",
        metadata: { source: "ui" },
      },
    ]);
    const lfSession = { ...session, datasetName: "support-golden" };
    await tracker.ensureDataset("support-golden", [
      { id: "lf-item-a", input: { ticket: "printer on fire" } },
    ]);
    await tracker.recordCalls(lfSession, [
      call("control", 0, { key: "control/lf-item-a/0", itemId: "lf-item-a" }),
    ]);

    expect([...server.datasetItems.keys()]).toEqual(["lf-item-a"]);
    expect(spanOf("control/lf-item-a/0")?.attributes).toMatchObject({
      "langfuse.experiment.dataset.id": server.datasets.get("support-golden")?.id,
      "langfuse.experiment.item.id": "lf-item-a",
      "langfuse.experiment.item.expected_output": "hardware",
      "langfuse.experiment.item.metadata": JSON.stringify({ source: "ui" }),
    });
  });

  it("a failed call is an ERROR generation with the error as status message", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, [
      call("control", 0, { output: null, error: "HTTP 500", usage: undefined, costUSD: null }),
    ]);
    const span = spanOf("control/item-0/0");
    expect(span?.status).toEqual({ code: 2, message: "HTTP 500" });
    expect(span?.attributes).toMatchObject({
      "langfuse.observation.level": "ERROR",
      "langfuse.observation.status_message": "HTTP 500",
    });
    expect(span?.attributes).not.toHaveProperty("langfuse.observation.usage_details");
    expect(span?.attributes).not.toHaveProperty("langfuse.observation.output");
  });

  it("a call whose item is not in the dataset is a clear error, and nothing is exported", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await expect(
      tracker.recordCalls(session, [
        call("control", 0, { key: "control/item-9/0", itemId: "item-9" }),
      ]),
    ).rejects.toThrow(/item "item-9" is not in Langfuse dataset "llmops\/team-a\/triage"/);
    expect(otelPosts()).toHaveLength(0);
  });

  it("refused keys on the span export: a LangfuseAuthError that says so and does not contain the secret key", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    // Keys that read the dataset but whose export is refused, as after a key rotation mid-run.
    server.failNext = { count: 1, status: 401, method: "POST" };
    const error = await tracker.recordCalls(session, calls).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseAuthError);
    const e = error as LangfuseAuthError;
    expect(e.status).toBe(401);
    expect(e.request).toBe("POST /api/public/otel/v1/traces");
    expect(e.message).toMatch(/refused the API keys/);
    expect(e.message).not.toContain(credentials.secretKey);
    expect(e.retryable).toBe(false);
    expect(server.spans.size).toBe(0);
    expect(server.scores.size).toBe(0);
  });

  it("wrong keys: LangfuseAuthError without the secret in the message", async () => {
    const wrong = new LangfuseCallTracker({
      baseUrl,
      publicKey: "pk-lf-test",
      secretKey: "sk-wrong-secret",
    });
    const error = await wrong.ensureDataset(session.datasetName, items).catch((e: unknown) => e);
    await wrong.shutdown();

    expect(error).toBeInstanceOf(LangfuseAuthError);
    expect((error as Error).message).toMatch(/Invalid credentials/);
    expect((error as Error).message).not.toContain("sk-wrong-secret");
    expect(server.datasets.size).toBe(0);
  });

  it("a 503 on the export is retried by the OTLP exporter and then succeeds", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    server.failNext = { count: 1, status: 503, method: "POST" };
    await tracker.recordCalls(session, calls);

    expect(otelPosts()).toHaveLength(2);
    expect(server.spans.size).toBe(4);
    expect(server.scores.size).toBe(4);
  });

  it("a 500 on the export is not retried by the exporter: a retryable LangfuseRequestError, and no scores yet", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    server.failNext = { count: 1, status: 500, method: "POST" };
    const error = await tracker.recordCalls(session, calls).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseRequestError);
    expect((error as LangfuseRequestError).status).toBe(500);
    expect((error as LangfuseRequestError).retryable).toBe(true);
    expect((error as Error).message).toMatch(
      /POST \/api\/public\/otel\/v1\/traces.*HTTP 500: injected failure/,
    );
    expect(otelPosts()).toHaveLength(1);
    expect(server.scores.size).toBe(0);

    // The queue's retry completes it.
    await tracker.recordCalls(session, calls);
    expect(server.spans.size).toBe(4);
    expect(server.scores.size).toBe(4);
  });

  it("a body over the server's limit (413) is an error, not a silent loss", async () => {
    await server.stop();
    server = new LangfuseTestServer({ ...credentials, maxBodyBytes: 20_000 });
    baseUrl = await server.start();
    await tracker.shutdown();
    tracker = new LangfuseCallTracker({ baseUrl, ...credentials, timeoutSeconds: 5 });
    await tracker.ensureDataset(session.datasetName, items);
    const big = call("control", 0, {
      input: [{ role: "user", content: "x".repeat(30_000) }],
    });
    const error = await tracker.recordCalls(session, [big]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseRequestError);
    expect((error as LangfuseRequestError).status).toBe(413);
    expect(server.spans.size).toBe(0);
  });

  it("a refused score fails recordCalls instead of being logged and lost", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    const error = await tracker
      .recordCalls(session, [
        call("control", 0, { scores: { exactMatch: { score: Number.NaN, passed: null } } }),
      ])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseRequestError);
    expect((error as LangfuseRequestError).request).toBe("POST /api/public/scores");
    expect((error as LangfuseRequestError).status).toBe(400);
  });

  it("the test server takes OTLP JSON only, and upserts spans by trace id and span id", async () => {
    const auth = `Basic ${Buffer.from(`${credentials.publicKey}:${credentials.secretKey}`).toString("base64")}`;
    const proto = await fetch(`${baseUrl}/api/public/otel/v1/traces`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/x-protobuf" },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(proto.status).toBe(415);
    const send = (name: string) =>
      fetch(`${baseUrl}/api/public/otel/v1/traces`, {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/json" },
        body: JSON.stringify({
          resourceSpans: [
            {
              scopeSpans: [
                {
                  scope: { name: "s" },
                  spans: [
                    {
                      traceId: "a".repeat(32),
                      spanId: "b".repeat(16),
                      name,
                      startTimeUnixNano: "1740823200000000000",
                      endTimeUnixNano: "1740823202000000000",
                      attributes: [{ key: "k", value: { intValue: 3 } }],
                    },
                  ],
                },
              ],
            },
          ],
        }),
      });
    expect((await send("one")).status).toBe(200);
    expect((await send("two")).status).toBe(200);
    expect([...server.spans.values()]).toMatchObject([
      {
        name: "two",
        startTime: "2025-03-01T10:00:00.000Z",
        endTime: "2025-03-01T10:00:02.000Z",
        attributes: { k: 3 },
      },
    ]);
  });
});

describe("loadLangfuseDataset", () => {
  let server: LangfuseTestServer;
  let baseUrl: string;

  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    baseUrl = await server.start();
  });
  afterEach(async () => {
    await server.stop();
  });

  it("reads every page and skips ARCHIVED items", async () => {
    server.seedDataset(
      "qa",
      Array.from({ length: 120 }, (_, i) => ({
        id: `q-${String(i)}`,
        input: { question: `q${String(i)}` },
        expectedOutput: `a${String(i)}`,
        metadata: { source: "ui" },
        status: i % 10 === 9 ? ("ARCHIVED" as const) : ("ACTIVE" as const),
      })),
    );
    const { items } = await loadLangfuseDataset({ baseUrl, ...credentials, name: "qa" });

    expect(items).toHaveLength(108);
    expect(new Set(items.map((i) => i.id)).size).toBe(108);
    expect(items.some((i) => i.id === "q-9")).toBe(false);
    expect(items.find((i) => i.id === "q-0")).toEqual({
      id: "q-0",
      input: { question: "q0" },
      expectedOutput: "a0",
      metadata: { source: "ui" },
    });
    const pages = server.requests.filter(
      (r) => r.method === "GET" && r.path === "/api/public/dataset-items",
    );
    expect(pages).toHaveLength(3);
  });

  it("an unknown dataset is a LangfuseNotFoundError naming it", async () => {
    const error = await loadLangfuseDataset({ baseUrl, ...credentials, name: "nope" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LangfuseNotFoundError);
    expect((error as Error).message).toMatch(/Langfuse dataset "nope" does not exist/);
    expect((error as Error).message).toMatch(/spec\.dataset\.langfuse\.name/);
  });

  it("refused keys are a LangfuseAuthError", async () => {
    const error = await loadLangfuseDataset({
      baseUrl,
      publicKey: "pk-lf-test",
      secretKey: "sk-nope",
      name: "qa",
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LangfuseAuthError);
    expect((error as Error).message).not.toContain("sk-nope");
  });

  it("an aborted signal stops the load", async () => {
    server.seedDataset("qa", [{ input: 1 }]);
    const controller = new AbortController();
    controller.abort(new Error("reconcile cancelled"));
    await expect(
      loadLangfuseDataset({ baseUrl, ...credentials, name: "qa", signal: controller.signal }),
    ).rejects.toThrow("reconcile cancelled");
  });
});
