// `llmops controller` as real processes against the real control plane: probes, the Lease, a
// clean SIGTERM that releases it, and failover when the leader process is killed.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LeaseType, type StoredObject } from "../../controller/kube/resources.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import {
  killAll,
  startControllerProcess,
  type ControllerProcess,
} from "../support/controller-process.js";
import { installCrds } from "../validate/install-crds.js";
import { eventually, newClient } from "./helpers.js";

type Lease = StoredObject<{ spec?: { holderIdentity?: string | null } }>;

describe("llmops controller (processes)", () => {
  const ns = useTestNamespace("cli");
  const client = newClient(testKubeConfig());
  const processes: ControllerProcess[] = [];
  // The command runs the built-in controllers, whose informers need their kinds served.
  beforeAll(installCrds);
  afterEach(() => killAll(processes));

  async function startController(extra: string[] = []): Promise<ControllerProcess> {
    const proc = await startControllerProcess(ns.name, extra);
    processes.push(proc);
    return proc;
  }

  const holder = async (): Promise<string> =>
    (await client.tryGet<Lease>(LeaseType, { namespace: ns.name, name: "llmops-controller" }))?.spec
      ?.holderIdentity ?? "";

  const leaderGauge = async (p: ControllerProcess): Promise<string | undefined> => {
    const text = await (await fetch(`${p.url}/metrics`)).text();
    return /^llmops_leader (\d)/m.exec(text)?.[1];
  };

  it("serves probes, takes the Lease, and releases it on SIGTERM", async () => {
    const p = await startController(["--log-level", "debug"]);
    await eventually(
      () => `ready; process output:\n${p.output.join("").slice(-4000)}`,
      async () => ((await fetch(`${p.url}/readyz`)).status === 200 ? true : undefined),
      60_000,
    );
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    await eventually(
      () => `lease held; process output:\n${p.output.join("").slice(-4000)}`,
      async () => ((await holder()) !== "" ? true : undefined),
    );
    expect(await leaderGauge(p)).toBe("1");

    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(await holder()).toBe("");
    const logs = p.output.join("");
    expect(logs).toMatch(/"msg":"shutting down: finishing in-flight reconciles"/);
    expect(logs).toMatch(/"msg":"released leadership"/);
  });

  it("two processes: one leads; killing it hands the Lease to the other", async () => {
    const a = await startController();
    await eventually("a leads", async () => ((await holder()) !== "" ? true : undefined), 60_000);
    const first = await holder();
    const b = await startController();
    await eventually(
      "b ready",
      async () => ((await fetch(`${b.url}/readyz`)).status === 200 ? true : undefined),
      60_000,
    );
    const [leader, standby] = (await leaderGauge(a)) === "1" ? [a, b] : [b, a];
    expect(await leaderGauge(leader)).toBe("1");
    expect(await leaderGauge(standby)).toBe("0");

    leader.child.kill("SIGKILL");
    await leader.exited;
    // Default lease: 15 s; the standby takes over once it has seen the lease unrenewed that long.
    await eventually(
      "standby leads",
      async () => ((await leaderGauge(standby)) === "1" ? true : undefined),
      60_000,
    );
    const second = await holder();
    expect(second).not.toBe(first);
    expect(second).not.toBe("");
  });

  describe("an apiserver that cannot be reached", () => {
    let dir = "";
    let kubeconfig = "";
    beforeAll(async () => {
      // A port nothing listens on: bound once to get a number, then closed.
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const address = server.address();
      await new Promise((resolve) => server.close(resolve));
      if (address === null || typeof address === "string") throw new Error("no port");
      dir = await mkdtemp(join(tmpdir(), "llmops-unreachable-"));
      kubeconfig = join(dir, "kubeconfig");
      await writeFile(
        kubeconfig,
        [
          "apiVersion: v1",
          "kind: Config",
          `clusters: [{name: c, cluster: {server: 'https://127.0.0.1:${String(address.port)}'}}]`,
          "users: [{name: u, user: {token: t}}]",
          "contexts: [{name: x, context: {cluster: c, user: u}}]",
          "current-context: x",
        ].join("\n"),
      );
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const retryLines = (p: ControllerProcess): string[] =>
      p.output
        .join("")
        .split("\n")
        .filter((l) => l.includes("cannot reach the Kubernetes API server at https://127.0.0.1:"));

    // The later flags win over the helper's own --kubeconfig and --metrics-addr.
    it.each([
      { name: "without the HTTP server (--metrics-addr 0)", metrics: false },
      { name: "with the HTTP server", metrics: true },
    ])("$name: keeps retrying with backoff until SIGTERM, then exits 0", async ({ metrics }) => {
      const p = await startController([
        "--kubeconfig",
        kubeconfig,
        ...(metrics ? [] : ["--metrics-addr", "0"]),
      ]);
      await eventually(
        () => `three failed attempts logged; process output:\n${p.output.join("").slice(-4000)}`,
        () => (retryLines(p).length >= 3 ? true : undefined),
        30_000,
      );
      // Three attempts are 1 + 2 s of backoff apart: the process has outlived the old exit.
      expect(p.child.exitCode).toBeNull();
      const lines = retryLines(p).map(
        (l) => JSON.parse(l) as { msg: string; retryInSeconds: number },
      );
      expect(lines.slice(0, 3).map((l) => l.retryInSeconds)).toEqual([1, 2, 4]);
      expect(lines[0]?.msg).toMatch(/: GET \/version: .*ECONNREFUSED.*; next retry in 1 s$/);
      if (metrics) {
        // Alive (a restart would not help), not ready.
        expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${p.url}/readyz`)).status).toBe(503);
      }

      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(p.output.join("")).toMatch(/"msg":"controller stopped"/);
    });
  });

  it("rejects bad flags with a usage error", async () => {
    const p = await startController(["--concurrency", "Prompt=zero"]);
    expect(await p.exited).toBe(2);
    expect(p.output.join("")).toMatch(/expected kind=n/);
  });
});
