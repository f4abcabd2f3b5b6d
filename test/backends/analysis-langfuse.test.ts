// The langfuse analysis provider, through the official @langfuse/client, against the local
// Langfuse-protocol server (GET /api/public/v2/scores), with its API keys in real Secrets on the
// test control plane.
import { randomUUID } from "node:crypto";
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
    for (let i = 0; i < 4; i++)
      server.seedTrace({ id: `canary-${String(i)}`, tags: [revision, "prod"] });
    server.seedTrace({ id: "stable-0", tags: ["coder-7b-stable"] });
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
    // a categorical score, a score stamped after `now`.
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
    const listed = server.requests.filter((r) => r.path === "/api/public/v2/scores");
    expect(listed).toHaveLength(1);
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
    const pages = server.requests.filter((r) => r.path === "/api/public/v2/scores");
    expect(pages).toHaveLength(3);

    const newest = await measure(metric(), { langfuse: { maxScores: 150 } });
    expect(newest.value).toBe(5);
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
    expect(m.message).toMatch(/failed GET \/api\/public\/v2\/scores .* with HTTP 503/);
    // The next interval's measurement works again.
    expect(await measure(metric())).toMatchObject({ verdict: "Successful", value: 5 });
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
});
