// The reconciler skeleton (controller/runtime/object-reconciler.ts) against the real control
// plane, with a new "kind" written as observe/plan/act and nothing else: it reconciles Prompt
// objects (a CRD with generation and a status subresource; the Prompt controller does not run
// here) into one owned ConfigMap per spec.labels entry. Checked: status with the kstatus summary
// and the kind's own condition, owned children applied and pruned, Stalled with a Warning Event,
// waiting, suspend, and a finalizer run before an object goes.
import { afterEach, describe, expect, it } from "vitest";
import type { Prompt, PromptStatus } from "../../controller/api/generated/index.js";
import { PromptType } from "../../controller/api/kinds.js";
import {
  ConfigMapType,
  EventType,
  type ConfigMap,
  type KubeObject,
} from "../../controller/kube/resources.js";
import { Manager } from "../../controller/runtime/manager.js";
import {
  objectReconciler,
  type ObjectReconciler,
} from "../../controller/runtime/object-reconciler.js";
import { OwnedChildren, type ChildObject } from "../../controller/runtime/owned-children.js";
import type { ControllerSetup } from "../../controller/runtime/registry.js";
import { installCrds } from "../validate/install-crds.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "./helpers.js";

const childLabel = "test.llmops.dev/labels-of";
const finalizer = "test.llmops.dev/cleanup";

interface Probe {
  finalized: string[];
  lines: Record<string, unknown>[];
}

/** observe: the owned ConfigMaps; plan: one ConfigMap per label (or stall / wait); act: apply + prune. */
function labelsKind(
  probe: Probe,
): ObjectReconciler<
  Prompt,
  PromptStatus,
  { existing: ConfigMap[] },
  { desired: (ChildObject & ConfigMap)[] }
> {
  return {
    type: PromptType,
    finalizer: {
      name: finalizer,
      needed: (prompt) => prompt.metadata.annotations?.["test/finalize"] === "true",
      finalize: (prompt) => {
        probe.finalized.push(prompt.metadata.name);
        return Promise.resolve();
      },
    },
    observe: async (prompt, { deps }) => ({
      existing: await new OwnedChildren({
        client: deps.client,
        owner: prompt,
        labels: { [childLabel]: prompt.metadata.name },
      }).list<ConfigMap>(ConfigMapType),
    }),
    plan: ({ object, observed }) => {
      const labels = object.spec.labels ?? [];
      if (labels.includes("invalid")) {
        return {
          step: {
            status: object.status ?? {},
            outcome: { state: "Stalled", reason: "InvalidLabel", message: "label invalid: fix it" },
          },
        };
      }
      if (labels.includes("later")) {
        return {
          step: {
            status: object.status ?? {},
            outcome: { state: "Progressing", reason: "DependencyNotReady", message: "waiting" },
          },
        };
      }
      const desired = labels.map((label) => ({
        metadata: { name: `${object.metadata.name}-${label}` },
        data: { label },
      }));
      return {
        actions: { desired },
        step: {
          status: { ...object.status, version: labels.length },
          outcome: {
            state: "Ready",
            reason: "Published",
            message: `${String(labels.length)} labels`,
          },
          conditions: [
            {
              type: "LabelsPublished",
              status: "True",
              reason: "Applied",
              message: `${String(observed.existing.length)} before`,
            },
          ],
        },
      };
    },
    act: async (actions, planned, { deps, object, observed }) => {
      await new OwnedChildren({
        client: deps.client,
        owner: object,
        labels: { [childLabel]: object.metadata.name },
      }).reconcile(ConfigMapType, actions.desired, observed.existing);
      return planned;
    },
  };
}

