// The online store on the real apiserver: counts survive a fresh process, ids count once across
// two writers racing on the same head ConfigMap, segments seal and are read back, an older run
// never overwrites a newer one, and pruning removes what other runs left.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Experiment } from "../../controller/api/generated/index.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import {
  ConfigMapType,
  type ConfigMap,
  type StoredObject,
} from "../../controller/kube/resources.js";
import { assignVariant, outcomeFingerprint } from "../../controller/online/assignment.js";
import { headName } from "../../controller/online/state.js";
import {
  OnlineStore,
  OutdatedRunError,
  pruneRuns,
  readRunState,
  type OnlineRun,
  type OutcomeEvent,
} from "../../controller/online/store.js";
import { systemClock } from "../../controller/runtime/clock.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

const weights = [
  { variant: "a", weight: 50 },
  { variant: "b", weight: 50 },
];

describe("online store", () => {
  let client: KubeClient;
  let namespace = "";

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    namespace = await createTestNamespace("online-store");
  });
  afterAll(async () => {
    await deleteTestNamespace(namespace);
  });

  async function experiment(name: string): Promise<StoredObject<Experiment>> {
    return client.create<Experiment>(ExperimentType, {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name, namespace },
      spec: {
        variants: [
          { name: "a", control: true, prompt: { name: "p" } },
          { name: "b", prompt: { name: "p" } },
        ],
        evaluators: [{ name: "converted", type: "outcome", outcome: { kind: "binary" } }],
        traffic: { weights },
      },
    });
  }

  const store = (sealAt = 16_384) =>
    new OnlineStore({ client, logger: memoryLogger().logger, clock: systemClock(), sealAt });

  function events(run: OnlineRun, ids: readonly number[]): OutcomeEvent[] {
    return ids.map((i) => {
      const a = assignVariant({
        uid: run.experiment.metadata.uid,
        salt: "",
        unit: `u${String(i % 300)}`,
        weights,
      });
      return {
        id: outcomeFingerprint(`o${String(i)}`),
        unit: a.unit,
        variant: a.variant,
        metric: "converted",
        value: i % 3 === 0 ? 1 : 0,
      };
    });
  }

  it("counts each id once across two writers and a fresh process, with sealed segments", async () => {
    const exp = await experiment("race");
    const run: OnlineRun = { experiment: exp, runId: "run1", startedAt: "2025-01-01T00:00:00Z" };
    const one = store(64);
    const two = store(64);
    const ids = Array.from({ length: 1000 }, (_, i) => i);
    // Both writers get every id, in batches that interleave: each must count exactly once.
    const batches = [];
    for (let i = 0; i < ids.length; i += 50) {
      const batch = events(run, ids.slice(i, i + 50));
      batches.push(one.report(run, batch), two.report(run, [...batch].reverse()));
    }
    const results = await Promise.all(batches);
    expect(results.reduce((s, r) => s + r.accepted, 0)).toBe(1000);
    expect(results.reduce((s, r) => s + r.duplicates, 0)).toBe(1000);
    await Promise.all([one.close(), two.close()]);

    const state = await readRunState(client, namespace, "race");
    const expected = {
      a: { n: 0, ones: 0, units: new Set<string>() },
      b: { n: 0, ones: 0, units: new Set<string>() },
    };
    for (const i of ids) {
      const a = assignVariant({
        uid: exp.metadata.uid,
        salt: "",
        unit: `u${String(i % 300)}`,
        weights,
      });
      const e = expected[a.variant as "a" | "b"];
      e.n += 1;
      e.ones += i % 3 === 0 ? 1 : 0;
      e.units.add(`u${String(i % 300)}`);
    }
    for (const v of ["a", "b"] as const) {
      const m = state?.variants[v]?.metrics.converted;
      expect(m?.n).toBe(expected[v].n);
      expect(m?.mean).toBeCloseTo(expected[v].ones / expected[v].n, 12);
      expect(state?.variants[v]?.exposures).toBe(expected[v].units.size);
    }
    expect(state?.outcomes).toBe(1000);
    // 1,000 ids with 64 per tail: sealed into immutable segments, listed in the head.
    const outcomeSegments = state?.segments.filter((s) => s.kind === "outcomes") ?? [];
    expect(outcomeSegments.length).toBeGreaterThanOrEqual(10);
    const segment = await client.get<ConfigMap>(ConfigMapType, {
      namespace,
      name: outcomeSegments[0]?.name ?? "",
    });
    expect(segment.immutable).toBe(true);
    expect(segment.metadata.ownerReferences?.[0]?.uid).toBe(exp.metadata.uid);

    // A new process knows nothing in memory: the head and its segments say what was counted.
    const fresh = store(64);
    const again = await fresh.report(run, events(run, [0, 1, 999, 1000]));
    expect(again).toEqual({ accepted: 1, duplicates: 3 });
    // Exposures of units already counted are not counted again.
    const known = assignVariant({ uid: exp.metadata.uid, salt: "", unit: "u7", weights });
    fresh.expose(run, known.variant, known.unit);
    const newUnit = assignVariant({ uid: exp.metadata.uid, salt: "", unit: "new-unit", weights });
    fresh.expose(run, newUnit.variant, newUnit.unit);
    await fresh.close();
    const after = await readRunState(client, namespace, "race");
    const exposures = (s: typeof after) =>
      (s?.variants.a?.exposures ?? 0) + (s?.variants.b?.exposures ?? 0);
    // o1000 is unit u1000 % 300 = u100, already exposed; new-unit is the only new one.
    expect(exposures(after)).toBe(exposures(state) + 1);
  });

  it("never lets an older run overwrite a newer one, and prunes what other runs left", async () => {
    const exp = await experiment("runs");
    const old: OnlineRun = { experiment: exp, runId: "old", startedAt: "2025-01-01T00:00:00Z" };
    const current: OnlineRun = { experiment: exp, runId: "new", startedAt: "2025-01-02T00:00:00Z" };
    const s = store(8);
    await s.report(
      old,
      events(
        old,
        Array.from({ length: 40 }, (_, i) => i),
      ),
    );
    const oldSegments = (await readRunState(client, namespace, "runs"))?.segments ?? [];
    expect(oldSegments.length).toBeGreaterThan(0);
    // The newer run takes the head over and starts from zero.
    expect(await s.report(current, events(current, [1, 2]))).toEqual({
      accepted: 2,
      duplicates: 0,
    });
    const state = await readRunState(client, namespace, "runs");
    expect(state?.runId).toBe("new");
    expect(state?.outcomes).toBe(2);
    // A replica still on the old run is refused instead of resetting the new one.
    const stale = store(8);
    await expect(stale.report(old, events(old, [5]))).rejects.toBeInstanceOf(OutdatedRunError);
    expect((await readRunState(client, namespace, "runs"))?.outcomes).toBe(2);

    const pruned = await pruneRuns({ client, experiment: exp, runId: "new", now: Date.now() });
    expect(pruned.sort()).toEqual(oldSegments.map((x) => x.name).sort());
    const left = await client.list<ConfigMap>(ConfigMapType, {
      namespace,
      labelSelector: "llmops.dev/online-experiment=runs",
    });
    expect(left.items.map((cm) => cm.metadata.name)).toEqual([headName("runs")]);
    await Promise.all([s.close(), stale.close()]);
  });
});
