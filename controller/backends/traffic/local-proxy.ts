// The local data plane: one HTTP proxy per ModelDeployment, on its own port, in the controller's
// process. Every path is passed through to a revision chosen at random by the weights (`/metrics`
// excepted: the proxy's own Prometheus metrics); responses, server-sent events included, are piped
// through as they arrive. Weights change in place on each reconcile, so a step, a promotion or a
// revert takes effect with the next request. The port is remembered in
// <stateDir>/<namespace>/<name>.json, so a restarted controller listens where clients already
// send requests (a new port when that one is taken).
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import type { ModelDeployment } from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import type { TrafficBackend, TrafficShare } from "./backend.js";

export interface LocalProxyOptions {
  /** Where each proxy's port is remembered (`<localRoot>/.llmops/traffic`). */
  stateDir: string;
  /** Address the proxies listen on; 127.0.0.1 by default. */
  host?: string;
  /** Larger request bodies are refused with 413; default 1 MiB. */
  maxBodyBytes?: number;
  /** Also register the proxy metrics here (the controller's /metrics). */
  metricsRegistry?: Registry;
  logger?: Logger;
  /** A random number in [0, 1) (tests pass their own); Math.random by default. */
  random?: () => number;
}

export interface LocalProxyBackend extends TrafficBackend {
  /** The proxy's URL for a ModelDeployment (`http://host:port/v1`), once it listens. */
  urlOf(namespace: string, name: string): string | undefined;
  /** The proxy metrics' own registry (what each proxy's /metrics serves). */
  readonly registry: Registry;
  /** Closes every proxy. */
  close(): Promise<void>;
}

/** Header on every proxied response: the revision that answered. */
export const revisionHeader = "x-llmops-revision";

interface Proxy {
  server: Server;
  port: number;
  namespace: string;
  name: string;
  split: readonly TrafficShare[];
}

const hopByHop = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
/** Not passed on from a client: the proxy sets Host and the length of the body it read. */
const requestDropped = new Set([...hopByHop, "host", "content-length"]);
const responseDropped = new Set(hopByHop);

/** Picks a revision by weight among those with a URL; undefined when none has any weight. */
export function pickRevision(
  split: readonly TrafficShare[],
  random: number,
): (TrafficShare & { url: string }) | undefined {
  const candidates = split.filter(
    (s): s is TrafficShare & { url: string } => s.weight > 0 && s.url !== undefined,
  );
  const total = candidates.reduce((sum, s) => sum + s.weight, 0);
  if (total <= 0) return undefined;
  let point = random * total;
  for (const s of candidates) {
    point -= s.weight;
    if (point < 0) return s;
  }
  return candidates.at(-1);
}

