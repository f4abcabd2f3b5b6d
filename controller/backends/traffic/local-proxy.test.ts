import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelDeployment } from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import {
  createLocalProxy,
  pickRevision,
  revisionHeader,
  type LocalProxyBackend,
} from "./local-proxy.js";

describe("pickRevision", () => {
  const split = [
    { revision: "stable", weight: 75, url: "http://s/v1" },
    { revision: "canary", weight: 25, url: "http://c/v1" },
  ];
  it.each([
    { random: 0, want: "stable" },
    { random: 0.7499, want: "stable" },
    { random: 0.75, want: "canary" },
    { random: 0.9999, want: "canary" },
  ])("at $random picks $want", ({ random, want }) => {
    expect(pickRevision(split, random)?.revision).toBe(want);
  });
  it("skips revisions without weight or URL, and picks none when nothing has weight", () => {
    expect(pickRevision([{ revision: "x", weight: 100 }, ...split], 0)?.revision).toBe("stable");
    expect(pickRevision([{ revision: "a", weight: 0, url: "http://a/v1" }], 0.5)).toBeUndefined();
    expect(pickRevision([], 0.5)).toBeUndefined();
  });
});

/**
 * A server that answers with its name; on /v1/stream it sends one SSE event, then the rest only
 * once `release` is called: a proxy that buffered would never deliver the first on its own.
 */
async function upstream(
  name: string,
): Promise<{ server: Server; url: string; release: () => void }> {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("data: 0\n\n");
        void released.then(() => {
          res.write("data: 1\n\n");
          res.end("data: [DONE]\n\n");
        });
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end(JSON.stringify({ name, path: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${String(port)}/v1`, release };
}

const object = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "ModelDeployment",
  metadata: { name: "coder", namespace: "ns", uid: "u", resourceVersion: "1" },
  spec: { model: { path: "m" } },
} as StoredObject<ModelDeployment>;
const context = {} as ObjectContext;

describe("the local proxy", () => {
  let dir = "";
  let proxy: LocalProxyBackend;
  let servers: Server[] = [];
  let draws: number[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "llmops-proxy-"));
    draws = [];
    proxy = createLocalProxy({
      stateDir: dir,
      maxBodyBytes: 1024,
      random: () => draws.shift() ?? 0,
    });
  });
  afterEach(async () => {
    await proxy.close();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it("splits by weight, passes paths and bodies through, and changes weights in place", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    servers = [a.server, b.server];
    const routed = await proxy.route(
      object,
      [
        { revision: "a", weight: 75, url: a.url },
        { revision: "b", weight: 25, url: b.url },
      ],
      context,
    );
    expect(routed.ok && routed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const base = routed.ok ? (routed.url ?? "") : "";
    const send = async () => {
      const r = await fetch(`${base}/chat/completions?x=1`, { method: "POST", body: '{"q":1}' });
      return { revision: r.headers.get(revisionHeader), body: await r.json() };
    };
    draws = [0.1, 0.8];
    expect(await send()).toEqual({
      revision: "a",
      body: { name: "a", path: "/v1/chat/completions?x=1", body: '{"q":1}' },
    });
    expect((await send()).revision).toBe("b");
    // A new split: the same port, at once.
    const again = await proxy.route(object, [{ revision: "b", weight: 100, url: b.url }], context);
    expect(again.ok && again.url).toBe(base);
    draws = [0.1];
    expect((await send()).revision).toBe("b");

    const metrics = await (await fetch(`${new URL(base).origin}/metrics`)).text();
    expect(metrics).toContain(
      'llmops_proxy_requests_total{namespace="ns",model_deployment="coder",revision="a",code="200"} 1',
    );
    expect(metrics).toContain(
      'llmops_proxy_requests_total{namespace="ns",model_deployment="coder",revision="b",code="200"} 2',
    );
    expect(metrics).toContain(
      'llmops_proxy_request_duration_seconds_count{namespace="ns",model_deployment="coder",revision="b"} 2',
    );
    // The port is remembered for the next controller.
    expect(JSON.parse(await readFile(join(dir, "ns", "coder.json"), "utf8"))).toEqual({
      port: Number(new URL(base).port),
    });
  });

  it("passes server-sent events through as they come", async () => {
    const a = await upstream("a");
    servers = [a.server];
    const routed = await proxy.route(object, [{ revision: "a", weight: 100, url: a.url }], context);
    const base = routed.ok ? (routed.url ?? "") : "";
    const response = await fetch(`${base}/stream`, { method: "POST", body: "{}" });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    // The first event arrives on its own, before the upstream writes the rest.
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("data: 0\n\n");
    a.release();
    let rest = "";
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      rest += new TextDecoder().decode(next.value);
    }
    expect(rest).toBe("data: 1\n\ndata: [DONE]\n\n");
  });

  it("refuses bodies over the limit (413), answers 503 without a ready revision and 502 for one that is down", async () => {
    const routed = await proxy.route(object, [{ revision: "a", weight: 0 }], context);
    const base = routed.ok ? (routed.url ?? "") : "";
    const none = await fetch(`${base}/chat/completions`, { method: "POST", body: "{}" });
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain(
      "ns/coder has no revision ready",
    );

    const a = await upstream("a");
    servers = [a.server];
    await proxy.route(object, [{ revision: "a", weight: 100, url: a.url }], context);
    const big = await fetch(`${base}/chat/completions`, { method: "POST", body: "x".repeat(2048) });
    expect(big.status).toBe(413);

    await proxy.route(
      object,
      [{ revision: "gone", weight: 100, url: "http://127.0.0.1:1/v1" }],
      context,
    );
    const down = await fetch(`${base}/chat/completions`, { method: "POST", body: "{}" });
    expect(down.status).toBe(502);
    expect(down.headers.get(revisionHeader)).toBe("gone");
    const metrics = await (await fetch(`${new URL(base).origin}/metrics`)).text();
    expect(metrics).toContain(
      'llmops_proxy_errors_total{namespace="ns",model_deployment="coder",revision="gone"} 1',
    );
    expect(metrics).toContain(
      'llmops_proxy_requests_total{namespace="ns",model_deployment="coder",revision="gone",code="502"} 1',
    );
  });

  it("closes the proxy of a deleted ModelDeployment", async () => {
    const routed = await proxy.route(object, [], context);
    const base = routed.ok ? (routed.url ?? "") : "";
    await proxy.finalize(object);
    expect(proxy.urlOf("ns", "coder")).toBeUndefined();
    await expect(fetch(`${base}/models`)).rejects.toThrow();
  });
});
