// Vitest global setup: one real control plane per test run, torn down at the end.
// If it cannot start, the whole run fails with the reason: tests never run against a mock.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { ensureBinaries } from "./binaries.js";
import { startControlPlane, stopControlPlane, type ControlPlane } from "./control-plane.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (message: string) => {
    process.stderr.write(`[testenv] ${message}\n`);
  };
  const binDir = await ensureBinaries(log);
  const dir = await mkdtemp(join(tmpdir(), "llmops-testenv-"));
  const started = Date.now();
  let plane: ControlPlane;
  try {
    plane = await startControlPlane({ dir, binDir, detached: false, log });
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the test control plane did not start: ${(err as Error).message}`, {
      cause: err,
    });
  }
  log(`control plane up in ${String(Date.now() - started)} ms (${plane.server})`);

  // If vitest dies without running teardown, still take the processes down with it.
  const killOnExit = () => {
    for (const p of plane.processes) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  process.once("exit", killOnExit);

  project.provide("llmopsTestCluster", {
    kubeconfigPath: plane.kubeconfigPath,
    binDir: plane.binDir,
    server: plane.server,
  });

  return async () => {
    process.off("exit", killOnExit);
    await stopControlPlane(plane);
    await rm(dir, { recursive: true, force: true });
    log("control plane stopped");
  };
}
