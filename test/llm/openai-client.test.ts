// The LLM client against the local OpenAI-protocol server over real HTTP: auth, known accuracies,
// and each injected failure. Retry waits go through an injected sleep that records and returns,
// so these tests wait only where the behaviour is a real timeout.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decideWinner, type Observation } from "../../controller/analysis/index.js";
import {
  EndpointConcurrency,
  LlmConnectionError,
  LlmHttpError,
  LlmMalformedResponseError,
  createOpenAiChatClient,
  type OpenAiChatClientOptions,
} from "../../controller/backends/llm/index.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";

const API_KEY = "sk-local-test-key-0001";
const dataset = arithmeticDataset(200, 42);

let server: OpenAiTestServer;

beforeAll(async () => {
  server = await startOpenAiTestServer({
    apiKey: API_KEY,
    dataset,
    models: [
      { id: "acc-90", accuracy: 0.9 },
      { id: "acc-70", accuracy: 0.7 },
      { id: "slow", accuracy: 1, latencyMs: 20 },
    ],
  });
});

afterAll(async () => {
  await server.close();
});

function client(extra: Partial<OpenAiChatClientOptions> = {}) {
  const delays: number[] = [];
  const c = createOpenAiChatClient({
    baseURL: server.baseURL,
    apiKey: API_KEY,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    ...extra,
  });
  return { c, delays };
}

const ask = (model: string, input: string) => ({
  model,
  temperature: 0,
  messages: [
    { role: "system" as const, content: "Answer with the number only." },
    { role: "user" as const, content: `Question: ${input}` },
  ],
});

