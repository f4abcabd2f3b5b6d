// `llmops controller` as a real child process against the test control plane, for tests that
// need to signal or kill it.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { testCluster } from "./cluster.js";

export interface ControllerProcess {
  child: ChildProcess;
  /** Base URL of its /metrics, /healthz and /readyz. */
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const entry =
  'import("./controller/main.ts").then((m) => m.main(["node", "llmops", ...process.argv.slice(1)])).then((code) => { process.exitCode = code; })';

/** Starts `llmops controller` watching `namespace` (leader Lease there too), plus `extra` flags. */
export async function startControllerProcess(
  namespace: string,
  extra: string[] = [],
): Promise<ControllerProcess> {
  const port = await freePort();
  // Each process its own HTTP API port: two on the default :8081 could not both listen.
  const apiPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      entry,
      "controller",
      "--kubeconfig",
      testCluster().kubeconfigPath,
      "--metrics-addr",
      `127.0.0.1:${String(port)}`,
      "--api-addr",
      `127.0.0.1:${String(apiPort)}`,
      "--leader-election-namespace",
      namespace,
      "--namespaces",
      namespace,
      ...extra,
    ],
    { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
  return { child, url: `http://127.0.0.1:${String(port)}`, output, exited };
}

/** Kills (SIGKILL) every process still running and waits for them. */
export async function killAll(processes: ControllerProcess[]): Promise<void> {
  for (const p of processes.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await p.exited;
  }
}
