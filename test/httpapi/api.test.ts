// The HTTP API as an application uses it, on the real control plane: two tenants (namespaces) with
// their own ServiceAccounts and Roles, real TokenReviews and SubjectAccessReviews, Prompts versioned
// by the Prompt controller, a model served by the OpenAI-protocol test server, and an online A/B
// Experiment run through assignments and outcomes until the Experiment controller decides it.
// The answers are read as untyped JSON, as an application in another language would read them.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Experiment, Prompt } from "../../controller/api/generated/index.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { apiRoutes, startApiServer, type ApiServer } from "../../controller/httpapi/server.js";
import { openApiDocument } from "../../controller/httpapi/openapi.js";
import { OnlineStore, readRunState } from "../../controller/online/store.js";
import { experimentController } from "../../controller/reconcilers/experiment/reconciler.js";
import { promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { systemClock } from "../../controller/runtime/clock.js";
import { Manager } from "../../controller/runtime/manager.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeConfig,
} from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

type StoredExperiment = Experiment & { metadata: { uid: string } };

async function apply(manifest: unknown): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: stringify(manifest) });
  expect(result.code, result.stderr).toBe(0);
}

function prompt(namespace: string, baseURL: string, wording: string, labels: string[]): Prompt {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: "triage", namespace },
    spec: {
      template: {
        messages: [
          { role: "system", content: `${wording} Reply with one word.` },
          { role: "user", content: "Ticket: {{ticket}} (priority {{priority}})" },
        ],
      },
      variables: [
        { name: "ticket", required: true },
        { name: "priority", type: "integer", default: "3" },
      ],
      model: { name: "model-x", endpoint: { baseURL }, parameters: { temperature: 0 } },
      labels,
    },
  };
}

/** A tenant: a ServiceAccount allowed everything the API offers in its own namespace only. */
async function tenant(namespace: string): Promise<string> {
  const role = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "llmops-app", namespace },
    rules: [
      { apiGroups: ["llmops.dev"], resources: ["prompts", "experiments"], verbs: ["get", "list"] },
      {
        apiGroups: ["llmops.dev"],
        resources: ["prompts/test", "experiments/assignments", "experiments/outcomes"],
        verbs: ["create"],
      },
    ],
  };
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "llmops-app", namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "llmops-app" },
    subjects: [{ kind: "ServiceAccount", name: "app", namespace }],
  };
  const sa = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app", namespace } };
  for (const m of [sa, role, binding]) await apply(m);
  const token = await kubectl(["create", "token", "app", "-n", namespace, "--duration", "1h"]);
  expect(token.code, token.stderr).toBe(0);
  return token.stdout.trim();
}

