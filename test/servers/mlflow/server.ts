// Starts a real MLflow tracking server (installed from PyPI into a cache venv by .ci/run) with a
// SQLite backend on a free port, for tests only. Fails loudly when MLflow is missing or does not
// come up: tracking is never faked.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** The venv .ci/run installs MLflow into; LLMOPS_MLFLOW_VENV overrides it. */
export function mlflowVenv(): string {
  return process.env["LLMOPS_MLFLOW_VENV"] ?? join(homedir(), ".cache", "llmops", "mlflow-venv");
}

export interface MlflowTestServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  stop(): Promise<void>;
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

/** Starts `mlflow server` and waits until /health answers (up to `timeoutMs`, default 300 s: a cold start on a busy 2-core machine takes minutes). */
export async function startMlflowServer(timeoutMs = 300_000): Promise<MlflowTestServer> {
  const binary = join(mlflowVenv(), "bin", "mlflow");
  if (!existsSync(binary)) {
    throw new Error(
      `MLflow is not installed at ${binary}: run .ci/run (or python3 -m venv ${mlflowVenv()} && ${mlflowVenv()}/bin/pip install mlflow)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "llmops-mlflow-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const child: ChildProcess = spawn(
    binary,
    [
      "server",
      "--backend-store-uri",
      `sqlite:///${join(dir, "mlflow.db")}`,
      "--default-artifact-root",
      join(dir, "artifacts"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--workers",
      "1",
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, MLFLOW_TRACKING_URI: "" } },
  );
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const state: { exited: number | null } = { exited: null };
  child.once("exit", (code) => {
    state.exited = code ?? -1;
  });
  const stop = async (): Promise<void> => {
    if (state.exited === null) {
      const done = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await done;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (state.exited !== null) {
      await stop();
      throw new Error(
        `mlflow server exited with ${String(state.exited)} before it was ready:\n${output}`,
      );
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return { url, stop };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `mlflow server did not answer ${url}/health within ${String(timeoutMs)} ms:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
