// The Prompt controller rides out an API server outage by itself: on a private control plane the
// kube-apiserver is stopped for 10 s and started again; the controller's watches recover and a
// change made afterwards is reconciled without restarting anything.
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Prompt } from "../../controller/api/generated/index.js";
import type { KubeObject } from "../../controller/kube/resources.js";
import { Manager } from "../../controller/runtime/manager.js";
import { PromptType, promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { restartComponent } from "../env/control-plane.js";
import { kubectl, usePrivateControlPlane } from "../support/cluster.js";
import { repositoryRoot } from "../validate/fixtures.js";
import { waitForCrdsEstablished } from "../validate/install-crds.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";

function manifest(user: string): string {
  const prompt: Prompt = {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: "resilient", namespace: "default" },
    spec: {
      template: { messages: [{ role: "user", content: user }] },
      variables: [{ name: "ticket" }],
      model: { name: "gpt-4o-mini" },
    },
  };
  return stringify(prompt);
}

describe("Prompt controller during an API server outage", () => {
  const plane = usePrivateControlPlane();

  it("recovers by itself after kube-apiserver is down for 10 s", async () => {
    const current = plane.current;
    if (!current) throw new Error("private control plane did not start");
    const env = { KUBECONFIG: current.kubeconfigPath };
    const crds = await kubectl(["apply", "--server-side", "-f", join(repositoryRoot, "crds")], {
      env,
    });
    expect(crds.code, crds.stderr).toBe(0);
    await waitForCrdsEstablished(["prompts.llmops.dev"], { env });

    const kc = new KubeConfig();
    kc.loadFromFile(current.kubeconfigPath);
    const client = newClient(kc, { fieldManager: "llmops-controller", requestTimeoutMs: 5_000 });
    const { logger } = memoryLogger("info");
    // Short watchdog and backoff so recovery is quick on a test clock budget.
    const manager = new Manager({
      client,
      logger,
      informer: { staleAfterMs: 15_000, backoffBaseMs: 200, backoffMaxMs: 2_000 },
    });
    manager.add(promptController());
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    const versionOf = async () =>
      (
        await client.get<Prompt & KubeObject>(PromptType, {
          namespace: "default",
          name: "resilient",
        })
      ).status?.version;
    try {
      await eventually("CRDs served", async () => {
        const r = await kubectl(["apply", "-f", "-"], { input: manifest("{{ticket}}"), env });
        return r.code === 0 ? true : undefined;
      });
      await eventually(
        "version 1",
        async () => ((await versionOf()) === 1 ? true : undefined),
        60_000,
      );

      await restartComponent(current, "kube-apiserver", { downMs: 10_000 });

      await eventually(
        "the API server back and the edit applied",
        async () => {
          const r = await kubectl(["apply", "-f", "-"], {
            input: manifest("Ticket: {{ticket}}"),
            env,
          });
          return r.code === 0 ? true : undefined;
        },
        90_000,
      );
      await eventually(
        "version 2 after the outage",
        async () => ((await versionOf()) === 2 ? true : undefined),
        90_000,
      );
      expect(manager.isHealthy()).toBe(true);
    } finally {
      stop.abort();
      // Not an absence check: only a bound on the graceful stop (the manager's default shutdown
      // timeout is 30 s), so a hung stop cannot hold the test past its own timeout.
      await Promise.race([done, sleep(30_000)]);
      await client.close();
    }
  });
});
