// `npm run cluster:up` / `npm run cluster:down`: a long-lived local control plane for development.
// State (PIDs, kubeconfig, logs) lives in .llmops/testenv/ at the repository root.
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ensureBinaries } from "./binaries.js";
import { startControlPlane, stopControlPlane, type ControlPlane } from "./control-plane.js";
import { isOurs } from "../../controller/localenv/processes.js";
import { testenvDir } from "./versions.js";

const stateDir = resolve(testenvDir, "..", "..", ".llmops", "testenv");
const stateFile = join(stateDir, "state.json");

const log = (message: string) => {
  process.stderr.write(`[cluster] ${message}\n`);
};

async function readState(): Promise<ControlPlane | undefined> {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(await readFile(stateFile, "utf8")) as ControlPlane;
}

async function up(): Promise<number> {
  const existing = await readState();
  if (existing?.processes.some(isOurs)) {
    log(`already running (${existing.server}); kubeconfig: ${existing.kubeconfigPath}`);
    return 0;
  }
  const binDir = await ensureBinaries(log);
  // A fresh run directory: old etcd data and certificates from a previous run are discarded.
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(stateDir, { recursive: true });
  const started = Date.now();
  const plane = await startControlPlane({ dir: stateDir, binDir, detached: true, log });
  await writeFile(stateFile, JSON.stringify(plane, null, 2));
  log(`control plane up in ${String(Date.now() - started)} ms at ${plane.server}`);
  log(`kubeconfig: ${plane.kubeconfigPath}`);
  log(`try: ${join(binDir, "kubectl")} --kubeconfig ${plane.kubeconfigPath} get nodes`);
  return 0;
}

async function down(): Promise<number> {
  const state = await readState();
  if (!state) {
    log("not running (no .llmops/testenv/state.json)");
    return 0;
  }
  await stopControlPlane(state);
  const left = state.processes.filter(isOurs);
  if (left.length > 0) {
    log(`could not stop: ${left.map((p) => `${p.name} (pid ${String(p.pid)})`).join(", ")}`);
    return 1;
  }
  await rm(join(stateDir, "etcd"), { recursive: true, force: true });
  await rm(stateFile, { force: true });
  log(`stopped ${state.processes.map((p) => p.name).join(", ")}`);
  return 0;
}

const command = process.argv[2];
try {
  if (command === "up") process.exitCode = await up();
  else if (command === "down") process.exitCode = await down();
  else {
    process.stderr.write("usage: node --import tsx test/env/cli.ts up|down\n");
    process.exitCode = 2;
  }
} catch (err: unknown) {
  log(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
