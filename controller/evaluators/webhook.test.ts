import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "../runtime/clock.js";
import {
  SIGNATURE_HEADER,
  parseWebhookReply,
  signWebhookBody,
  verifyWebhookSignature,
  webhookEvaluate,
} from "./webhook.js";

const SECRET = "whsec-test";
const input = { item: { id: "w1", expected: "yes" }, output: "yes", latencyMs: 12, costUSD: 0.001 };

function capture(respond: () => Response | Promise<Response>) {
  const seen: { body: string; signature: string | null }[] = [];
  const fetchImpl = ((_url: unknown, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    seen.push({
      body: typeof init?.body === "string" ? init.body : "",
      signature: headers.get(SIGNATURE_HEADER),
    });
    return Promise.resolve(respond());
  }) as typeof fetch;
  return { fetchImpl, seen };
}

const options = (fetchImpl: typeof fetch) => ({
  url: "https://hooks.example.com/score",
  secret: SECRET,
  fetch: fetchImpl,
});

describe("webhookEvaluate", () => {
  it("POSTs a signed body and reads the verdict", async () => {
    const { fetchImpl, seen } = capture(() =>
      Response.json({ score: 0.75, passed: true, reason: "close" }),
    );
    const r = await webhookEvaluate(input, { ...options(fetchImpl), name: "policy" });
    expect(r).toStrictEqual({ score: 0.75, passed: true, detail: { reason: "close" } });
    const sent = seen[0];
    expect(JSON.parse(sent?.body ?? "")).toStrictEqual({
      evaluator: "policy",
      item: input.item,
      output: "yes",
      latencyMs: 12,
      costUSD: 0.001,
    });
    expect(verifyWebhookSignature(sent?.body ?? "", sent?.signature ?? null, SECRET)).toBe(true);
    expect(verifyWebhookSignature(sent?.body ?? "", sent?.signature ?? null, "other")).toBe(false);
  });

  it.each([
    {
      name: "non-2xx",
      respond: () => new Response("nope", { status: 502 }),
      want: /answered 502: nope/,
    },
    {
      name: "declared too large",
      respond: () => new Response("x".repeat(10), { headers: { "content-length": "1000000" } }),
      want: /exceeds 1024/,
    },
    {
      name: "streamed too large",
      respond: () => new Response("x".repeat(5000)),
      want: /exceeds 1024 bytes/,
    },
    { name: "not JSON", respond: () => new Response("ok"), want: /not JSON/ },
  ])("records $name as an evaluator error", async ({ respond, want }) => {
    const { fetchImpl } = capture(respond);
    const r = await webhookEvaluate(input, { ...options(fetchImpl), maxResponseBytes: 1024 });
    expect(r.score).toBeNull();
    expect(r.passed).toBeNull();
    expect(r.error).toMatch(want);
  });

  it("times out on the injected clock", async () => {
    const clock = new FakeClock(0);
    let called = false;
    const fetchImpl = ((_url: unknown, init?: RequestInit) => {
      called = true;
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => {
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    }) as typeof fetch;
    const pending = webhookEvaluate(input, { ...options(fetchImpl), clock, timeoutMs: 2000 });
    await vi.waitFor(() => {
      expect(called).toBe(true);
    });
    clock.advance(2000);
    expect((await pending).error).toBe(
      "webhook https://hooks.example.com/score did not answer within 2000 ms",
    );
  });

  it("reports connection failures without the URL's credentials", async () => {
    const fetchImpl = (() =>
      Promise.reject(
        new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") }),
      )) as typeof fetch;
    const r = await webhookEvaluate(input, {
      ...options(fetchImpl),
      url: "https://user:pw@hooks.example.com/s?token=t",
    });
    expect(r.error).toBe("webhook https://hooks.example.com/s failed: ECONNREFUSED");
  });
});

describe("parseWebhookReply", () => {
  it.each([
    { text: '{"score": 1}', want: { score: 1, passed: null } },
    { text: '{"score": null, "passed": false}', want: { score: null, passed: false } },
    { text: '{"error": "cannot score"}', want: { error: "webhook: cannot score" } },
    {
      text: '{"score": "high"}',
      want: { error: 'webhook reply score "high" is not a number or null' },
    },
    {
      text: '{"passed": "yes", "score": 1}',
      want: { error: 'webhook reply passed "yes" is not a boolean' },
    },
    { text: '{"score": null}', want: { error: "webhook reply has neither a score nor passed" } },
    { text: "[]", want: { error: "webhook reply is not a JSON object" } },
  ])("$text", ({ text, want }) => {
    expect(parseWebhookReply(text)).toMatchObject(want);
  });
});

describe("signWebhookBody", () => {
  it("is HMAC-SHA256 in hex", () => {
    // echo -n '{}' | openssl dgst -sha256 -hmac key
    expect(signWebhookBody("{}", "key")).toBe(
      "sha256=a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032",
    );
  });
});
