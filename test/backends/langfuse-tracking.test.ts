// Langfuse tracking and the Langfuse dataset loader, through the official @langfuse/client, against
// the local Langfuse-protocol server.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadLangfuseDataset } from "../../controller/backends/datasets/langfuse-dataset.js";
import {
  LangfuseAuthError,
  LangfuseCallTracker,
  LangfuseIngestionError,
  LangfuseNotFoundError,
  LangfuseRequestError,
  type TrackedCall,
  type TrackingSession,
  callTraceId,
  datasetItemId,
  datasetRunName,
} from "../../controller/backends/tracking/langfuse.js";
import { LangfuseTestServer, testProjectId } from "../servers/langfuse/server.js";

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

  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    baseUrl = await server.start();
    tracker = new LangfuseCallTracker({ baseUrl, ...credentials, timeoutSeconds: 5 });
  });
  afterEach(async () => {
    await tracker.shutdown();
    await server.stop();
  });

  it("records a trace and a generation per call with model, input, output, usage and cost", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    expect(server.traces.size).toBe(4);
    expect(server.observations.size).toBe(4);
    const traceId = callTraceId(session.runKey, "candidate/item-1/0");
    expect(server.traces.get(traceId)).toMatchObject({
      sessionId: session.runKey,
      name: "team-a/triage/candidate",
      tags: ["llmops", "variant:candidate"],
      output: "hardware",
      metadata: {
        promptName: "triage",
        promptVersion: "3",
        variant: "candidate",
        itemId: "item-1",
      },
    });
    const generation = [...server.observations.values()].find((o) => o.traceId === traceId);
    expect(generation).toMatchObject({
      type: "GENERATION",
      model: "gpt-4o",
      input: calls[3]?.input,
      output: "hardware",
      startTime: "2025-03-01T10:00:00.000Z",
      endTime: "2025-03-01T10:00:02.000Z",
      usageDetails: { input: 120, output: 3, total: 123 },
      costDetails: { total: 0.00021 },
    });
  });

  it("records one numeric score per evaluator that has a value; a null score is not a 0", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    const scores = [...server.scores.values()];
    expect(scores).toHaveLength(4);
    expect(scores.every((s) => s.name === "exactMatch" && s.dataType === "NUMERIC")).toBe(true);
    expect(
      scores.find((s) => s.traceId === callTraceId(session.runKey, "control/item-1/0")),
    ).toMatchObject({
      value: 0,
      comment: "failed",
    });
    expect(
      server.traces.get(callTraceId(session.runKey, "control/item-0/0"))?.metadata,
    ).toMatchObject({
      evaluatorErrors: { judge: "judge endpoint timed out" },
    });
  });

  it("creates the dataset and items, and a dataset run per variant linking each trace to its item", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);

    expect([...server.datasets.keys()]).toEqual([session.datasetName]);
    expect([...server.datasetItems.keys()].sort()).toEqual(
      items.map((i) => datasetItemId(session.datasetName, i.id)).sort(),
    );
    expect(server.datasetItems.get(datasetItemId(session.datasetName, "item-1"))).toMatchObject({
      input: { ticket: "forgot password" },
      expectedOutput: "account",
      status: "ACTIVE",
    });
    for (const variant of ["control", "candidate"]) {
      const runItems = server.runItems(datasetRunName(session, variant));
      expect(runItems.map((r) => [r.datasetItemId, r.traceId]).sort()).toEqual(
        items
          .map((i) => [
            datasetItemId(session.datasetName, i.id),
            callTraceId(session.runKey, `${variant}/${i.id}/0`),
          ])
          .sort(),
      );
    }
    expect(server.datasetRuns.size).toBe(2);
    expect(await tracker.url(session)).toMatch(
      new RegExp(`^${baseUrl}/project/${testProjectId}/datasets/ds-`),
    );
  });

  it("recording the same calls again, even from a fresh tracker after a crash, duplicates nothing", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls);
    const restarted = new LangfuseCallTracker({ baseUrl, ...credentials });
    await restarted.ensureDataset(session.datasetName, items);
    await restarted.recordCalls(session, calls);
    await restarted.shutdown();

    expect(server.traces.size).toBe(4);
    expect(server.observations.size).toBe(4);
    expect(server.scores.size).toBe(4);
    expect(server.datasetItems.size).toBe(2);
    expect(server.datasetRunItems).toHaveLength(4);
    // The second ensureDataset found the items unchanged and wrote none.
    expect(
      server.requests.filter((r) => r.method === "POST" && r.path === "/api/public/dataset-items"),
    ).toHaveLength(2);
  });

  it("links calls to the items of a Langfuse dataset under their own ids, without copying them", async () => {
    server.seedDataset("support-golden", [
      { id: "lf-item-a", input: { ticket: "printer on fire" }, expectedOutput: "hardware" },
    ]);
    const lfSession = { ...session, datasetName: "support-golden" };
    await tracker.ensureDataset("support-golden", [
      { id: "lf-item-a", input: { ticket: "printer on fire" } },
    ]);
    await tracker.recordCalls(lfSession, [
      call("control", 0, { key: "control/lf-item-a/0", itemId: "lf-item-a" }),
    ]);

    expect([...server.datasetItems.keys()]).toEqual(["lf-item-a"]);
    expect(server.runItems(datasetRunName(lfSession, "control"))).toMatchObject([
      { datasetItemId: "lf-item-a", traceId: callTraceId(session.runKey, "control/lf-item-a/0") },
    ]);
  });

  it("a call whose item is not in the dataset is a clear error", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await expect(
      tracker.recordCalls(session, [
        call("control", 0, { key: "control/item-9/0", itemId: "item-9" }),
      ]),
    ).rejects.toThrow(/item "item-9" is not in Langfuse dataset "llmops\/team-a\/triage"/);
  });

  it("refused keys: a LangfuseAuthError that says so and does not contain the secret key", async () => {
    const wrong = new LangfuseCallTracker({
      baseUrl,
      publicKey: "pk-lf-test",
      secretKey: "sk-wrong-secret",
    });
    const error = await wrong.recordCalls(session, calls).catch((e: unknown) => e);
    await wrong.shutdown();

    expect(error).toBeInstanceOf(LangfuseAuthError);
    const e = error as LangfuseAuthError;
    expect(e.status).toBe(401);
    expect(e.request).toBe("POST /api/public/ingestion");
    expect(e.message).toMatch(/refused the API keys/);
    expect(e.message).toMatch(/Invalid credentials/);
    expect(e.message).not.toContain("sk-wrong-secret");
    expect(e.retryable).toBe(false);
    expect(server.traces.size).toBe(0);
  });

  it("a 500 on ingestion is retried by the client and then succeeds", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    server.failNext = { count: 1, status: 500, method: "POST" };
    await tracker.recordCalls(session, calls);

    const ingestions = server.requests.filter((r) => r.path === "/api/public/ingestion");
    expect(ingestions).toHaveLength(2);
    expect(server.traces.size).toBe(4);
    expect(server.datasetRunItems).toHaveLength(4);
  });

  it("a 500 that outlasts the client's retries surfaces as a retryable LangfuseRequestError", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    server.failNext = { count: 3, status: 503, method: "POST" };
    const error = await tracker.recordCalls(session, calls).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseRequestError);
    expect((error as LangfuseRequestError).status).toBe(503);
    expect((error as LangfuseRequestError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/POST \/api\/public\/ingestion.*HTTP 503/);
    // 1 attempt + the client's 2 retries.
    expect(server.requests.filter((r) => r.path === "/api/public/ingestion")).toHaveLength(3);
    expect(server.datasetRunItems).toHaveLength(0);
  });

  it("a run-item POST that fails is not retried by the client (Langfuse would mint a duplicate)", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    await tracker.recordCalls(session, calls.slice(0, 1));
    // Arm the failure while ingestion runs, so it hits the next POST: the run-item create.
    server.rejectIngestionEvent = () => {
      server.failNext = { count: 1, status: 502, method: "POST" };
      return null;
    };
    const error = await tracker.recordCalls(session, calls.slice(1, 2)).catch((e: unknown) => e);
    server.rejectIngestionEvent = null;

    expect(error).toBeInstanceOf(LangfuseRequestError);
    expect((error as LangfuseRequestError).request).toBe("POST /api/public/dataset-run-items");
    expect(
      server.requests.filter(
        (r) => r.method === "POST" && r.path === "/api/public/dataset-run-items",
      ),
    ).toHaveLength(2);
    // The queue's retry then completes it, once.
    await tracker.recordCalls(session, calls.slice(0, 2));
    expect(server.datasetRunItems).toHaveLength(2);
  });

  it("a 207 with rejected events is an error naming them, and the run items wait for a clean retry", async () => {
    await tracker.ensureDataset(session.datasetName, items);
    server.rejectIngestionEvent = (event) =>
      event.type === "score-create" && event.body.value === 0
        ? "score value below the config's minimum"
        : null;
    const error = await tracker.recordCalls(session, calls).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(LangfuseIngestionError);
    const e = error as LangfuseIngestionError;
    expect(e.failures).toHaveLength(2);
    expect(e.failures.every((f) => f.type === "score-create" && f.status === 400)).toBe(true);
    expect(e.message).toMatch(/rejected 2 of 12 ingestion events: score-create [0-9a-f]{32}: 400/);
    expect(server.traces.size).toBe(4);
    expect(server.datasetRunItems).toHaveLength(0);

    server.rejectIngestionEvent = null;
    await tracker.recordCalls(session, calls);
    expect(server.scores.size).toBe(4);
    expect(server.datasetRunItems).toHaveLength(4);
  });

  it("the test server answers 207 with per-event errors for malformed events", async () => {
    const res = await fetch(`${baseUrl}/api/public/ingestion`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${credentials.publicKey}:${credentials.secretKey}`).toString("base64")}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        batch: [
          { id: "e1", type: "trace-create", timestamp: "2025-01-01T00:00:00Z", body: { id: "t1" } },
          {
            id: "e2",
            type: "generation-create",
            timestamp: "2025-01-01T00:00:00Z",
            body: { id: "g1" },
          },
          {
            id: "e3",
            type: "score-create",
            timestamp: "not a date",
            body: { name: "x", value: 1, traceId: "t1" },
          },
        ],
      }),
    });
    expect(res.status).toBe(207);
    const body = (await res.json()) as {
      successes: { id: string }[];
      errors: { id: string; error: string }[];
    };
    expect(body.successes.map((s) => s.id)).toEqual(["e1"]);
    expect(body.errors.map((e) => [e.id, e.error])).toEqual([
      ["e2", "body.traceId is required"],
      ["e3", "event timestamp must be an ISO 8601 datetime"],
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
