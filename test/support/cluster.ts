// Test-side access to the real control plane started by test/env/global-setup.ts.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, afterEach, beforeAll, beforeEach, inject } from "vitest";
import { startControlPlane, stopControlPlane, type ControlPlane } from "../env/control-plane.js";

const execFileAsync = promisify(execFile);

/** What the global setup hands to every test file. */
export interface TestClusterInfo {
  /** Admin kubeconfig (client certificate, system:masters). */
  kubeconfigPath: string;
  /** Directory holding kube-apiserver, etcd, kwok, kubectl, helm… */
  binDir: string;
  /** https://127.0.0.1:<port> */
  server: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    llmopsTestCluster: TestClusterInfo;
  }
}

export function testCluster(): TestClusterInfo {
  return inject("llmopsTestCluster");
}

/** A fresh KubeConfig for the admin user of the test control plane. */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfigPath);
  return kc;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

async function runBinary(
  name: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  const { binDir, kubeconfigPath } = testCluster();
  const child = execFileAsync(join(binDir, name), args, {
    env: { ...process.env, KUBECONFIG: kubeconfigPath, ...options.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (options.input !== undefined) {
    child.child.stdin?.end(options.input);
  }
  try {
    const { stdout, stderr } = await child;
    return { stdout, stderr, code: 0 };
  } catch (err: unknown) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: e.code ?? 1 };
  }
}

/** Runs the real kubectl against the test control plane. Never throws on a non-zero exit. */
export function kubectl(
  args: readonly string[],
  options?: { input?: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  return runBinary("kubectl", args, options);
}

/** Runs the real helm against the test control plane. Never throws on a non-zero exit. */
export function helm(
  args: readonly string[],
  options?: { input?: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  return runBinary("helm", args, options);
}

/** Creates a namespace with a unique name; delete it with the returned function. */
export async function createTestNamespace(prefix = "t"): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  const core = testKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, labels: { "llmops.dev/test": "true" } } },
  });
  return name;
}

export async function deleteTestNamespace(name: string): Promise<void> {
  const core = testKubeConfig().makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/**
 * Gives every test in the calling file its own namespace: `ns.name` is fresh in each test.
 * Call at the top level of a test file or inside a describe block.
 */
export function useTestNamespace(prefix = "t"): { readonly name: string } {
  const holder = { name: "" };
  beforeEach(async () => {
    holder.name = await createTestNamespace(prefix);
  });
  afterEach(async () => {
    await deleteTestNamespace(holder.name);
  });
  return holder;
}

/**
 * A control plane of the calling test file's own, for tests that disrupt it (stop the apiserver,
 * restart etcd) without disturbing tests running beside them on the shared one. Starts in
 * `beforeAll`, stops in `afterAll`; `plane.current` is set in between. Use restartComponent from
 * test/env/control-plane.ts on it.
 */
export function usePrivateControlPlane(): { current: ControlPlane | undefined } {
  const holder: { current: ControlPlane | undefined } = { current: undefined };
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "llmops-private-plane-"));
    holder.current = await startControlPlane({
      dir,
      binDir: testCluster().binDir,
      detached: false,
    });
  });
  afterAll(async () => {
    if (holder.current) await stopControlPlane(holder.current);
    await rm(dir, { recursive: true, force: true });
  });
  return holder;
}
