// The langfuse analysis provider, through the official @langfuse/client, against the local
// Langfuse-protocol server (Langfuse v4's GET /api/public/v2/observations for the canary's traces,
// then GET /api/public/v3/scores for their scores), with its API keys in real Secrets on the test
// control plane.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  analysisProviders,
  measureMetric,
  type AnalysisMetric,
  type AnalysisOptions,
  type MeasurementContext,
} from "../../controller/backends/analysis/provider.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { SecretType } from "../../controller/kube/resources.js";
import { newClient } from "../runtime/helpers.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { LangfuseTestServer } from "../servers/langfuse/server.js";

const credentials = { publicKey: "pk-lf-analysis", secretKey: "sk-lf-analysis" };
const revision = "coder-7b-3f9a1c2d4e";
const now = Date.parse("2026-12-01T12:00:00.000Z");
const ago = (ms: number): string => new Date(now - ms).toISOString();
const minute = 60_000;

describe("langfuse analysis metrics", () => {
  const ns = useTestNamespace("analysis-lf");
  let server: LangfuseTestServer;
  let client: KubeClient;

  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    await server.start();
    client = newClient(testKubeConfig());
    await client.apply(SecretType, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "langfuse", namespace: ns.name },
      stringData: { public: credentials.publicKey, secret: credentials.secretKey },
    });
    // Traces of the canary and of the stable revision; scores on both.
    for (let i = 0; i < 4; i++) {
      server.seedTrace({
        id: `canary-${String(i)}`,
        tags: [revision, "prod"],
        timestamp: ago(2 * minute),
      });
    }
    server.seedTrace({ id: "stable-0", tags: ["coder-7b-stable"], timestamp: ago(2 * minute) });
  });
  afterEach(async () => {
    await server.stop();
  });

  const metric = (
    extra: Partial<NonNullable<AnalysisMetric["langfuse"]>> = {},
  ): AnalysisMetric => ({
    name: "helpfulness",
    successCondition: "result >= 4",
    langfuse: {
      scoreName: "helpfulness",
      baseURL: server.baseUrl,
      publicKeySecretRef: { name: "langfuse", key: "public" },
      secretKeySecretRef: { name: "langfuse", key: "secret" },
      ...extra,
    },
  });
  const context = (): MeasurementContext => ({
    client,
    cache: { get: () => undefined, list: () => [] },
    namespace: ns.name,
    revision,
    service: revision,
    now,
  });
  const measure = (m: AnalysisMetric, options: AnalysisOptions = {}) =>
    measureMetric(m, context(), analysisProviders(options));
  const requestsTo = (path: string) => server.requests.filter((r) => r.path === path);

  it("the mean of the score over the window, on the canary's traces only", async () => {
    server.seedScore({
      name: "helpfulness",
      value: 5,
      traceId: "canary-0",
      timestamp: ago(1 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 4,
      traceId: "canary-1",
      timestamp: ago(2 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 4.5,
      traceId: "canary-2",
      timestamp: ago(4 * minute),
    });
    // Not counted: older than the window (5m), another revision's trace, another score name,
    // a categorical score, a score stamped after `now`, a score on a canary trace that started
    // before the traces looked at (one more window before the scores' window).
    server.seedTrace({ id: "canary-old", tags: [revision], timestamp: ago(11 * minute) });
    server.seedScore({
      name: "helpfulness",
      value: 1,
      traceId: "canary-old",
      timestamp: ago(1 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 1,
      traceId: "canary-3",
      timestamp: ago(6 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 1,
      traceId: "stable-0",
      timestamp: ago(1 * minute),
    });
    server.seedScore({
      name: "toxicity",
      value: 1,
      traceId: "canary-0",
      timestamp: ago(1 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: "great",
      dataType: "CATEGORICAL",
      traceId: "canary-0",
      timestamp: ago(1 * minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 1,
      traceId: "canary-0",
      timestamp: ago(-minute),
    });

    const m = await measure(metric());
    expect(m).toEqual({
      value: 4.5,
      verdict: "Successful",
      message: "helpfulness = 4.5 (result >= 4): Successful",
    });
    expect(requestsTo("/api/public/v2/observations")).toHaveLength(1);
    expect(requestsTo("/api/public/v3/scores")).toHaveLength(1);
    // Not the deprecated listing Langfuse v4 no longer serves.
    expect(requestsTo("/api/public/v2/scores")).toHaveLength(0);
  });

  it("a low mean is Failed", async () => {
    server.seedScore({
      name: "helpfulness",
      value: 2,
      traceId: "canary-0",
      timestamp: ago(minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 3,
      traceId: "canary-1",
      timestamp: ago(minute),
    });
    const m = await measure(metric());
    expect(m).toMatchObject({ verdict: "Failed", value: 2.5 });
  });

  it("the window is spec.langfuse.window", async () => {
    server.seedScore({
      name: "helpfulness",
      value: 5,
      traceId: "canary-0",
      timestamp: ago(minute),
    });
    server.seedScore({
      name: "helpfulness",
      value: 1,
      traceId: "canary-1",
      timestamp: ago(20 * minute),
    });
    expect(await measure(metric({ window: "30m" }))).toMatchObject({ value: 3, verdict: "Failed" });
    expect(await measure(metric({ window: "10m" }))).toMatchObject({ value: 5 });
  });

  it("boolean scores average to the share of 1s", async () => {
    for (const [i, value] of [1, 1, 0, 1].entries()) {
      server.seedScore({
        name: "helpfulness",
        value,
        dataType: "BOOLEAN",
        traceId: `canary-${String(i)}`,
        timestamp: ago(minute),
      });
    }
    const m = await measureMetric(
      { ...metric(), successCondition: "result >= 0.7" },
      context(),
      analysisProviders(),
    );
    expect(m).toMatchObject({ value: 0.75, verdict: "Successful" });
  });

  it("reads every page, and at most maxScores of the newest", async () => {
    for (let i = 0; i < 250; i++) {
      server.seedScore({
        name: "helpfulness",
        value: i < 200 ? 5 : 1,
        traceId: `canary-${String(i % 4)}`,
        // The 200 fives are the newest.
        timestamp: ago(1000 + i * 100),
      });
    }
    const all = await measure(metric());
    expect(all.value).toBeCloseTo((200 * 5 + 50 * 1) / 250, 12);
    expect(requestsTo("/api/public/v3/scores")).toHaveLength(3);

    const newest = await measure(metric(), { langfuse: { maxScores: 150 } });
    expect(newest.value).toBe(5);
  });

  it("finds the traces page by page, asks for their scores in batches, at most maxTraces", async () => {
    for (let i = 0; i < 150; i++) {
      const id = `busy-${String(i).padStart(3, "0")}`;
      // The 10 newest traces score 5, the others 3.
      server.seedTrace({ id, tags: [revision], timestamp: ago(minute + i * 1000) });
      server.seedScore({
        name: "helpfulness",
        value: i < 10 ? 5 : 3,
        traceId: id,
        timestamp: ago(30_000),
      });
    }
    const all = await measure(metric(), { langfuse: { tracePageSize: 40 } });
    expect(all.value).toBeCloseTo((10 * 5 + 140 * 3) / 150, 12);
    // 154 canary traces (the 4 of beforeEach have no score) in pages of 40; ids 100 at a time.
    expect(requestsTo("/api/public/v2/observations")).toHaveLength(4);
    expect(requestsTo("/api/public/v3/scores")).toHaveLength(2);

    server.requests.length = 0;
    const newest = await measure(metric(), { langfuse: { maxTraces: 10, tracePageSize: 40 } });
    expect(newest.value).toBe(5);
    expect(requestsTo("/api/public/v2/observations")).toHaveLength(1);
  });

  it("no scores in the window is an Error, not a failure", async () => {
    server.seedScore({
      name: "helpfulness",
      value: 5,
      traceId: "stable-0",
      timestamp: ago(minute),
    });
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toBe(
      `helpfulness: no scores named helpfulness on traces tagged ${revision} in the last 5m at ${server.baseUrl}: Error`,
    );
  });

  it("trace tags from spans count too (langfuse.trace.tags)", async () => {
    const traceId = randomUUID().replaceAll("-", "");
    server.spans.set(`${traceId}/0000000000000001`, {
      traceId,
      spanId: "0000000000000001",
      parentSpanId: null,
      name: "chat",
      startTime: ago(minute),
      endTime: ago(minute),
      attributes: { "langfuse.trace.tags": [revision] },
      status: { code: 0 },
      scope: { name: "test" },
      resource: {},
    });
    server.seedScore({ name: "helpfulness", value: 4, traceId, timestamp: ago(minute) });
    expect(await measure(metric())).toMatchObject({ value: 4, verdict: "Successful" });
  });

  it("refused keys are an Error that says to check them", async () => {
    await client.apply(SecretType, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "langfuse", namespace: ns.name },
      stringData: { public: credentials.publicKey, secret: "sk-lf-wrong" },
    });
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/refused the API keys .* HTTP 401/);
    expect(m.message).not.toContain("sk-lf-wrong");
  });

  it("a missing Secret is an Error naming the field", async () => {
    const m = await measure(metric({ secretKeySecretRef: { name: "nope", key: "secret" } }));
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(
      new RegExp(
        `spec.strategy.canary.analysis.metrics\\[helpfulness\\].langfuse.secretKeySecretRef: Secret ${ns.name}/nope does not exist`,
      ),
    );
  });

  it("a Langfuse server error is an Error, tried once", async () => {
    server.seedScore({
      name: "helpfulness",
      value: 5,
      traceId: "canary-0",
      timestamp: ago(minute),
    });
    server.failNext = { count: 1, status: 503, method: "GET" };
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/failed GET \/api\/public\/v2\/observations .* with HTTP 503/);
    expect(requestsTo("/api/public/v2/observations")).toHaveLength(1);
    expect(requestsTo("/api/public/v3/scores")).toHaveLength(0);
    // The next interval's measurement works again.
    expect(await measure(metric())).toMatchObject({ verdict: "Successful", value: 5 });
  });

  it("a Langfuse without the v4 routes (404) is an Error that says so", async () => {
    const old = createServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "Route not found", error: "NotFoundError" }));
    });
    await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
    try {
      const baseURL = `http://127.0.0.1:${String((old.address() as AddressInfo).port)}`;
      const m = await measure(metric({ baseURL }));
      expect(m.verdict).toBe("Error");
      expect(m.message).toMatch(/answered 404 to GET \/api\/public\/v2\/observations/);
      expect(m.message).toMatch(/need Langfuse v4/);
    } finally {
      old.closeAllConnections();
      await new Promise<void>((resolve) =>
        old.close(() => {
          resolve();
        }),
      );
    }
  });

  it("an unreachable Langfuse is an Error", async () => {
    await server.stop();
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/Langfuse at http:\/\/127\.0\.0\.1:\d+/);
  });
});

