// A private control plane for one benchmark: started with the cached test binaries, the llmops
// CRDs installed and established, a client for it, and everything removed afterwards.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeClient } from "../controller/kube/client.js";
import { loadKubeConfig } from "../controller/kube/kubeconfig.js";
import { KubeTransport } from "../controller/kube/transport.js";
import { ensureBinaries } from "../test/env/binaries.js";
import { startControlPlane, stopControlPlane } from "../test/env/control-plane.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

export interface PrivateCluster {
  /** A scratch directory, removed with the cluster. */
  dir: string;
  binDir: string;
  kubeconfigPath: string;
  client: KubeClient;
  /** CPU seconds the control plane's processes have used (apiserver and etcd, by name). */
  controlPlaneCpuSeconds: () => Record<string, number>;
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields =
      readFileSync(`/proc/${String(pid)}/stat`, "utf8")
        .split(") ")[1]
        ?.split(" ") ?? [];
    return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
  } catch {
    return 0;
  }
}

/** Runs `body` against a fresh control plane with the CRDs established; tears it down after. */
export async function withPrivateCluster<T>(
  options: { fieldManager: string },
  body: (cluster: PrivateCluster) => Promise<T>,
): Promise<T> {
  const binDir = await ensureBinaries((m) => process.stderr.write(`${m}\n`));
  const dir = await mkdtemp(join(tmpdir(), "llmops-bench-"));
  const plane = await startControlPlane({ dir, binDir, detached: false });
  const kubectl = join(binDir, "kubectl");
  const kubeconfig = `--kubeconfig=${plane.kubeconfigPath}`;
  const client = new KubeClient({
    transport: new KubeTransport({ kubeConfig: loadKubeConfig({ path: plane.kubeconfigPath }) }),
    fieldManager: options.fieldManager,
  });
  try {
    await run(kubectl, [kubeconfig, "apply", "--server-side", "-f", join(root, "crds")]);
    await run(kubectl, [
      kubeconfig,
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd",
      "--all",
    ]);
    const controlPlaneCpuSeconds = () =>
      Object.fromEntries(
        plane.processes
          .filter((p) => p.name === "kube-apiserver" || p.name === "etcd")
          .map((p) => [p.name, cpuSecondsOf(p.pid)]),
      );
    return await body({
      dir,
      binDir,
      kubeconfigPath: plane.kubeconfigPath,
      client,
      controlPlaneCpuSeconds,
    });
  } finally {
    await client.close();
    await stopControlPlane(plane);
    await rm(dir, { recursive: true, force: true });
  }
}
