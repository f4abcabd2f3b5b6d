// A real Kubernetes control plane for tests: the product's local control plane
// (controller/localenv/: etcd, kube-apiserver, kube-controller-manager) plus what only tests need,
// kube-scheduler and kwok simulating nodes so pods run and Job pods complete.
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import {
  componentArgs,
  freePorts,
  probe,
  startLocalControlPlane,
  toRecord,
  waitFor,
} from "../../controller/localenv/control-plane.js";
import {
  startProcess,
  stopProcesses,
  type ProcessRecord,
  type RunningProcess,
} from "../../controller/localenv/processes.js";

export { freePorts };

export interface FakeNodeSpec {
  name: string;
  cpu: string;
  memory: string;
  gpus?: number;
  labels?: Record<string, string>;
}

export const defaultFakeNodes: readonly FakeNodeSpec[] = [
  { name: "kwok-cpu-0", cpu: "32", memory: "128Gi" },
  { name: "kwok-cpu-1", cpu: "32", memory: "128Gi" },
  {
    name: "kwok-gpu-0",
    cpu: "64",
    memory: "512Gi",
    gpus: 8,
    labels: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8" },
  },
];

export interface ControlPlaneOptions {
  /** Run directory: pki/, etcd/, logs/, kubeconfig. */
  dir: string;
  binDir: string;
  /** Keep the processes running after this Node process exits (npm run cluster:up). */
  detached: boolean;
  nodes?: readonly FakeNodeSpec[];
  log?: (message: string) => void;
  startTimeoutMs?: number;
}

export interface ControlPlane {
  dir: string;
  binDir: string;
  kubeconfigPath: string;
  server: string;
  processes: ProcessRecord[];
}

function fakeNode(spec: FakeNodeSpec): V1Node {
  const capacity: Record<string, string> = {
    cpu: spec.cpu,
    memory: spec.memory,
    pods: "110",
    "ephemeral-storage": "500Gi",
  };
  if (spec.gpus) capacity["nvidia.com/gpu"] = String(spec.gpus);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        type: "kwok",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": spec.name,
        ...spec.labels,
      },
    },
    status: { allocatable: capacity, capacity, nodeInfo: nodeInfo() },
  };
}

function nodeInfo() {
  return {
    architecture: "amd64",
    operatingSystem: "linux",
    kubeletVersion: "fake",
    kubeProxyVersion: "fake",
    bootID: "",
    containerRuntimeVersion: "",
    kernelVersion: "",
    machineID: "",
    osImage: "",
    systemUUID: "",
  };
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, creates the fake
 * nodes, and resolves once all of them work. On any failure it stops what it started and throws
 * with the reason and the failing component's log.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? (() => undefined);
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  const { dir, binDir, detached } = options;
  const local = await startLocalControlPlane({
    dir,
    binDir,
    detached,
    unsafeNoFsync: true,
    log,
    deadline,
  });
  const { kubeconfigPath, server } = local;
  const logDir = join(dir, "logs");
  const started: RunningProcess[] = [...local.running];
  const start = (name: string, args: readonly string[]) => {
    const proc = startProcess({
      name,
      binary: join(binDir, name),
      args,
      logDir,
      marker: dir,
      detached,
    });
    started.push(proc);
    return proc;
  };

  try {
    const [schedPort = 0] = await freePorts(1);
    const scheduler = start(
      "kube-scheduler",
      componentArgs(kubeconfigPath, schedPort, join(dir, "kube-scheduler")),
    );
    const stages = join(dir, "kwok-stages.yaml");
    await writeFile(
      stages,
      trainingPodsKeepRunning(readFileSync(join(binDir, "kwok-stages.yaml"), "utf8")),
    );
    const kwok = start("kwok", [
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${stages}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--cidr=10.244.0.0/16",
      "--node-ip=10.1.0.1",
    ]);
    const all = [...local.running, scheduler, kwok];

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    for (const spec of options.nodes ?? defaultFakeNodes) {
      await core.createNode({ body: fakeNode(spec) });
    }
    const nodeCount = (options.nodes ?? defaultFakeNodes).length;

    await Promise.all([
      waitFor(
        "kube-scheduler /healthz",
        async () =>
          (await probe(`https://127.0.0.1:${String(schedPort)}/healthz`, {})).status === 200,
        all,
        deadline,
      ),
      waitFor(
        `${String(nodeCount)} fake nodes Ready (kwok)`,
        async () => {
          const nodes = await core.listNode();
          const ready = nodes.items.filter((n) =>
            n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
          return ready.length >= nodeCount;
        },
        all,
        deadline,
      ),
    ]);
    log(`scheduler and ${String(nodeCount)} kwok nodes ready`);
    return { dir, binDir, kubeconfigPath, server, processes: started.map(toRecord) };
  } catch (err: unknown) {
    await stopProcesses(started);
    throw err;
  }
}

export async function stopControlPlane(plane: Pick<ControlPlane, "processes">): Promise<void> {
  await stopProcesses(plane.processes);
}

/**
 * Stops one component (e.g. "kube-apiserver"), keeps it down for `downMs`, and starts it again
 * with the same command line: an outage the code under test must survive. The plane's process
 * list is updated so that stopping the plane stops the new process.
 */
export async function restartComponent(
  plane: ControlPlane,
  name: string,
  options: { downMs: number },
): Promise<void> {
  const index = plane.processes.findIndex((p) => p.name === name);
  const previous = plane.processes[index];
  if (!previous) throw new Error(`no control-plane component named ${name}`);
  const argv = readFileSync(`/proc/${String(previous.pid)}/cmdline`, "utf8").split("\0");
  argv.pop(); // the command line ends with a NUL
  const [binary, ...args] = argv;
  if (binary === undefined) throw new Error(`${name}: empty command line`);
  await stopProcesses([previous]);
  await sleep(options.downMs);
  const next = startProcess({
    name,
    binary,
    args,
    logDir: join(plane.dir, "logs"),
    marker: previous.marker,
    detached: false,
  });
  plane.processes[index] = {
    name,
    pid: next.pid,
    marker: next.marker,
    logFile: next.logFile,
  };
}

/**
 * kwok's pod-complete stage finishes every Job pod at once. A training attempt's pod (labelled
 * llmops.dev/training-job) instead stays Running until the test plays the trainer: it reports
 * progress and then sets the pod's phase, as a real trainer's exit would.
 */
export function trainingPodsKeepRunning(stages: string): string {
  const marker = "  name: pod-complete\n";
  const at = stages.indexOf(marker);
  const expressions = stages.indexOf("    matchExpressions:\n", at);
  if (at === -1 || expressions === -1)
    throw new Error("kwok-stages.yaml has no pod-complete stage");
  const insertAt = expressions + "    matchExpressions:\n".length;
  const rule =
    "    - key: '.metadata.labels.\"llmops.dev/training-job\"'\n      operator: 'DoesNotExist'\n";
  return stages.slice(0, insertAt) + rule + stages.slice(insertAt);
}
