// The client against a scripted fetch: every retry decision, delay and error class, without a
// network or real time. The same behaviour against a real HTTP server is in test/llm/.
import { inspect } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "../../runtime/clock.js";
import {
  LlmAbortedError,
  LlmConnectionError,
  LlmHttpError,
  LlmMalformedResponseError,
  LlmTimeoutError,
} from "./errors.js";
import {
  createOpenAiChatClient,
  parseChatCompletion,
  type OpenAiChatClientOptions,
} from "./openai-client.js";

const KEY = "sk-test-0123456789abcdef";

function completion(content: string, model = "gpt-4o-mini") {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 0,
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 },
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const rateLimited = (headers: Record<string, string> = {}) =>
  json(
    429,
    { error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } },
    headers,
  );
const serverError = () =>
  json(500, { error: { message: "boom", type: "server_error", code: null } });

interface Seen {
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A fetch that answers from a script, one entry per call; the last entry repeats. */
function scriptedFetch(script: (() => Response | Promise<Response>)[]) {
  const seen: Seen[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const body =
      typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : {};
    const url = input instanceof Request ? input.url : input.toString();
    seen.push({ url, headers, body });
    const step = script[Math.min(seen.length - 1, script.length - 1)];
    if (step === undefined) throw new Error("empty script");
    return step();
  }) as typeof fetch;
  return { fetchImpl, seen };
}

function client(fetchImpl: typeof fetch, extra: Partial<OpenAiChatClientOptions> = {}) {
  const delays: number[] = [];
  const c = createOpenAiChatClient({
    baseURL: "https://llm.example.com/v1",
    apiKey: KEY,
    fetch: fetchImpl,
    random: () => 0,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    retry: { baseDelayMs: 100, maxDelayMs: 10_000 },
    ...extra,
  });
  return { c, delays };
}

const request = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "2 + 2?" }] };

