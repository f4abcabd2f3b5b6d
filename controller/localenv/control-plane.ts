// The local control plane `llmops up` runs, and the tests build on: etcd, kube-apiserver with
// generated certificates and RBAC, and kube-controller-manager (garbage collection of owned
// objects, namespace deletion, service-account tokens), started the way controller-runtime's
// envtest does it. No nodes: the local backends run workloads as processes of this machine.
//
// The run directory holds everything: pki/, etcd/ (the data), logs/, kubeconfig. Started again on
// the same directory, it keeps the data and the certificates; ports are chosen afresh each time,
// and the kubeconfig is rewritten with the new one.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { ensurePki, type Pki } from "./pki.js";
import {
  logTail,
  startProcess,
  stopProcesses,
  type ProcessRecord,
  type RunningProcess,
} from "./processes.js";

export interface LocalControlPlaneOptions {
  /** Run directory: pki/, etcd/, logs/, kubeconfig. */
  dir: string;
  /** Holds etcd, kube-apiserver and kube-controller-manager. */
  binDir: string;
  /** Keep the processes running after this Node process exits (npm run cluster:up). */
  detached: boolean;
  /** etcd without fsync: faster, for throw-away test data only. */
  unsafeNoFsync?: boolean;
  /** Cluster, user and context name in the kubeconfig. */
  contextName?: string;
  log?: (message: string) => void;
  /** Absolute deadline (Date.now() ms) or a timeout from now. */
  deadline?: number;
  startTimeoutMs?: number;
}

export interface LocalControlPlane {
  dir: string;
  binDir: string;
  kubeconfigPath: string;
  server: string;
  pki: Pki;
  /** Whether this start made the certificates (false: kept from an earlier run). */
  pkiCreated: boolean;
  processes: ProcessRecord[];
  /** The same processes, with their exit status while this Node process watches them. */
  running: RunningProcess[];
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

export interface Probe {
  status: number;
  body: string;
}

/** One GET with a 2 s timeout; https with the given CA and client certificate, if any. */
export function probe(
  url: string,
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer },
): Promise<Probe> {
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

export class ControlPlaneStartError extends Error {
  override name = "ControlPlaneStartError";
}

/** Polls `check` until it returns true; fails early, with the log, if a watched process died. */
export async function waitFor(
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
        throw new ControlPlaneStartError(
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
      throw new ControlPlaneStartError(`timed out waiting for ${what}${reason}\n${logs}`);
    }
    await sleep(200);
  }
}

/** An admin kubeconfig (client certificate in system:masters) for the apiserver at `server`. */
export function kubeconfigYaml(server: string, pki: Pki, name = "llmops-testenv"): string {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server, "certificate-authority-data": b64(pki.caCert) } }],
    users: [
      {
        name: `${name}-admin`,
        user: {
          "client-certificate-data": b64(pki.adminCert),
          "client-key-data": b64(pki.adminKey),
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: "default" } }],
    "current-context": name,
  });
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on `dir` and resolves once all of them
 * work (the controller-manager has made the default ServiceAccount). On any failure it stops what
 * it started and throws with the reason and the failing component's log.
 */
export async function startLocalControlPlane(
  options: LocalControlPlaneOptions,
): Promise<LocalControlPlane> {
  const log = options.log ?? (() => undefined);
  const deadline = options.deadline ?? Date.now() + (options.startTimeoutMs ?? 120_000);
  const { dir, binDir, detached } = options;
  const logDir = join(dir, "logs");
  await mkdir(logDir, { recursive: true });
  const started: RunningProcess[] = [];
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
    const pki = await ensurePki(join(dir, "pki"));
    const ca = readFileSync(pki.caCert);
    const clientTls = { ca, cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) };

    const [etcdClient = 0, etcdPeer = 0, apiPort = 0, cmPort = 0] = await freePorts(4);
    const etcdUrl = `http://127.0.0.1:${String(etcdClient)}`;
    const peerUrl = `http://127.0.0.1:${String(etcdPeer)}`;
    // With data from an earlier run etcd ignores the --initial-* flags; a single member needs no
    // peer, so a new peer port does no harm.
    const etcd = start("etcd", [
      "--name=llmops",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=llmops=${peerUrl}`,
      ...(options.unsafeNoFsync ? ["--unsafe-no-fsync=true"] : []),
      "--log-level=warn",
    ]);
    await waitFor(
      "etcd /health",
      async () => (await probe(`${etcdUrl}/health`)).body.includes('"health":"true"'),
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
      async () => (await probe(`${server}/readyz`, clientTls)).status === 200,
      [etcd, apiserver],
      deadline,
    );
    log(`kube-apiserver ready on ${server}`);

    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki, options.contextName), {
      mode: 0o600,
    });
    const controllerManager = start("kube-controller-manager", [
      ...componentArgs(kubeconfigPath, cmPort, join(dir, "kube-controller-manager")),
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      "--use-service-account-credentials=false",
      "--controllers=*",
    ]);
    const all = [etcd, apiserver, controllerManager];
    await Promise.all([
      waitFor(
        "kube-controller-manager /healthz",
        async () => (await probe(`https://127.0.0.1:${String(cmPort)}/healthz`, {})).status === 200,
        all,
        deadline,
      ),
      waitFor(
        "the default ServiceAccount (controller-manager at work)",
        async () =>
          (await probe(`${server}/api/v1/namespaces/default/serviceaccounts/default`, clientTls))
            .status === 200,
        all,
        deadline,
      ),
    ]);
    log("kube-controller-manager ready");
    return {
      dir,
      binDir,
      kubeconfigPath,
      server,
      pki,
      pkiCreated: pki.created,
      processes: started.map(toRecord),
      running: started,
    };
  } catch (err: unknown) {
    await stopProcesses(started);
    throw err;
  }
}

/** The flags kube-controller-manager and kube-scheduler share. */
export function componentArgs(kubeconfigPath: string, port: number, certDir: string): string[] {
  return [
    `--kubeconfig=${kubeconfigPath}`,
    `--authentication-kubeconfig=${kubeconfigPath}`,
    `--authorization-kubeconfig=${kubeconfigPath}`,
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    `--secure-port=${String(port)}`,
    `--cert-dir=${certDir}`,
    "--v=1",
  ];
}

export function toRecord({ name, pid, marker, logFile }: ProcessRecord): ProcessRecord {
  return { name, pid, marker, logFile };
}

/** Stops the control plane's processes in reverse start order (SIGTERM, then SIGKILL). */
export async function stopLocalControlPlane(
  plane: Pick<LocalControlPlane, "processes">,
): Promise<void> {
  await stopProcesses(plane.processes);
}
