// Starts the real Prometheus server (Debian's binary, put into ~/.cache/llmops/prometheus/ by
// install.sh, which .ci/run calls) on a free loopback port, scraping the given targets, for tests
// only. Fails loudly with the binary's output when it is missing or does not come up: Prometheus
// is never faked. halt() and resume() take it down and bring it back on the same address with
// the same data, for "Prometheus is down" tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export interface PrometheusTestOptions {
  /** Scrape targets, host:port, each serving /metrics. */
  targets: string[];
  /** Global scrape (and evaluation) interval; default 1000 ms, so rate(x[5s]) has data quickly. */
  scrapeIntervalMs?: number;
  /** How long to wait for /-/ready; default 60 s. */
  readyTimeoutMs?: number;
}

export interface PrometheusTestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Ends the process, keeping its address, config and data for resume(). */
  halt(): Promise<void>;
  /** Starts it again on the same address and data; resolves once /-/ready answers. */
  resume(): Promise<void>;
  /** Ends the process and removes its data. */
  stop(): Promise<void>;
}

/** The root install.sh installs into; LLMOPS_PROMETHEUS_DIR overrides it. */
export function prometheusRoot(): string {
  return process.env["LLMOPS_PROMETHEUS_DIR"] ?? join(homedir(), ".cache", "llmops", "prometheus");
}

/** The installed binary: LLMOPS_PROMETHEUS_BIN, else one under prometheusRoot(); throws how to install it. */
export function prometheusBinary(): string {
  const explicit = process.env["LLMOPS_PROMETHEUS_BIN"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const root = prometheusRoot();
  const versions = existsSync(root) ? readdirSync(root).sort().reverse() : [];
  for (const version of versions) {
    const binary = join(root, version, "prometheus");
    if (existsSync(binary)) return binary;
  }
  throw new Error(
    `Prometheus is not installed under ${root}: run bash test/servers/prometheus/install.sh (or .ci/run)`,
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function duration(ms: number): string {
  return `${String(Math.max(1, Math.round(ms)))}ms`;
}

/** The prometheus.yml for `targets`, one job, scraped every `intervalMs`. */
export function prometheusConfig(targets: readonly string[], intervalMs: number): string {
  const interval = duration(intervalMs);
  const list = targets.map((t) => JSON.stringify(t)).join(", ");
  return [
    "global:",
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    "scrape_configs:",
    "  - job_name: llmops-test",
    "    static_configs:",
    `      - targets: [${list}]`,
    "",
  ].join("\n");
}

/** Starts Prometheus and waits until /-/ready answers. */
export async function startPrometheus(
  options: PrometheusTestOptions,
): Promise<PrometheusTestServer> {
  const binary = prometheusBinary();
  const dir = await mkdtemp(join(tmpdir(), "llmops-prometheus-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, prometheusConfig(options.targets, options.scrapeIntervalMs ?? 1000));
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const args = [
    `--web.listen-address=127.0.0.1:${String(port)}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--config.file=${configFile}`,
    "--storage.tsdb.retention.time=1h",
    "--log.level=warn",
  ];
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;

  let current: { child: ChildProcess; exited: Promise<number> } | undefined;
  let output = "";

  const launch = async (): Promise<void> => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const state: { code: number | null } = { code: null };
    const exited = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) => {
        state.code = code ?? (signal === null ? -1 : 128);
        resolve(state.code);
      });
      child.once("error", (err) => {
        output += `\n${err.message}`;
        state.code = -1;
        resolve(-1);
      });
    });
    current = { child, exited };
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (state.code !== null) {
        current = undefined;
        throw new Error(
          `prometheus (${binary}) exited with ${String(state.code)} before it was ready:\n${output}`,
        );
      }
      try {
        const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await halt();
        throw new Error(
          `prometheus did not answer ${url}/-/ready within ${String(readyTimeoutMs)} ms:\n${output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const halt = async (): Promise<void> => {
    const running = current;
    current = undefined;
    if (running === undefined) return;
    running.child.kill("SIGTERM");
    const timer = setTimeout(() => running.child.kill("SIGKILL"), 10_000);
    await running.exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    halt,
    resume: async () => {
      if (current === undefined) await launch();
    },
    stop: async () => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