describe("HTTP API", () => {
  let client: KubeClient;
  let llm: OpenAiTestServer;
  let api: ApiServer;
  let store: OnlineStore;
  let stopManager: () => Promise<void>;
  let nsA = "";
  let nsB = "";
  let tokenA = "";
  let tokenB = "";

  const call = async (
    method: string,
    path: string,
    options: {
      token?: string;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
    } = {},
  ) => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined || options.raw !== undefined
          ? { "content-type": "application/json" }
          : {}),
        ...options.headers,
      },
      ...(options.raw !== undefined
        ? { body: options.raw }
        : options.body !== undefined
          ? { body: JSON.stringify(options.body) }
          : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === "" ? undefined : (JSON.parse(text) as Record<string, any>),
    };
  };

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    nsA = await createTestNamespace("api-a");
    nsB = await createTestNamespace("api-b");
    llm = await startOpenAiTestServer({ models: [{ id: "model-x", respond: () => "billing" }] });
    const { logger } = memoryLogger("info");
    store = new OnlineStore({ client, logger, clock: systemClock() });
    const manager = new Manager({ client, logger, namespaces: [nsA, nsB] });
    manager.add(
      promptController(),
      experimentController({ onlineStore: store, onlineAnalysisIntervalMs: 300 }),
    );
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    stopManager = async () => {
      stop.abort();
      await done;
    };
    const started = await startApiServer({
      address: "127.0.0.1:0",
      client,
      logger,
      clock: systemClock(),
      namespaces: [nsA, nsB],
      store,
      rateLimit: { ratePerSecond: 10_000, burst: 10_000 },
      prices: { "model-x": { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } },
    });
    if (started === undefined) throw new Error("the API server did not start");
    api = started;
    tokenA = await tenant(nsA);
    tokenB = await tenant(nsB);
    // Version 1 is production; version 2 (new wording) is staging and live.
    await apply(prompt(nsA, llm.baseURL, "Classify the ticket.", ["production"]));
    await eventually("v1", async () => {
      const r = await call("GET", `/v1/prompts/${nsA}/triage`, { token: tokenA });
      return r.status === 200 && r.body?.version === 1 ? true : undefined;
    });
    await apply(prompt(nsA, llm.baseURL, "Classify the support ticket.", ["staging"]));
    await apply(prompt(nsB, llm.baseURL, "Tenant B's secret wording.", ["production"]));
    await eventually("v2", async () => {
      const r = await call("GET", `/v1/prompts/${nsA}/triage`, { token: tokenA });
      return r.status === 200 && r.body?.version === 2 ? true : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    await api.close();
    await stopManager();
    await store.close();
    await llm.close();
    await deleteTestNamespace(nsA);
    await deleteTestNamespace(nsB);
  });

  it("serves its OpenAPI document, which lists every route it routes", async () => {
    const r = await call("GET", "/openapi.json");
    expect(r.status).toBe(200);
    expect(r.body?.openapi).toBe("3.1.0");
    const paths = openApiDocument.paths as Record<string, Record<string, unknown>>;
    for (const route of apiRoutes()) {
      expect(
        paths[route.path]?.[route.method.toLowerCase()],
        `${route.method} ${route.path}`,
      ).toBeDefined();
    }
  });

  it("refuses requests without a valid token, and another tenant's prompts", async () => {
    expect((await call("GET", `/v1/prompts/${nsA}/triage`)).status).toBe(401);
    const forged = await call("GET", `/v1/prompts/${nsA}/triage`, { token: "not-a-token" });
    expect(forged.status).toBe(401);
    expect(forged.body?.error.code).toBe("Unauthorized");
    const other = await call("GET", `/v1/prompts/${nsA}/triage`, { token: tokenB });
    expect(other.status).toBe(403);
    expect(other.body?.error.message).toContain(
      `serviceaccount ${nsB}/app cannot get prompts in namespace ${nsA}`,
    );
    expect((await call("GET", `/v1/prompts/${nsB}/triage`, { token: tokenA })).status).toBe(403);
    expect(
      (
        await call("POST", `/v1/prompts/${nsA}/triage/render`, {
          token: tokenB,
          body: { variables: { ticket: "x" } },
        })
      ).status,
    ).toBe(403);
    // Listing shows each tenant its own namespace only.
    const listA = await call("GET", "/v1/prompts", { token: tokenA });
    expect(listA.body?.items.map((p: { namespace: string }) => p.namespace)).toEqual([nsA]);
    const listB = await call("GET", "/v1/prompts", { token: tokenB });
    expect(listB.body?.items.map((p: { namespace: string }) => p.namespace)).toEqual([nsB]);
    expect((await call("GET", `/v1/prompts?namespace=${nsA}`, { token: tokenB })).status).toBe(403);
  });

  it("reads prompts live, by label and by version, with ETag and If-None-Match", async () => {
    const live = await call("GET", `/v1/prompts/${nsA}/triage`, { token: tokenA });
    expect(live.body).toMatchObject({
      version: 2,
      live: true,
      labels: ["staging"],
      model: { name: "model-x", parameters: { temperature: 0 } },
    });
    expect(live.body?.template.messages[0].content).toBe(
      "Classify the support ticket. Reply with one word.",
    );
    const production = await call("GET", `/v1/prompts/${nsA}/triage?label=production`, {
      token: tokenA,
    });
    expect(production.body).toMatchObject({ version: 1, live: false, labels: ["production"] });
    expect(production.body?.template.messages[0].content).toBe(
      "Classify the ticket. Reply with one word.",
    );
    const v1 = await call("GET", `/v1/prompts/${nsA}/triage?version=1`, { token: tokenA });
    expect(v1.body?.contentHash).toBe(production.body?.contentHash);
    const etag = live.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await call("GET", `/v1/prompts/${nsA}/triage`, {
      token: tokenA,
      headers: { "if-none-match": etag },
    });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    const changed = await call("GET", `/v1/prompts/${nsA}/triage?version=1`, {
      token: tokenA,
      headers: { "if-none-match": etag },
    });
    expect(changed.status).toBe(200);
    const missing = await call("GET", `/v1/prompts/${nsA}/triage?version=9`, { token: tokenA });
    expect(missing.status).toBe(404);
    expect(missing.body?.error.message).toContain("has no version 9; versions: 2, 1");
    expect((await call("GET", `/v1/prompts/${nsA}/nope`, { token: tokenA })).status).toBe(404);
  });

  it("renders, naming a missing or undeclared variable in a 422, and bounds the body", async () => {
    const ok = await call("POST", `/v1/prompts/${nsA}/triage/render?label=production`, {
      token: tokenA,
      body: { variables: { ticket: "Refund please", priority: 1 } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body?.version).toBe(1);
    expect(ok.body?.messages).toEqual([
      { role: "system", content: "Classify the ticket. Reply with one word." },
      { role: "user", content: "Ticket: Refund please (priority 1)" },
    ]);
    const missing = await call("POST", `/v1/prompts/${nsA}/triage/render`, {
      token: tokenA,
      body: { variables: {} },
    });
    expect(missing.status).toBe(422);
    expect(missing.body?.error).toMatchObject({
      code: "MissingVariable",
      field: "variables.ticket",
    });
    const undeclared = await call("POST", `/v1/prompts/${nsA}/triage/render`, {
      token: tokenA,
      body: { variables: { ticket: "x", tone: "calm" } },
    });
    expect(undeclared.status).toBe(422);
    expect(undeclared.body?.error.message).toContain("variables.tone: Prompt");
    const unknownField = await call("POST", `/v1/prompts/${nsA}/triage/render`, {
      token: tokenA,
      body: { vars: {} },
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body?.error.message).toContain("(vars)");
    const notJson = await call("POST", `/v1/prompts/${nsA}/triage/render`, {
      token: tokenA,
      raw: "{nope",
    });
    expect(notJson.status).toBe(400);
    const huge = await call("POST", `/v1/prompts/${nsA}/triage/render`, {
      token: tokenA,
      body: { variables: { ticket: "x".repeat(100_000) } },
    });
    expect(huge.status).toBe(413);
  });

  it("tests a prompt: one model call, with output, usage, cost and latency", async () => {
    const before = llm.requests.length;
    const r = await call("POST", `/v1/prompts/${nsA}/triage/test?version=1`, {
      token: tokenA,
      body: { variables: { ticket: "Refund please" } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: 1, output: "billing", model: "model-x" });
    expect(r.body?.usage.totalTokens).toBeGreaterThan(0);
    const { inputTokens, outputTokens } = r.body?.usage as {
      inputTokens: number;
      outputTokens: number;
    };
    expect(r.body?.costUSD).toBeCloseTo(inputTokens * 1 + outputTokens * 2, 9);
    expect(r.body?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(llm.requests.length).toBe(before + 1);
    const sent = llm.requests.at(-1)?.body;
    expect(sent?.messages[1]?.content).toBe("Ticket: Refund please (priority 3)");
    expect(sent?.temperature).toBe(0);
  });

  it("limits each client's request rate", async () => {
    const strict = await startApiServer({
      address: "127.0.0.1:0",
      client,
      logger: memoryLogger().logger,
      clock: systemClock(),
      namespaces: [nsA],
      store,
      rateLimit: { ratePerSecond: 0.5, burst: 2 },
      prices: {},
    });
    try {
      const get = () =>
        fetch(`${strict?.url ?? ""}/v1/prompts/${nsA}/triage`, {
          headers: { authorization: `Bearer ${tokenA}` },
        });
      await eventually("ready", () => (strict?.isReady() ? true : undefined));
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await get()).status);
      expect(statuses.slice(0, 2).every((s) => s !== 429)).toBe(true);
      const limited = await get();
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    } finally {
      await strict?.close();
    }
  });

  it("runs an online A/B test through assignments and outcomes to the sequential decision", async () => {
    const experiment: Experiment = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "wording", namespace: nsA },
      spec: {
        variants: [
          { name: "current", control: true, prompt: { name: "triage", label: "production" } },
          { name: "support", prompt: { name: "triage", label: "staging" } },
        ],
        evaluators: [{ name: "resolved", type: "outcome", outcome: { kind: "binary" } }],
        analysis: { primaryMetric: "resolved", minSamples: 200 },
        traffic: {
          weights: [
            { variant: "current", weight: 50 },
            { variant: "support", weight: 50 },
          ],
          salt: "t1",
        },
      },
    };
    await apply(experiment);
    const started = await eventually("the online run", async () => {
      const e = await client.get<StoredExperiment>(ExperimentType, {
        namespace: nsA,
        name: "wording",
      });
      return e.status?.online?.runId !== undefined ? e : undefined;
    });
    expect(started.status?.online?.variants).toEqual([
      { name: "current", prompt: "triage", promptVersion: 1 },
      { name: "support", prompt: "triage", promptVersion: 2 },
    ]);
    await eventually("the API sees the run", async () => {
      const r = await call("POST", `/v1/experiments/${nsA}/wording/assignments`, {
        token: tokenA,
        body: { unit: "probe" },
      });
      return r.status === 200 ? true : undefined;
    });

    // Another tenant can neither assign nor report here.
    expect(
      (
        await call("POST", `/v1/experiments/${nsA}/wording/assignments`, {
          token: tokenB,
          body: { unit: "u" },
        })
      ).status,
    ).toBe(403);

    // The documented hash, computed here independently.
    const uid = started.metadata.uid;
    const expected = (unit: string) => {
      const digest = createHash("sha256").update(`${uid}:t1:${unit}`).digest();
      return digest.readUInt32BE(0) / 2 ** 32 < 0.5 ? "current" : "support";
    };
    const units = Array.from({ length: 2000 }, (_, i) => `user-${String(i)}`);
    const assigned = new Map<string, string>();
    for (let i = 0; i < units.length; i += 50) {
      await Promise.all(
        units.slice(i, i + 50).map(async (unit) => {
          const r = await call("POST", `/v1/experiments/${nsA}/wording/assignments`, {
            token: tokenA,
            body: { user_id: unit },
          });
          expect(r.status).toBe(200);
          assigned.set(unit, r.body?.variant as string);
          expect(r.body?.prompt).toEqual(
            r.body?.variant === "current"
              ? { name: "triage", version: 1 }
              : { name: "triage", version: 2 },
          );
        }),
      );
    }
    for (const unit of units) expect(assigned.get(unit), unit).toBe(expected(unit));
    const sticky = await call("POST", `/v1/experiments/${nsA}/wording/assignments`, {
      token: tokenA,
      body: { unit: "user-7" },
    });
    expect(sticky.body?.variant).toBe(assigned.get("user-7"));

    // Bad outcomes are refused whole, naming the field.
    const unknown = await call("POST", `/v1/experiments/${nsA}/wording/outcomes`, {
      token: tokenA,
      body: [{ id: "x", unit: "user-1", metric: "clicks", value: 1 }],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body?.error).toMatchObject({ code: "UnknownMetric", field: "[0].metric" });
    const half = await call("POST", `/v1/experiments/${nsA}/wording/outcomes`, {
      token: tokenA,
      body: { outcomes: [{ id: "x", unit: "user-1", metric: "resolved", value: 0.5 }] },
    });
    expect(half.body?.error.field).toBe("outcomes[0].value");

    // A known effect: the new wording resolves 35% of tickets, the current one 15%. Deterministic
    // per unit, so the test can recompute everything the controller reports.
    const resolved = (unit: string) => {
      const x = createHash("sha256").update(`outcome:${unit}`).digest().readUInt32BE(0) / 2 ** 32;
      return x < (assigned.get(unit) === "support" ? 0.35 : 0.15) ? 1 : 0;
    };
    const outcomes = units.map((unit) => ({
      id: `resolved-${unit}`,
      unit,
      metric: "resolved",
      value: resolved(unit) === 1,
    }));
    let accepted = 0;
    for (let i = 0; i < outcomes.length; i += 250) {
      const batch = outcomes.slice(i, i + 250);
      const r = await call("POST", `/v1/experiments/${nsA}/wording/outcomes`, {
        token: tokenA,
        body: batch,
      });
      expect(r.status).toBe(200);
      accepted += r.body?.accepted as number;
      // A retry of the same batch (a lost response) counts nothing twice.
      const retry = await call("POST", `/v1/experiments/${nsA}/wording/outcomes`, {
        token: tokenA,
        body: batch,
      });
      expect(retry.body).toMatchObject({ accepted: 0, duplicates: batch.length });
    }
    expect(accepted).toBe(units.length);
    const state = await readRunState(client, nsA, "wording");
    for (const v of ["current", "support"]) {
      const mine = units.filter((u) => assigned.get(u) === v);
      expect(state?.variants[v]?.metrics.resolved?.n).toBe(mine.length);
      expect(state?.variants[v]?.metrics.resolved?.mean).toBeCloseTo(
        mine.reduce((s, u) => s + resolved(u), 0) / mine.length,
        12,
      );
    }

    const done = await eventually(
      "the Experiment decided",
      async () => {
        const e = await client.get<StoredExperiment>(ExperimentType, {
          namespace: nsA,
          name: "wording",
        });
        return e.status?.phase === "Completed" ? e : undefined;
      },
      60_000,
    );
    expect(done.status?.winner).toBe("support");
    expect(done.status?.online?.srm?.mismatch).toBe(false);
    // The decision recomputed from the counts in status, by the formula alone.
    const [control, candidate] = ["current", "support"].map((v) => {
      const r = done.status?.results?.find((x) => x.variant === v);
      const m = r?.metrics?.find((x) => x.name === "resolved");
      return { n: m?.n ?? 0, p: m?.mean ?? 0, exposures: r?.exposures ?? 0 };
    });
    if (control === undefined || candidate === undefined) throw new Error("no results");
    expect(candidate.exposures + control.exposures).toBeGreaterThanOrEqual(units.length);
    const variance = (x: { n: number; p: number }) => (x.p * (1 - x.p) * x.n) / (x.n - 1);
    const V = variance(control) / control.n + variance(candidate) / candidate.n;
    const pooled =
      ((control.n - 1) * variance(control) + (candidate.n - 1) * variance(candidate)) /
      (control.n + candidate.n - 2);
    const tau2 = 0.1 ** 2 * pooled;
    const delta = candidate.p - control.p;
    const lambda =
      Math.sqrt(V / (V + tau2)) * Math.exp((tau2 * delta * delta) / (2 * V * (V + tau2)));
    const comparison = done.status?.comparisons?.[0];
    expect(comparison).toMatchObject({ variant: "support", test: "msprt", significant: true });
    expect(comparison?.pValue).toBeCloseTo(Math.min(1, 1 / lambda), 4);
    expect(1 / lambda).toBeLessThanOrEqual(0.05);
    // The same promotion path as an offline experiment: policy manual waits for `llmops promote`.
    const promoted = await eventually("promotion decided", async () => {
      const e = await client.get<StoredExperiment>(ExperimentType, {
        namespace: nsA,
        name: "wording",
      });
      return e.status?.promotion !== undefined ? e : undefined;
    });
    expect(promoted.status?.promotion).toMatchObject({
      state: "Pending",
      prompt: "triage",
      version: 2,
      label: "production",
    });

    const read = await call("GET", `/v1/experiments/${nsA}/wording`, { token: tokenA });
    expect(read.body).toMatchObject({ phase: "Completed", winner: "support" });
    expect(read.body?.comparisons[0].test).toBe("msprt");
    expect((await call("GET", `/v1/experiments/${nsA}/wording`, { token: tokenB })).status).toBe(
      403,
    );
  });
});