describe("the reconciler skeleton against the real apiserver", () => {
  const ns = useTestNamespace("skeleton");
  const client = newClient(testKubeConfig());
  const running: { stop: AbortController; done: Promise<unknown> }[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.stop.abort();
      await r.done;
    }
  });

  async function start(): Promise<Probe> {
    await installCrds();
    const { logger, lines } = memoryLogger("debug");
    const probe: Probe = { finalized: [], lines };
    const setup: ControllerSetup = (deps) => ({
      name: "Prompt",
      type: PromptType,
      owns: [{ type: ConfigMapType, labelSelector: childLabel, metadataOnly: true }],
      reconcile: objectReconciler(deps, labelsKind(probe)),
    });
    const manager = new Manager({
      client: newClient(testKubeConfig(), { fieldManager: "llmops-controller" }),
      logger,
      namespaces: [ns.name],
    });
    manager.add(setup);
    const stop = new AbortController();
    running.push({ stop, done: manager.run(stop.signal) });
    return probe;
  }

  const applyPrompt = (
    name: string,
    labels: string[],
    extra: { suspend?: boolean; annotations?: Record<string, string> } = {},
  ) =>
    client.apply(PromptType, {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: {
        name,
        namespace: ns.name,
        ...(extra.annotations && { annotations: extra.annotations }),
      },
      spec: {
        template: { text: "hi" },
        model: { name: "m" },
        labels,
        ...(extra.suspend !== undefined && { suspend: extra.suspend }),
      },
    });
  const getPrompt = (name: string) =>
    client.get<Prompt & KubeObject>(PromptType, { namespace: ns.name, name });
  const condition = (p: Prompt, type: string) => p.status?.conditions?.find((c) => c.type === type);
  const children = async (name: string) =>
    (
      await client.list<ConfigMap>(ConfigMapType, {
        namespace: ns.name,
        labelSelector: `${childLabel}=${name}`,
      })
    ).items
      .map((c) => c.metadata.name)
      .sort();

  it("writes kstatus and the kind's own condition, applies owned children and prunes the rest", async () => {
    await start();
    await applyPrompt("a", ["x", "y"]);
    const ready = await eventually("a Ready", async () => {
      const p = await getPrompt("a");
      return condition(p, "Ready")?.status === "True" ? p : undefined;
    });
    expect(ready.status?.observedGeneration).toBe(ready.metadata.generation);
    expect(ready.status?.version).toBe(2);
    expect(condition(ready, "LabelsPublished")).toMatchObject({
      status: "True",
      reason: "Applied",
      observedGeneration: ready.metadata.generation,
    });
    expect(condition(ready, "Reconciling")).toBeUndefined();
    expect(await children("a")).toEqual(["a-x", "a-y"]);
    const child = await client.get<ConfigMap>(ConfigMapType, { namespace: ns.name, name: "a-x" });
    expect(child.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "llmops" });
    expect(child.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Prompt",
      name: "a",
      controller: true,
    });
    // A ConfigMap with the label that the Prompt does not control is never pruned.
    await client.apply(ConfigMapType, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a-foreign", namespace: ns.name, labels: { [childLabel]: "a" } },
    });

    await applyPrompt("a", ["y"]);
    await eventually("a-x pruned", async () =>
      (await children("a")).join() === "a-foreign,a-y" ? true : undefined,
    );
    // The deletion of a-x brings the owner back: the kind's own condition follows what observe
    // sees (one controlled child; the foreign one is not its own).
    const after = await eventually("a at version 1, one child observed", async () => {
      const p = await getPrompt("a");
      return p.status?.version === 1 && condition(p, "LabelsPublished")?.message === "1 before"
        ? p
        : undefined;
    });
    expect(condition(after, "LabelsPublished")?.status).toBe("True");
  });

  it("Stalled records a Warning Event; waiting is Reconciling, never Stalled", async () => {
    await start();
    await applyPrompt("bad", ["invalid"]);
    const stalled = await eventually("bad Stalled", async () => {
      const p = await getPrompt("bad");
      return condition(p, "Stalled")?.status === "True" ? p : undefined;
    });
    expect(condition(stalled, "Ready")).toMatchObject({ status: "False", reason: "InvalidLabel" });
    expect(stalled.status?.observedGeneration).toBe(stalled.metadata.generation);
    await eventually("Warning Event", async () => {
      const events = await client.list<KubeObject & { reason?: string; type?: string }>(EventType, {
        namespace: ns.name,
      });
      return events.items.some((e) => e.reason === "InvalidLabel" && e.type === "Warning")
        ? true
        : undefined;
    });

    await applyPrompt("waits", ["later"]);
    const waiting = await eventually("waits Reconciling", async () => {
      const p = await getPrompt("waits");
      return condition(p, "Reconciling")?.status === "True" ? p : undefined;
    });
    expect(condition(waiting, "Ready")).toMatchObject({
      status: "False",
      reason: "DependencyNotReady",
    });
    expect(condition(waiting, "Stalled")).toBeUndefined();
    // In flight: observedGeneration is not claimed for a generation still being worked on; it stays
    // -1, the CRDs' default for "never observed".
    expect(waiting.status?.observedGeneration).toBe(-1);
  });

  it("a suspended object gets nothing; a finalizer runs before the object goes", async () => {
    const probe = await start();
    await applyPrompt("held", ["x"], { suspend: true });
    await applyPrompt("done", ["x"], { annotations: { "test/finalize": "true" } });
    const done = await eventually("done Ready", async () => {
      const p = await getPrompt("done");
      return condition(p, "Ready")?.status === "True" ? p : undefined;
    });
    expect(done.metadata.finalizers).toContain(finalizer);
    // The reconcile of "held" ran and stopped at suspend: nothing observed, planned or written.
    await eventually("held reconciled as suspended", () =>
      probe.lines.some((l) => l.name === "held" && l.msg === "suspended") ? true : undefined,
    );
    const held = await getPrompt("held");
    // Only the CRDs' schema default: no status was written.
    expect(held.status).toEqual({ observedGeneration: -1 });
    expect(await children("held")).toEqual([]);

    await client.delete(PromptType, { namespace: ns.name, name: "done" });
    await eventually("done deleted", async () =>
      (await client.tryGet(PromptType, { namespace: ns.name, name: "done" })) === undefined
        ? true
        : undefined,
    );
    expect(probe.finalized).toEqual(["done"]);
  });
});