export function createLocalProxy(options: LocalProxyOptions): LocalProxyBackend {
  const host = options.host ?? "127.0.0.1";
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const random = options.random ?? Math.random;
  const logger = options.logger;
  const registry = new Registry();
  const registers = [registry, ...(options.metricsRegistry ? [options.metricsRegistry] : [])];
  const labelNames = ["namespace", "model_deployment", "revision"] as const;
  const requests = new Counter({
    name: "llmops_proxy_requests_total",
    help: "Requests the local proxy passed to a revision, by response status code.",
    labelNames: [...labelNames, "code"],
    registers,
  });
  const errors = new Counter({
    name: "llmops_proxy_errors_total",
    help: "Requests the local proxy could not complete with a revision (connection refused or reset, a 5xx answer).",
    labelNames,
    registers,
  });
  const duration = new Histogram({
    name: "llmops_proxy_request_duration_seconds",
    help: "Time from a request reaching the local proxy to the end of the revision's response.",
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const proxies = new Map<string, Proxy>();
  const starting = new Map<string, Promise<Proxy>>();

  const statePath = (namespace: string, name: string): string =>
    join(options.stateDir, namespace, `${name}.json`);

  const handle = (proxy: Proxy, req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? "/";
    if (req.method === "GET" && path.split("?")[0] === "/metrics") {
      void registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType }).end(text);
        },
        (err: unknown) => {
          logger?.warn({ err }, "proxy metrics failed");
          res.writeHead(500).end();
        },
      );
      return;
    }
    const chosen = pickRevision(proxy.split, random());
    if (chosen === undefined) {
      req.resume();
      sendError(
        res,
        503,
        `ModelDeployment ${proxy.namespace}/${proxy.name} has no revision ready to serve yet`,
      );
      return;
    }
    const declared = Number(req.headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > maxBody) {
      req.resume();
      sendError(
        res,
        413,
        `the request body is ${String(declared)} bytes; the limit is ${String(maxBody)} bytes`,
      );
      return;
    }
    const labels = {
      namespace: proxy.namespace,
      model_deployment: proxy.name,
      revision: chosen.revision,
    };
    const end = duration.startTimer(labels);
    let counted = false;
    const count = (code: number): void => {
      if (counted) return;
      counted = true;
      requests.inc({ ...labels, code: String(code) });
      if (code >= 500) errors.inc(labels);
      end();
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        sendError(res, 413, `the request body is over the limit of ${String(maxBody)} bytes`);
        count(413);
        return;
      }
      chunks.push(chunk);
    });
    req.once("error", () => {
      refused = true;
    });
    req.once("end", () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      const target = new URL(chosen.url);
      const upstream = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: req.method,
          path,
          headers: {
            ...passHeaders(req.headers, requestDropped),
            "content-length": String(body.length),
          },
        },
        (answer) => {
          const code = answer.statusCode ?? 502;
          res.writeHead(code, {
            ...passHeaders(answer.headers, responseDropped),
            [revisionHeader]: chosen.revision,
          });
          res.flushHeaders();
          answer.pipe(res);
          answer.once("end", () => {
            count(code);
          });
          answer.once("error", () => {
            res.destroy();
            count(502);
          });
        },
      );
      upstream.once("error", (err) => {
        logger?.debug({ err, revision: chosen.revision }, "proxied request failed");
        if (!res.headersSent) {
          sendError(
            res,
            502,
            `revision ${chosen.revision} did not answer: ${err.message}`,
            chosen.revision,
          );
        } else {
          res.destroy();
        }
        count(502);
      });
      // A client that goes away mid-stream ends the upstream request too.
      res.once("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  };

  const listen = async (namespace: string, name: string): Promise<Proxy> => {
    const remembered = await readFile(statePath(namespace, name), "utf8")
      .then((text) => (JSON.parse(text) as { port?: number }).port)
      .catch(() => undefined);
    const proxy: Proxy = { server: createServer(), port: 0, namespace, name, split: [] };
    proxy.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      handle(proxy, req, res);
    });
    proxy.port = await bind(proxy.server, host, remembered ?? 0).catch(async (err: unknown) => {
      if (remembered === undefined) throw err;
      logger?.info({ namespace, name, port: remembered }, "proxy port taken; listening on another");
      return bind(proxy.server, host, 0);
    });
    const path = statePath(namespace, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.tmp`, `${JSON.stringify({ port: proxy.port })}\n`);
    await rename(`${path}.tmp`, path);
    logger?.info({ namespace, name, port: proxy.port }, "local proxy listening");
    return proxy;
  };

  const proxyFor = async (namespace: string, name: string): Promise<Proxy> => {
    const key = `${namespace}/${name}`;
    const existing = proxies.get(key);
    if (existing !== undefined) return existing;
    let pending = starting.get(key);
    if (pending === undefined) {
      pending = listen(namespace, name).finally(() => starting.delete(key));
      starting.set(key, pending);
    }
    const proxy = await pending;
    proxies.set(key, proxy);
    return proxy;
  };

  const closeProxy = async (proxy: Proxy): Promise<void> => {
    await new Promise<void>((resolve) => {
      proxy.server.close(() => {
        resolve();
      });
      proxy.server.closeAllConnections();
    });
  };

  return {
    type: "local-proxy",
    registry,

    async route(object: StoredObject<ModelDeployment>, split) {
      const proxy = await proxyFor(object.metadata.namespace ?? "", object.metadata.name);
      proxy.split = split.map((s) => ({ ...s }));
      return { ok: true, url: `http://${host}:${String(proxy.port)}/v1` };
    },

    async finalize(object) {
      const key = `${object.metadata.namespace ?? ""}/${object.metadata.name}`;
      const proxy = proxies.get(key);
      proxies.delete(key);
      if (proxy !== undefined) await closeProxy(proxy);
    },

    urlOf(namespace, name) {
      const proxy = proxies.get(`${namespace}/${name}`);
      return proxy ? `http://${host}:${String(proxy.port)}/v1` : undefined;
    },

    async close() {
      const all = [...proxies.values()];
      proxies.clear();
      await Promise.all(all.map(closeProxy));
      agent.destroy();
    },
  };
}

function passHeaders(
  headers: IncomingHttpHeaders,
  dropped: ReadonlySet<string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !dropped.has(key.toLowerCase())) out[key] = value;
  }
  return out;
}

function sendError(res: ServerResponse, status: number, message: string, revision?: string): void {
  const body = JSON.stringify({
    error: {
      message,
      type: status === 413 ? "invalid_request_error" : "server_error",
      code: status === 413 ? "body_too_large" : "unavailable",
    },
  });
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    ...(revision !== undefined ? { [revisionHeader]: revision } : {}),
    ...(status === 413 ? { connection: "close" } : {}),
  });
  res.end(body);
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