describe("the local Langfuse server's score listing", () => {
  let server: LangfuseTestServer;
  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
  });
  const get = async (query: string) => {
    const response = await fetch(`${server.baseUrl}/api/public/v2/scores?${query}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${credentials.publicKey}:${credentials.secretKey}`).toString("base64")}`,
      },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("answers a limit over 100 with 400, as Langfuse documents", async () => {
    const r = await get("limit=101");
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ message: "limit must be at most 100" });
  });

  it("refuses trace-tag filters without the trace field group", async () => {
    const r = await get("traceTags=a&fields=score");
    expect(r.status).toBe(400);
  });

  it("lists scores newest first with page metadata, a created score stamped now", async () => {
    server.seedTrace({ id: "t1", tags: ["a"] });
    server.seedScore({ name: "q", value: 1, traceId: "t1", timestamp: "2020-01-01T00:00:00Z" });
    const created = await fetch(`${server.baseUrl}/api/public/scores`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Basic ${Buffer.from(`${credentials.publicKey}:${credentials.secretKey}`).toString("base64")}`,
      },
      body: JSON.stringify({ name: "q", value: 0, dataType: "BOOLEAN", traceId: "t1" }),
    });
    expect(created.status).toBe(200);
    const r = await get("name=q&traceTags=a&limit=1");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      data: [
        { name: "q", value: 0, stringValue: "False", dataType: "BOOLEAN", trace: { tags: ["a"] } },
      ],
      meta: { page: 1, limit: 1, totalItems: 2, totalPages: 2 },
    });
  });

  const getAt = async (path: string, query: string) => {
    const response = await fetch(`${server.baseUrl}${path}?${query}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${credentials.publicKey}:${credentials.secretKey}`).toString("base64")}`,
      },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("v3 scores: typed values, newest first, cursor pages, documented 400s", async () => {
    server.seedTrace({ id: "t1", tags: ["a"] });
    server.seedTrace({ id: "t2", tags: ["b"] });
    server.seedScore({
      name: "q",
      value: 1,
      dataType: "BOOLEAN",
      traceId: "t1",
      timestamp: "2020-01-01T00:00:03Z",
    });
    server.seedScore({ name: "q", value: 0.5, traceId: "t2", timestamp: "2020-01-01T00:00:02Z" });
    server.seedScore({
      name: "q",
      value: "good",
      traceId: "t1",
      timestamp: "2020-01-01T00:00:01Z",
    });
    server.seedScore({ name: "other", value: 2, traceId: "t1", timestamp: "2020-01-01T00:00:04Z" });

    const first = await getAt(
      "/api/public/v3/scores",
      "name=q&traceId=t1,t2&limit=2&fields=subject",
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      data: [
        { name: "q", dataType: "BOOLEAN", value: true, subject: { kind: "trace", id: "t1" } },
        { name: "q", dataType: "NUMERIC", value: 0.5, subject: { kind: "trace", id: "t2" } },
      ],
      meta: { limit: 2, cursor: expect.any(String) as unknown },
    });
    const cursor = (first.body.meta as { cursor: string }).cursor;
    const second = await getAt(
      "/api/public/v3/scores",
      `name=q&traceId=t1,t2&limit=2&cursor=${cursor}`,
    );
    expect(second.body).toMatchObject({
      data: [{ dataType: "CATEGORICAL", value: "good" }],
      meta: { limit: 2 },
    });
    expect(second.body.meta).not.toHaveProperty("cursor");
    const window = await getAt(
      "/api/public/v3/scores",
      "name=q&traceId=t1&fromTimestamp=2020-01-01T00:00:01Z&toTimestamp=2020-01-01T00:00:03Z",
    );
    expect((window.body.data as unknown[]).length).toBe(1);

    expect((await getAt("/api/public/v3/scores", "limit=101")).status).toBe(400);
    expect((await getAt("/api/public/v3/scores", "fields=trace")).status).toBe(400);
    expect((await getAt("/api/public/v3/scores", "traceId=t1&sessionId=s")).status).toBe(400);
    expect((await getAt("/api/public/v3/scores", "observationId=o")).status).toBe(400);
    expect((await getAt("/api/public/v3/scores", "cursor=nope")).status).toBe(400);
  });

  it("v2 observations: a filter on trace tags and start time, cursor pages, documented 400s", async () => {
    server.seedTrace({ id: "t1", tags: ["a"], timestamp: "2020-01-01T00:00:03Z" });
    server.seedTrace({ id: "t2", tags: ["a", "b"], timestamp: "2020-01-01T00:00:02Z" });
    server.seedTrace({ id: "t3", tags: ["b"], timestamp: "2020-01-01T00:00:01Z" });
    const filter = (value: string[], from: string) =>
      encodeURIComponent(
        JSON.stringify([
          { type: "arrayOptions", column: "traceTags", operator: "any of", value },
          { type: "datetime", column: "startTime", operator: ">=", value: from },
        ]),
      );
    const first = await getAt(
      "/api/public/v2/observations",
      `fields=core,trace_context&limit=1&filter=${filter(["a"], "2020-01-01T00:00:00Z")}`,
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      data: [{ traceId: "t1", type: "SPAN", parentObservationId: null, tags: ["a"] }],
      meta: { cursor: expect.any(String) as unknown },
    });
    const cursor = encodeURIComponent((first.body.meta as { cursor: string }).cursor);
    const second = await getAt(
      "/api/public/v2/observations",
      `fields=core&limit=1&cursor=${cursor}&filter=${filter(["a"], "2020-01-01T00:00:00Z")}`,
    );
    expect(second.body).toMatchObject({ data: [{ traceId: "t2" }], meta: {} });
    expect(second.body.meta).not.toHaveProperty("cursor");
    expect(second.body.data as unknown[]).not.toContainEqual(
      expect.objectContaining({ tags: expect.anything() as unknown }),
    );
    // The filter takes precedence over the query parameters.
    const later = await getAt(
      "/api/public/v2/observations",
      `fromStartTime=2019-01-01T00:00:00Z&filter=${filter(["b"], "2020-01-01T00:00:02Z")}`,
    );
    expect((later.body.data as { traceId: string }[]).map((o) => o.traceId)).toEqual(["t2"]);
    const byTime = await getAt(
      "/api/public/v2/observations",
      "fromStartTime=2020-01-01T00:00:02Z&toStartTime=2020-01-01T00:00:03Z",
    );
    expect((byTime.body.data as { traceId: string }[]).map((o) => o.traceId)).toEqual(["t2"]);

    expect((await getAt("/api/public/v2/observations", "limit=1001")).status).toBe(400);
    expect((await getAt("/api/public/v2/observations", "fields=scores")).status).toBe(400);
    expect((await getAt("/api/public/v2/observations", "filter=nope")).status).toBe(400);
    expect((await getAt("/api/public/v2/observations", "parseIoAsJson=true")).status).toBe(400);
  });
});
