// The metrics and health endpoints: GET /metrics, /healthz, /readyz.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { errorMessage } from "../kube/errors.js";
import type { RuntimeMetrics } from "./metrics.js";

export interface HealthSource {
  isHealthy(): boolean;
  isReady(): boolean;
}

/** An endpoint served beside the probes, e.g. the git sync webhook receiver (`/hooks/`). */
export interface HttpRoute {
  /** Requests whose path starts with this go to `handle`, whatever their method. */
  pathPrefix: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface ProbeServerOptions {
  /** `host:port`, `:port` (all interfaces) or `0` to disable. */
  address: string;
  metrics: RuntimeMetrics;
  health: HealthSource;
  logger: Logger;
  routes?: readonly HttpRoute[];
}

export interface ProbeServer {
  /** The bound `host:port` (useful with port 0 in tests). */
  readonly url: string;
  close(): Promise<void>;
}

/** Parses `:8080`, `127.0.0.1:8080`, `[::1]:8080`; undefined for `0` (disabled). */
export function parseListenAddress(
  address: string,
): { host: string | undefined; port: number } | undefined {
  if (address === "0" || address === "") return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new RangeError(
      `listen address must look like ":8080" or "127.0.0.1:8080" (got "${address}")`,
    );
  }
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}

/** Starts the probe server, or returns undefined when the address is `0`. */
export async function startProbeServer(
  options: ProbeServerOptions,
): Promise<ProbeServer | undefined> {
  const listen = parseListenAddress(options.address);
  if (listen === undefined) return undefined;
  const server = createServer((req, res) => {
    void handle(options, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  options.logger.info({ address: `${host}:${bound.port}` }, "serving /metrics, /healthz, /readyz");
  return { url: `http://${host}:${bound.port}`, close: () => closeServer(server) };
}

async function handle(
  options: ProbeServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  const route = options.routes?.find((r) => path.startsWith(r.pathPrefix));
  if (route !== undefined) {
    try {
      await route.handle(req, res);
    } catch (err: unknown) {
      options.logger.error({ err: errorMessage(err), path }, "request failed");
      if (!res.headersSent) reply(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    }
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    reply(res, 405, "text/plain", "method not allowed\n");
    return;
  }
  try {
    switch (path) {
      case "/metrics":
        reply(
          res,
          200,
          options.metrics.registry.contentType,
          await options.metrics.registry.metrics(),
        );
        return;
      case "/healthz":
      case "/livez":
        if (options.health.isHealthy()) reply(res, 200, "text/plain", "ok\n");
        else reply(res, 503, "text/plain", "not running\n");
        return;
      case "/readyz":
        if (options.health.isReady()) reply(res, 200, "text/plain", "ok\n");
        else reply(res, 503, "text/plain", "caches not synced\n");
        return;
      default:
        reply(res, 404, "text/plain", "not found\n");
    }
  } catch (err: unknown) {
    options.logger.error({ err: errorMessage(err), path }, "probe request failed");
    reply(res, 500, "text/plain", "internal error\n");
  }
}

function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    // Scrapers keep connections alive; do not let them hold the shutdown.
    server.closeAllConnections();
  });
}