describe("OpenAiChatClient.complete", () => {
  it("returns text, usage, cost and attempts", async () => {
    const { fetchImpl, seen } = scriptedFetch([() => json(200, completion("4"))]);
    const { c } = client(fetchImpl);
    const result = await c.complete({ ...request, temperature: 0, maxTokens: 16, seed: 7 });
    expect(result).toMatchObject({
      content: "4",
      model: "gpt-4o-mini",
      finishReason: "stop",
      usage: { inputTokens: 1000, outputTokens: 200, totalTokens: 1200 },
      attempts: 1,
      retries: [],
    });
    // gpt-4o-mini: $0.15 in, $0.60 out per million.
    expect(result.costUSD).toBeCloseTo(0.00015 + 0.00012, 12);
    expect(seen[0]?.url).toBe("https://llm.example.com/v1/chat/completions");
    expect(seen[0]?.headers.get("authorization")).toBe(`Bearer ${KEY}`);
    expect(seen[0]?.body).toMatchObject({ temperature: 0, max_tokens: 16, seed: 7 });
  });

  it("asks for structured output when a JSON schema is given", async () => {
    const { fetchImpl, seen } = scriptedFetch([() => json(200, completion('{"a":1}'))]);
    const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"] };
    await client(fetchImpl).c.complete({
      ...request,
      jsonSchema: { name: "answer", schema, strict: true },
    });
    expect(seen[0]?.body["response_format"]).toStrictEqual({
      type: "json_schema",
      json_schema: { name: "answer", schema, strict: true },
    });
  });

  it("honours Retry-After in seconds on 429", async () => {
    const { fetchImpl, seen } = scriptedFetch([
      () => rateLimited({ "retry-after": "2" }),
      () => json(200, completion("4")),
    ]);
    const { c, delays } = client(fetchImpl);
    const result = await c.complete(request);
    expect(seen).toHaveLength(2);
    expect(delays).toStrictEqual([2000]);
    expect(result.retries).toStrictEqual([
      { reason: "http 429", delayMs: 2000, fromRetryAfter: true },
    ]);
    expect(result.attempts).toBe(2);
  });

  it("honours Retry-After as an HTTP date against the injected clock", async () => {
    const clock = new FakeClock(Date.parse("2025-06-01T12:00:00Z"));
    const { fetchImpl } = scriptedFetch([
      () => rateLimited({ "retry-after": "Sun, 01 Jun 2025 12:00:05 GMT" }),
      () => json(200, completion("4")),
    ]);
    const { c, delays } = client(fetchImpl, { clock });
    await c.complete(request);
    expect(delays).toStrictEqual([5000]);
  });

  it("backs off exponentially with jitter on 5xx", async () => {
    const { fetchImpl } = scriptedFetch([
      serverError,
      serverError,
      serverError,
      () => json(200, completion("4")),
    ]);
    const { c, delays } = client(fetchImpl, { random: () => 0.5 });
    const result = await c.complete(request);
    // 100·2^k spread by 1 + 0.5·0.5.
    expect(delays).toStrictEqual([125, 250, 500]);
    expect(result.attempts).toBe(4);
  });

  it("gives up after maxRetries with the last error and the attempt count", async () => {
    const { fetchImpl, seen } = scriptedFetch([serverError]);
    const { c } = client(fetchImpl, { retry: { maxRetries: 2, baseDelayMs: 1 } });
    const error = await c.complete(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmHttpError);
    expect(error).toMatchObject({ status: 500, retryable: true, attempts: 3 });
    expect(seen).toHaveLength(3);
  });

  it.each([400, 401, 403, 404, 409, 422])("does not retry %i", async (status) => {
    const { fetchImpl, seen } = scriptedFetch([
      () => json(status, { error: { message: "no", type: "invalid_request_error", code: "bad" } }),
    ]);
    const error = await client(fetchImpl)
      .c.complete(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmHttpError);
    expect(error).toMatchObject({ status, retryable: false, attempts: 1, code: "bad" });
    expect(seen).toHaveLength(1);
  });

  it("an HTML error page becomes one line: the status and a short excerpt", async () => {
    const page = [
      '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">',
      "<html><head>",
      "<title>501 Not Implemented</title>",
      "</head><body>",
      "<h1>Not Implemented</h1>",
      `<p>POST to /v1/chat/completions not supported.<br />\n${"padding ".repeat(60)}</p>`,
      "</body></html>",
    ].join("\n");
    const { fetchImpl } = scriptedFetch([
      () => new Response(page, { status: 501, headers: { "content-type": "text/html" } }),
    ]);
    const error = await client(fetchImpl)
      .c.complete(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmHttpError);
    const message = (error as LlmHttpError).message;
    expect(message).toMatch(
      /answered 501 501 Not Implemented Not Implemented POST to \/v1\/chat\/completions not supported\. padding/,
    );
    expect(message).not.toMatch(/[<>\n]/);
    expect(message.endsWith("…")).toBe(true);
    expect(message.length).toBeLessThan(300);
  });

  it("does not hold a worker for a Retry-After beyond the cap", async () => {
    const { fetchImpl, seen } = scriptedFetch([() => rateLimited({ "retry-after": "600" })]);
    const { c, delays } = client(fetchImpl);
    const error = await c.complete(request).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 600_000, attempts: 1 });
    expect(delays).toStrictEqual([]);
    expect(seen).toHaveLength(1);
  });

  it("surfaces a body that is not JSON as a typed error and does not retry it", async () => {
    const { fetchImpl, seen } = scriptedFetch([
      () =>
        new Response('{"id": "chatcmpl-1", "choi', {
          status: 200,
          headers: { "content-type": "application/json" },
        }),
    ]);
    const error = await client(fetchImpl)
      .c.complete(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmMalformedResponseError);
    expect(seen).toHaveLength(1);
  });

  it.each([
    { name: "HTML from a proxy", body: "<html>bad gateway</html>", type: "text/html" },
    {
      name: "JSON without choices",
      body: '{"object": "chat.completion"}',
      type: "application/json",
    },
    {
      name: "non-string content",
      body: '{"choices": [{"message": {"content": 5}}]}',
      type: "application/json",
    },
  ])("rejects $name as malformed", async ({ body, type }) => {
    const { fetchImpl } = scriptedFetch([
      () => new Response(body, { status: 200, headers: { "content-type": type } }),
    ]);
    await expect(client(fetchImpl).c.complete(request)).rejects.toBeInstanceOf(
      LlmMalformedResponseError,
    );
  });

  it("retries connection failures", async () => {
    const { fetchImpl, seen } = scriptedFetch([
      () => Promise.reject(new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") })),
      () => json(200, completion("4")),
    ]);
    const result = await client(fetchImpl).c.complete(request);
    expect(result.retries[0]?.reason).toBe("connection");
    expect(seen).toHaveLength(2);
  });

  it("reports a connection failure that persists as LlmConnectionError", async () => {
    const { fetchImpl } = scriptedFetch([() => Promise.reject(new TypeError("fetch failed"))]);
    const { c } = client(fetchImpl, { retry: { maxRetries: 1 } });
    await expect(c.complete(request)).rejects.toBeInstanceOf(LlmConnectionError);
  });

  it("times out on the injected clock, then retries", async () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const fetchImpl = ((_input: unknown, init?: RequestInit) => {
      calls++;
      if (calls === 2) return Promise.resolve(json(200, completion("4")));
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => {
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    }) as typeof fetch;
    const { c } = client(fetchImpl, { clock, timeoutMs: 5000 });
    const pending = c.complete(request);
    await vi.waitFor(() => {
      expect(calls).toBe(1);
    });
    clock.advance(5000);
    const result = await pending;
    expect(result.retries).toStrictEqual([
      { reason: "timeout", delayMs: 100, fromRetryAfter: false },
    ]);
  });

  it("throws LlmTimeoutError when every attempt times out", async () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const fetchImpl = ((_input: unknown, init?: RequestInit) => {
      calls++;
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => {
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    }) as typeof fetch;
    const { c } = client(fetchImpl, { clock, timeoutMs: 1000, retry: { maxRetries: 0 } });
    const pending = c.complete(request).catch((e: unknown) => e);
    await vi.waitFor(() => {
      expect(calls).toBe(1);
    });
    clock.advance(1000);
    const error = await pending;
    expect(error).toBeInstanceOf(LlmTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 1000, attempts: 1 });
  });

  it("stops when the caller aborts, without retrying", async () => {
    const controller = new AbortController();
    let calls = 0;
    const fetchImpl = ((_input: unknown, init?: RequestInit) => {
      calls++;
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => {
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    }) as typeof fetch;
    const { c } = client(fetchImpl);
    const pending = c.complete(request, { signal: controller.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => {
      expect(calls).toBe(1);
    });
    controller.abort();
    expect(await pending).toBeInstanceOf(LlmAbortedError);
    expect(calls).toBe(1);
  });

  it("keeps at most maxConcurrency requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const fetchImpl = (() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise<Response>((resolve) => {
        gates.push(() => {
          inFlight--;
          resolve(json(200, completion("4")));
        });
      });
    }) as typeof fetch;
    const { c } = client(fetchImpl, { maxConcurrency: 3 });
    const all = Promise.all(Array.from({ length: 10 }, () => c.complete(request)));
    for (let done = 0; done < 10; done++) {
      await vi.waitFor(() => {
        expect(gates.length).toBeGreaterThan(0);
      });
      gates.shift()?.();
    }
    await all;
    expect(peak).toBe(3);
  });

  it("sends no Authorization header to a keyless endpoint", async () => {
    const { fetchImpl, seen } = scriptedFetch([() => json(200, completion("4"))]);
    await client(fetchImpl, { apiKey: null }).c.complete(request);
    expect(seen[0]?.headers.has("authorization")).toBe(false);
  });

  it("never shows the key in its description, JSON, inspection or error messages", async () => {
    const { fetchImpl } = scriptedFetch([
      () =>
        json(401, {
          error: {
            message: `Incorrect API key provided: ${KEY}.`,
            type: "invalid_request_error",
            code: "invalid_api_key",
          },
        }),
    ]);
    const { c } = client(fetchImpl);
    const error = await c.complete(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmHttpError);
    const texts = [
      JSON.stringify(c),
      inspect(c, { depth: 10, showHidden: true }),
      JSON.stringify(c.describe()),
      (error as Error).message,
    ];
    for (const text of texts) expect(text).not.toContain(KEY);
    expect(c.describe()).toMatchObject({
      apiKey: "[redacted]",
      endpoint: "https://llm.example.com/v1",
    });
  });
});

describe("parseChatCompletion", () => {
  it("accepts a completion without usage or id", () => {
    expect(parseChatCompletion({ choices: [{ message: { content: "x" } }] }, "m")).toStrictEqual({
      id: null,
      model: "m",
      content: "x",
      finishReason: null,
      usage: null,
    });
  });
  it("keeps a null content (refusals, tool calls)", () => {
    expect(
      parseChatCompletion({ choices: [{ message: { content: null } }] }, "m").content,
    ).toBeNull();
  });
});
