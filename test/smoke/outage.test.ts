// A private control plane can be disrupted without disturbing other tests: the API server goes
// away, comes back on the same address, and the data kept in etcd is still there.
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { restartComponent } from "../env/control-plane.js";
import { usePrivateControlPlane } from "../support/cluster.js";

describe("private control plane", () => {
  const plane = usePrivateControlPlane();

  it("survives a kube-apiserver restart with its data", async () => {
    const current = plane.current;
    if (!current) throw new Error("private control plane did not start");
    const kc = new KubeConfig();
    kc.loadFromFile(current.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "kept" }, data: { answer: "42" } },
    });
    const before = current.processes.find((p) => p.name === "kube-apiserver")?.pid;

    await restartComponent(current, "kube-apiserver", { downMs: 1000 });
    expect(current.processes.find((p) => p.name === "kube-apiserver")?.pid).not.toBe(before);

    const deadline = Date.now() + 60_000;
    let answer: string | undefined;
    while (answer === undefined && Date.now() < deadline) {
      answer = await core
        .readNamespacedConfigMap({ name: "kept", namespace: "default" })
        .then((cm) => cm.data?.answer)
        .catch(() => undefined);
      if (answer === undefined) await sleep(250);
    }
    expect(answer).toBe("42");
  });
});
