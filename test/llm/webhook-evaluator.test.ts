// The webhook evaluator against a real HTTP receiver that checks the HMAC signature, as a
// user's scoring service would.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SIGNATURE_HEADER,
  createEvaluator,
  verifyWebhookSignature,
} from "../../controller/evaluators/index.js";

const SECRET = "whsec-local";
let server: Server;
let url = "";
const received: unknown[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const signature = req.headers[SIGNATURE_HEADER];
      if (!verifyWebhookSignature(body, typeof signature === "string" ? signature : null, SECRET)) {
        res.writeHead(401).end("bad signature");
        return;
      }
      const payload = JSON.parse(body) as { output: string; item: { expected: string } };
      received.push(payload);
      if (req.url === "/huge") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ score: 1, reason: "x".repeat(200_000) }));
        return;
      }
      const score = payload.output.length <= payload.item.expected.length * 2 ? 1 : 0.5;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ score, passed: score === 1, reason: "length check" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const input = { item: { id: "w", expected: "Paris" }, output: "Paris" };

describe("webhook evaluator over HTTP", () => {
  it("is accepted by a receiver that verifies the signature", async () => {
    const hook = createEvaluator(
      { name: "len", type: "webhook", url: `${url}/score` },
      { webhookSecret: SECRET },
    );
    expect(await hook.evaluate(input)).toStrictEqual({
      score: 1,
      passed: true,
      detail: { reason: "length check" },
    });
    expect(received.at(-1)).toMatchObject({ evaluator: "len", output: "Paris" });
  });

  it("is refused with the wrong secret, and says so", async () => {
    const hook = createEvaluator(
      { name: "len", type: "webhook", url: `${url}/score` },
      { webhookSecret: "wrong" },
    );
    expect((await hook.evaluate(input)).error).toMatch(/answered 401: bad signature/);
  });

  it("stops reading an oversized reply", async () => {
    const hook = createEvaluator(
      { name: "len", type: "webhook", url: `${url}/huge`, maxResponseBytes: 4096 },
      { webhookSecret: SECRET },
    );
    expect((await hook.evaluate(input)).error).toMatch(/exceeds 4096 bytes/);
  });
});
