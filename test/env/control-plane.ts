// A real Kubernetes control plane for tests, started the way controller-runtime's envtest does it:
// etcd on a temp dir, kube-apiserver with generated certificates and RBAC, controller-manager and
// scheduler on an admin kubeconfig, and kwok simulating nodes so pods run and Job pods complete.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { generatePki, type Pki } from "./pki.js";
import {
  logTail,
  startProcess,
  stopProcesses,
  type ProcessRecord,
  type RunningProcess,
} from "./processes.js";

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

/** Distinct free loopback ports: all listeners stay open until every port is chosen. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.on("error", reject);
          server.listen(0, "127.0.0.1", () => {
            resolve(server);
          });
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

interface Probe {
  status: number;
  body: string;
}

function get(url: string, tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const req = url.startsWith("https:")
      ? request(url, { ...tls, rejectUnauthorized: tls?.ca !== undefined, timeout: 2000 })
      : httpRequest(url, { timeout: 2000 });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

class StartError extends Error {
  override name = "ControlPlaneStartError";
}

/** Polls `check` until it returns true; fails early, with the log, if a watched process died. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  watch: readonly RunningProcess[],
  deadline: number,
): Promise<void> {
  let lastError: unknown;
  for (;;) {
    for (const proc of watch) {
      const exit = proc.exited();
      if (exit) {
        throw new StartError(
          `${proc.name} exited (code ${String(exit.code)}, signal ${String(exit.signal)}) while waiting for ${what}. ` +
            `Last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`,
        );
      }
    }
    try {
      if (await check()) return;
    } catch (err: unknown) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const logs = watch.map((p) => `--- ${p.logFile}\n${logTail(p.logFile, 15)}`).join("\n");
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new StartError(`timed out waiting for ${what}${reason}\n${logs}`);
    }
    await sleep(200);
  }
}

function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "llmops-testenv",
        cluster: { server, "certificate-authority-data": b64(pki.caCert) },
      },
    ],
    users: [
      {
        name: "llmops-testenv-admin",
        user: {
          "client-certificate-data": b64(pki.adminCert),
          "client-key-data": b64(pki.adminKey),
        },
      },
    ],
    contexts: [
      {
        name: "llmops-testenv",
        context: { cluster: "llmops-testenv", user: "llmops-testenv-admin", namespace: "default" },
      },
    ],
    "current-context": "llmops-testenv",
  });
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
  const logDir = join(dir, "logs");
  await mkdir(logDir, { recursive: true });
  const bin = (name: string) => join(binDir, name);
  const started: RunningProcess[] = [];
  const start = (name: string, args: readonly string[]) => {
    const proc = startProcess({ name, binary: bin(name), args, logDir, marker: dir, detached });
    started.push(proc);
    return proc;
  };

  try {
    const pki = await generatePki(join(dir, "pki"));
    const ca = readFileSync(pki.caCert);
    const clientTls = { ca, cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) };

    const [etcdClient = 0, etcdPeer = 0, apiPort = 0, cmPort = 0, schedPort = 0] =
      await freePorts(5);
    const etcdUrl = `http://127.0.0.1:${String(etcdClient)}`;
    const peerUrl = `http://127.0.0.1:${String(etcdPeer)}`;
    const etcd = start("etcd", [
      "--name=testenv",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=testenv=${peerUrl}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ]);
    await waitFor(
      "etcd /health",
      async () => (await get(`${etcdUrl}/health`)).body.includes('"health":"true"'),
      [etcd],
      deadline,
    );
    log(`etcd ready on ${etcdUrl}`);

    const server = `https://127.0.0.1:${String(apiPort)}`;
    const apiserver = start("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${join(dir, "pki")}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-key-file=${pki.serviceAccountKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--authorization-mode=RBAC",
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${String(apiPort)}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      "--v=1",
    ]);
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await get(`${server}/readyz`, clientTls)).status === 200,
      [etcd, apiserver],
      deadline,
    );
    log(`kube-apiserver ready on ${server}`);

    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki), { mode: 0o600 });
    const componentArgs = (port: number, name: string) => [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${String(port)}`,
      `--cert-dir=${join(dir, name)}`,
      "--v=1",
    ];
    const controllerManager = start("kube-controller-manager", [
      ...componentArgs(cmPort, "kube-controller-manager"),
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      "--use-service-account-credentials=false",
      "--controllers=*",
    ]);
    const scheduler = start("kube-scheduler", componentArgs(schedPort, "kube-scheduler"));
    const stages = join(dir, "kwok-stages.yaml");
    await writeFile(stages, trainingPodsKeepRunning(readFileSync(bin("kwok-stages.yaml"), "utf8")));
    const kwok = start("kwok", [
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${stages}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--cidr=10.244.0.0/16",
      "--node-ip=10.1.0.1",
    ]);
    const all = [etcd, apiserver, controllerManager, scheduler, kwok];

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    for (const spec of options.nodes ?? defaultFakeNodes) {
      await core.createNode({ body: fakeNode(spec) });
    }
    const nodeCount = (options.nodes ?? defaultFakeNodes).length;

    await Promise.all([
      waitFor(
        "kube-controller-manager /healthz",
        async () => (await get(`https://127.0.0.1:${String(cmPort)}/healthz`, {})).status === 200,
        all,
        deadline,
      ),
      waitFor(
        "kube-scheduler /healthz",
        async () =>
          (await get(`https://127.0.0.1:${String(schedPort)}/healthz`, {})).status === 200,
        all,
        deadline,
      ),
      waitFor(
        "the default ServiceAccount (controller-manager at work)",
        async () => {
          await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
          return true;
        },
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
    log(`controller-manager, scheduler and ${String(nodeCount)} kwok nodes ready`);

    const processes = started.map(({ name, pid, marker, logFile }) => ({
      name,
      pid,
      marker,
      logFile,
    }));
    return { dir, binDir, kubeconfigPath, server, processes };
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
