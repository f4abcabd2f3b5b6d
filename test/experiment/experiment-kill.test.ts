// `llmops controller` killed with SIGKILL halfway through an Experiment, then started again: the
// run completes and no item is sent to a model twice. Calls that were in flight at the kill are
// recorded as interrupted (their answers may already be paid for) instead of being sent again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType } from "../../controller/kube/resources.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import {
  killAll,
  startControllerProcess,
  type ControllerProcess,
} from "../support/controller-process.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import {
  apply,
  datasetConfigMap,
  experimentManifest,
  jsonl,
  promptManifest,
  type StoredExperiment,
} from "./harness.js";

describe("Experiment across a controller kill", () => {
  let client: KubeClient;
  let namespace = "";
  let server: OpenAiTestServer | undefined;
  const processes: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
    namespace = await createTestNamespace("exp-kill");
  }, 120_000);
  afterAll(async () => {
    await killAll(processes);
    await server?.close();
    await deleteTestNamespace(namespace);
  });

  it("SIGKILL mid-run: resumes, completes, and never calls a model twice for the same item", async () => {
    const items = arithmeticDataset(80, 13);
    server = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.6, latencyMs: 120 },
        { id: "model-strong", accuracy: 0.85, latencyMs: 120 },
      ],
      dataset: items,
    });
    await apply(promptManifest(namespace, server.baseURL));
    await apply(datasetConfigMap(namespace, "arith-data", jsonl(items)));
    const get = () => client.get<StoredExperiment>(ExperimentType, { namespace, name: "killed" });
    const concurrency = 1;

    const first = await startControllerProcess(namespace, ["--no-leader-elect"]);
    processes.push(first);
    await apply(
      experimentManifest(
        namespace,
        "killed",
        { configMap: { name: "arith-data" } },
        // One call at a time at 120 ms: a batch (128 calls per slot, or 10 s) ends on its 10 s
        // deadline with about 80 results saved, and the next batch has its call in flight.
        { concurrency },
      ),
    );
    // Kill once results are saved and while a call is certainly in flight.
    await eventually(
      () => `killed has saved results; controller output:\n${first.output.join("").slice(-3000)}`,
      async () => ((await get()).status?.progress?.completed ?? 0) >= 24 || undefined,
      120_000,
    );
    await eventually("a call in flight", () =>
      Promise.resolve(server?.inFlight() ? true : undefined),
    );
    first.child.kill("SIGKILL");
    await first.exited;
    const atKill = server.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
    expect(atKill).toBeLessThan(160);

    const second = await startControllerProcess(namespace, ["--no-leader-elect"]);
    processes.push(second);
    const done = await eventually(
      () => `killed Completed; controller output:\n${second.output.join("").slice(-3000)}`,
      async () => {
        const e = await get();
        return e.status?.phase === "Completed" ? e : undefined;
      },
      180_000,
    );

    // No item went to a model twice, answered or not.
    for (const model of ["model-weak", "model-strong"]) {
      const calls = server.callsPerItem({ model, all: true });
      expect([...calls.entries()].filter(([, n]) => n > 1)).toEqual([]);
    }
    const progress = done.status?.progress ?? {};
    expect(progress.completed).toBe(160);
    expect(progress.total).toBe(160);
    // What was claimed at the kill is accounted for, not re-sent. Each worker holds at most one
    // call in flight and one unit claimed ahead of its turn (so its journal write is off the
    // call's path), hence at most 2 × concurrency interrupted, of which at most one per worker
    // was sent.
    const interrupted = progress.interrupted ?? 0;
    expect(interrupted).toBeGreaterThanOrEqual(1); // a call was in flight when it was killed
    expect(interrupted).toBeLessThanOrEqual(2 * concurrency);
    expect(progress.failed).toBe(interrupted);
    const sent = server.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
    // Claimed units the kill stopped before they left count as interrupted too (never sent).
    expect(sent).toBeLessThanOrEqual(160);
    expect(sent).toBeGreaterThanOrEqual(160 - interrupted);
    expect(sent).toBeLessThanOrEqual(160 - interrupted + concurrency); // one sent call per worker
    // The journal is gone once its results are saved.
    const journal = await client.list(ConfigMapType, {
      namespace,
      labelSelector: "llmops.dev/journal=killed",
    });
    expect(journal.items).toEqual([]);
    const n = (variant: string) => done.status?.results?.find((r) => r.variant === variant)?.n;
    expect((n("baseline") ?? 0) + (n("strong") ?? 0)).toBe(160 - interrupted);
  }, 420_000);
});