describe("auth", () => {
  it("lists models with the right key", async () => {
    expect(await client().c.listModels()).toStrictEqual(["acc-90", "acc-70", "slow"]);
  });

  it("gets OpenAI's 401 body for a wrong key, without retrying", async () => {
    const before = server.requests.length;
    const error = await client({ apiKey: "sk-wrong-key-123456" })
      .c.complete(ask("acc-90", "x"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmHttpError);
    expect(error).toMatchObject({
      status: 401,
      code: "invalid_api_key",
      retryable: false,
      attempts: 1,
    });
    expect((error as Error).message).not.toContain("sk-wrong-key-123456");
    expect(server.requests.length - before).toBe(1);
  });

  it("gets a 401 without a key", async () => {
    await expect(client({ apiKey: null }).c.listModels()).rejects.toMatchObject({ status: 401 });
  });
});

describe("models with known accuracy", () => {
  it("answer exactly their configured share of the dataset, which the analysis recovers", async () => {
    const { c } = client({ maxConcurrency: 16 });
    const run = async (model: string): Promise<Observation[]> =>
      Promise.all(
        dataset.map(async (item) => {
          const r = await c.complete(ask(model, item.input));
          const passed = r.content?.trim() === item.expected;
          return {
            key: item.id,
            score: passed ? 1 : 0,
            passed,
            latencyMs: r.latencyMs,
            costUSD: r.costUSD,
          };
        }),
      );
    const control = await run("acc-70");
    const candidate = await run("acc-90");
    expect(control.filter((o) => o.passed).length).toBe(140);
    expect(candidate.filter((o) => o.passed).length).toBe(180);
    const decision = decideWinner(
      [
        { name: "control", observations: control },
        { name: "candidate", observations: candidate },
      ],
      { control: "control", primary: { name: "correctness", kind: "proportion" } },
    );
    expect(decision.winner).toBe("candidate");
    expect(decision.comparisons[0]?.paired).toBe(true);
    expect(decision.comparisons[0]?.result.delta).toBeCloseTo(0.2, 12);
    // Usage came back and models without a price have unknown cost.
    expect(control[0]?.costUSD).toBeNull();
  });

  it("reports usage", async () => {
    const r = await client().c.complete(ask("acc-90", dataset[0]?.input ?? ""));
    expect(r.usage?.inputTokens).toBeGreaterThan(0);
    expect(r.usage?.outputTokens).toBeGreaterThan(0);
  });

  it("answers structured output when asked for a JSON schema", async () => {
    const item = dataset[1];
    const schema = {
      type: "object",
      properties: { answer: { type: "string" } },
      required: ["answer"],
    };
    const r = await client().c.complete({
      ...ask("acc-90", item?.input ?? ""),
      jsonSchema: { name: "answer", schema },
    });
    expect(Object.keys(JSON.parse(r.content ?? "{}") as object)).toStrictEqual(["answer"]);
    const seen = server.requests.at(-1);
    expect(seen?.body?.response_format).toStrictEqual({
      type: "json_schema",
      json_schema: { name: "answer", schema },
    });
  });
});

describe("failures", () => {
  it("waits out 429 Retry-After and pays for each item once", async () => {
    const items = dataset.slice(0, 10);
    server.setFaults([
      { fault: { type: "rate-limit", retryAfter: "1" }, model: "acc-90", every: 3 },
    ]);
    try {
      const { c, delays } = client();
      const before = server.callsPerItem({ model: "acc-90" });
      await Promise.all(items.map((item) => c.complete(ask("acc-90", item.input))));
      const after = server.callsPerItem({ model: "acc-90" });
      for (const item of items)
        expect((after.get(item.id) ?? 0) - (before.get(item.id) ?? 0)).toBe(1);
      expect(delays.length).toBeGreaterThan(0);
      expect(delays.every((d) => d === 1000)).toBe(true);
    } finally {
      server.setFaults([]);
    }
  });

  it("retries 500s with backoff", async () => {
    server.setFaults([{ fault: { type: "server-error" }, model: "acc-70", requests: [1, 2] }]);
    try {
      const { c, delays } = client({ random: () => 0, retry: { baseDelayMs: 10 } });
      const r = await c.complete(ask("acc-70", dataset[3]?.input ?? ""));
      expect(r.attempts).toBe(3);
      expect(delays).toStrictEqual([10, 20]);
    } finally {
      server.setFaults([]);
    }
  });

  it("times out a hung request and succeeds on the retry", async () => {
    const item = dataset[4];
    server.setFaults([{ fault: { type: "hang" }, itemId: item?.id, times: 1 }]);
    try {
      // Long enough that a healthy request never hits it on a loaded machine.
      const { c } = client({ timeoutMs: 2000 });
      const r = await c.complete(ask("acc-90", item?.input ?? ""));
      expect(r.retries.map((x) => x.reason)).toStrictEqual(["timeout"]);
    } finally {
      server.setFaults([]);
    }
  });

  it("surfaces a truncated JSON body as LlmMalformedResponseError after one attempt", async () => {
    const item = dataset[5];
    server.setFaults([{ fault: { type: "malformed" }, itemId: item?.id }]);
    try {
      const error = await client()
        .c.complete(ask("acc-90", item?.input ?? ""))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LlmMalformedResponseError);
      expect(error).toMatchObject({ attempts: 1 });
    } finally {
      server.setFaults([]);
    }
  });

  it("retries a dropped connection", async () => {
    const item = dataset[6];
    server.setFaults([{ fault: { type: "reset" }, itemId: item?.id, times: 1 }]);
    try {
      const r = await client().c.complete(ask("acc-90", item?.input ?? ""));
      expect(r.retries.map((x) => x.reason)).toStrictEqual(["connection"]);
    } finally {
      server.setFaults([]);
    }
  });

  it("reports a connection that never works as LlmConnectionError", async () => {
    const error = await createOpenAiChatClient({
      baseURL: "http://127.0.0.1:9/v1",
      apiKey: API_KEY,
      retry: { maxRetries: 1 },
      sleep: () => Promise.resolve(),
    })
      .complete(ask("acc-90", "x"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmConnectionError);
    expect(error).toMatchObject({ attempts: 2 });
  });

  it("does not retry an unknown model (404)", async () => {
    const error = await client()
      .c.complete(ask("no-such-model", "x"))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, code: "model_not_found", attempts: 1 });
  });
});

describe("concurrency", () => {
  it("never has more requests in flight at the endpoint than the shared limit", async () => {
    const probe = await startOpenAiTestServer({ models: [{ id: "slow", latencyMs: 20 }] });
    try {
      const concurrency = new EndpointConcurrency({ defaultLimit: 4 });
      // Two clients on one endpoint share the limit.
      const a = createOpenAiChatClient({ baseURL: probe.baseURL, concurrency });
      const b = createOpenAiChatClient({ baseURL: probe.baseURL, concurrency });
      const calls = Array.from({ length: 24 }, (_, i) =>
        (i % 2 === 0 ? a : b).complete(ask("slow", `q${String(i)}`)),
      );
      await Promise.all(calls);
      expect(probe.maxInFlight()).toBeLessThanOrEqual(4);
      expect(probe.maxInFlight()).toBeGreaterThan(1);
    } finally {
      await probe.close();
    }
  });
});
