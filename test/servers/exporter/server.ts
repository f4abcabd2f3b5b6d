// A local metrics exporter for the analysis tests: an HTTP server on a free loopback port serving
// /metrics (prom-client, its own registry) with `llm_requests_total{revision, code}`, counting
// requests of each configured revision at a steady rate, `errorRatio` of them with code 500 and
// the rest with 200. Both counters of a revision move on the same tick, so
// rate(code="500") / rate(all) over any window is exactly the ratio set: the tests compare the
// measured error rate with it. Test-only: never shipped.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";

export interface ExporterOptions {
  /** Error ratio (0…1) per revision; revisions can be added later with setErrorRatio. */
  revisions?: Record<string, number>;
  /** Requests counted per revision per second; default 20. */
  requestsPerSecond?: number;
  /** How often the counters move; default 100 ms. */
  tickMs?: number;
}

export interface MetricsExporter {
  /** host:port, as a Prometheus scrape target. */
  target: string;
  /** http://host:port/metrics */
  url: string;
  /** Sets (or adds) a revision's error ratio, 0…1, from the next tick on. */
  setErrorRatio(revision: string, ratio: number): void;
  stop(): Promise<void>;
}

/** Starts the exporter; its counters start at 0 for every configured revision and code. */
export async function startExporter(options: ExporterOptions = {}): Promise<MetricsExporter> {
  const registry = new Registry();
  const requests = new Counter({
    name: "llm_requests_total",
    help: "Requests served by a model revision, by HTTP status code.",
    labelNames: ["revision", "code"] as const,
    registers: [registry],
  });
  const ratios = new Map<string, number>();
  const setErrorRatio = (revision: string, ratio: number): void => {
    if (!(ratio >= 0 && ratio <= 1))
      throw new RangeError(`error ratio ${String(ratio)} is not in 0…1`);
    ratios.set(revision, ratio);
    // Both series exist from the start, so a healthy revision's error rate is 0, not empty.
    requests.inc({ revision, code: "200" }, 0);
    requests.inc({ revision, code: "500" }, 0);
  };
  for (const [revision, ratio] of Object.entries(options.revisions ?? {})) {
    setErrorRatio(revision, ratio);
  }

  const tickMs = options.tickMs ?? 100;
  const perTick = ((options.requestsPerSecond ?? 20) * tickMs) / 1000;
  const timer = setInterval(() => {
    for (const [revision, ratio] of ratios) {
      requests.inc({ revision, code: "500" }, perTick * ratio);
      requests.inc({ revision, code: "200" }, perTick * (1 - ratio));
    }
  }, tickMs);
  timer.unref();

  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const target = `127.0.0.1:${String(port)}`;
  return {
    target,
    url: `http://${target}/metrics`,
    setErrorRatio,
    stop: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
