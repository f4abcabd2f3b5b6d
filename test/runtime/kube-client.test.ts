// The narrow client against the real apiserver: server-side apply, status subresource, typed
// errors, pagination, finalizers, owner references with garbage collection, Events, watch 410.
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConflictError, NotFoundError, TerminalError } from "../../controller/kube/errors.js";
import { EventRecorder } from "../../controller/kube/events.js";
import {
  addFinalizer,
  hasFinalizer,
  isBeingDeleted,
  removeFinalizer,
} from "../../controller/kube/finalizers.js";
import { withControllerReference } from "../../controller/kube/owner-references.js";
import {
  ConfigMapType,
  EventType,
  type KubeObject,
  type ResourceType,
} from "../../controller/kube/resources.js";
import { kubectl, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "./helpers.js";

const ServiceType: ResourceType = {
  apiVersion: "v1",
  kind: "Service",
  plural: "services",
  namespaced: true,
};

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe("KubeClient against the real apiserver", () => {
  const ns = useTestNamespace("kube");
  const client: KubeClient = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });

  it("creates and updates with server-side apply, owning only the fields it sends", async () => {
    const created = await client.apply<ConfigMap>(ConfigMapType, {
      metadata: { name: "ssa", namespace: ns.name, labels: { app: "llmops" } },
      data: { a: "1", b: "2" },
    });
    expect(created.data).toEqual({ a: "1", b: "2" });
    expect(created.apiVersion).toBe("v1");
    expect(created.metadata.managedFields?.[0]).toMatchObject({
      manager: "llmops-controller",
      operation: "Apply",
    });

    // Another manager adds a field; our next apply without it must not remove it.
    const other = newClient(testKubeConfig(), { fieldManager: "someone-else" });
    await other.apply(ConfigMapType, {
      metadata: { name: "ssa", namespace: ns.name },
      data: { c: "3" },
    });
    const updated = await client.apply<ConfigMap>(ConfigMapType, {
      metadata: { name: "ssa", namespace: ns.name },
      data: { a: "10" },
    });
    // b was ours and is gone (we stopped applying it); c belongs to the other manager.
    expect(updated.data).toEqual({ a: "10", c: "3" });
    expect(updated.metadata.labels).toBeUndefined();
  });

  it("reports an apply conflict with another manager as ConflictError, and force takes over", async () => {
    await client.apply(ConfigMapType, {
      metadata: { name: "conflict", namespace: ns.name },
      data: { k: "ours" },
    });
    const other = newClient(testKubeConfig(), { fieldManager: "someone-else" });
    const err = await other
      .apply(ConfigMapType, {
        metadata: { name: "conflict", namespace: ns.name },
        data: { k: "theirs" },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).status?.code).toBe(409);
    const forced = await other.apply<ConfigMap>(
      ConfigMapType,
      { metadata: { name: "conflict", namespace: ns.name }, data: { k: "theirs" } },
      { force: true },
    );
    expect(forced.data?.k).toBe("theirs");
  });

  it("a stale resourceVersion in apply is ignored (applies are not conditional by accident)", async () => {
    const first = await client.apply<ConfigMap>(ConfigMapType, {
      metadata: { name: "rv", namespace: ns.name },
      data: { v: "1" },
    });
    await client.apply(ConfigMapType, {
      metadata: { name: "rv", namespace: ns.name },
      data: { v: "2" },
    });
    const third = await client.apply<ConfigMap>(ConfigMapType, { ...first, data: { v: "3" } });
    expect(third.data?.v).toBe("3");
  });

  it("writes the status subresource with server-side apply and with a merge patch", async () => {
    await client.apply(ServiceType, {
      metadata: { name: "svc", namespace: ns.name },
      spec: { ports: [{ port: 80, protocol: "TCP" }] },
    });
    const condition = {
      type: "Ready",
      status: "True",
      observedGeneration: 1,
      lastTransitionTime: "2026-01-01T00:00:00Z",
      reason: "Succeeded",
      message: "ok",
    };
    const applied = await client.applyStatus<KubeObject & { status?: { conditions?: unknown[] } }>(
      ServiceType,
      { metadata: { name: "svc", namespace: ns.name }, status: { conditions: [condition] } },
      { force: true },
    );
    expect(applied.status?.conditions).toEqual([condition]);
    // Status writes do not touch spec, and spec writes do not touch status.
    const patched = await client.mergePatchStatus<{
      spec?: { ports?: unknown[] };
      status?: { conditions?: unknown[] };
    }>(
      ServiceType,
      { namespace: ns.name, name: "svc" },
      { conditions: [{ ...condition, message: "patched" }] },
    );
    expect(patched.status?.conditions).toEqual([{ ...condition, message: "patched" }]);
    expect(patched.spec?.ports).toHaveLength(1);
    const read = await client.get<{ status?: { conditions?: { message: string }[] } }>(
      ServiceType,
      {
        namespace: ns.name,
        name: "svc",
      },
    );
    expect(read.status?.conditions?.[0]?.message).toBe("patched");
  });

  it("maps HTTP errors to typed errors", async () => {
    const missing = { namespace: ns.name, name: "missing" };
    await expect(client.get(ConfigMapType, missing)).rejects.toBeInstanceOf(NotFoundError);
    expect(await client.tryGet(ConfigMapType, missing)).toBeUndefined();
    expect(await client.delete(ConfigMapType, missing)).toBe(false);

    await client.create(ConfigMapType, { metadata: { name: "dup", namespace: ns.name } });
    const dup = await client
      .create(ConfigMapType, { metadata: { name: "dup", namespace: ns.name } })
      .catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ConflictError);
    expect((dup as ConflictError).status?.reason).toBe("AlreadyExists");

    const invalid = await client
      .apply(ConfigMapType, { metadata: { name: "Not_A_Valid_Name", namespace: ns.name } })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(TerminalError);
    expect((invalid as TerminalError).message).toMatch(/Not_A_Valid_Name/);

    const stale = await client.get<ConfigMap>(ConfigMapType, { namespace: ns.name, name: "dup" });
    await client.update(ConfigMapType, { ...stale, data: { x: "1" } });
    await expect(
      client.update(ConfigMapType, { ...stale, data: { x: "2" } }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it("lists every page and fills in apiVersion/kind", async () => {
    for (let i = 0; i < 7; i++) {
      await client.create(ConfigMapType, {
        metadata: { name: `page-${i}`, namespace: ns.name, labels: { page: "yes" } },
      });
    }
    const listed = await client.list(ConfigMapType, {
      namespace: ns.name,
      labelSelector: "page=yes",
      limit: 2,
    });
    expect(listed.items.map((i) => i.metadata.name).sort()).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`),
    );
    expect(listed.items.every((i) => i.kind === "ConfigMap" && i.apiVersion === "v1")).toBe(true);
    expect(Number(listed.resourceVersion)).toBeGreaterThan(0);
  });

  it("adds and removes a finalizer; deletion waits for it", async () => {
    const created = await client.create<ConfigMap>(ConfigMapType, {
      metadata: { name: "fin", namespace: ns.name },
    });
    const withFinalizer = await addFinalizer(
      client,
      ConfigMapType,
      created,
      "llmops.dev/finalizer",
    );
    expect(hasFinalizer(withFinalizer, "llmops.dev/finalizer")).toBe(true);
    // Idempotent: no second write, same object back.
    expect(await addFinalizer(client, ConfigMapType, withFinalizer, "llmops.dev/finalizer")).toBe(
      withFinalizer,
    );
    // A write based on a stale read is refused instead of dropping someone's finalizer.
    await expect(addFinalizer(client, ConfigMapType, created, "other.io/x")).rejects.toBeInstanceOf(
      ConflictError,
    );

    await client.delete(ConfigMapType, { namespace: ns.name, name: "fin" });
    const terminating = await client.get<ConfigMap>(ConfigMapType, {
      namespace: ns.name,
      name: "fin",
    });
    expect(isBeingDeleted(terminating)).toBe(true);
    await removeFinalizer(client, ConfigMapType, terminating, "llmops.dev/finalizer");
    expect(await client.tryGet(ConfigMapType, { namespace: ns.name, name: "fin" })).toBeUndefined();
  });

  it("children with a controller reference are garbage-collected with their owner", async () => {
    const owner = await client.create<ConfigMap>(ConfigMapType, {
      metadata: { name: "owner", namespace: ns.name },
    });
    await client.apply(
      ConfigMapType,
      withControllerReference(
        { metadata: { name: "child", namespace: ns.name }, data: { x: "1" } },
        owner,
      ),
    );
    const child = await client.get(ConfigMapType, { namespace: ns.name, name: "child" });
    expect(child.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "ConfigMap",
      name: "owner",
      controller: true,
    });
    await client.delete(ConfigMapType, { namespace: ns.name, name: "owner" });
    await eventually(
      "child garbage-collected",
      async () =>
        (await client.tryGet(ConfigMapType, { namespace: ns.name, name: "child" })) === undefined
          ? true
          : undefined,
      60_000,
    );
  });

  it("records Events and folds repeats into one Event with a series", async () => {
    const { logger, lines } = memoryLogger();
    let now = Date.parse("2026-03-01T10:00:00Z");
    const recorder = new EventRecorder({
      client,
      logger,
      controller: "llmops.dev/controller",
      instance: "test-instance",
      now: () => now,
    });
    const regarding = await client.create<ConfigMap>(ConfigMapType, {
      metadata: { name: "evented", namespace: ns.name },
    });
    const spec = {
      type: "Warning",
      reason: "InvalidTemplate",
      action: "Reconcile",
      note: "{{x}} is not declared",
    } as const;
    await recorder.record(regarding, spec);
    now += 1000;
    await recorder.record(regarding, spec);
    now += 1000;
    await recorder.record(regarding, spec);
    await recorder.record(regarding, {
      type: "Normal",
      reason: "Published",
      action: "Publish",
      note: "version 1",
    });

    const events = await client.list<{
      reason?: string;
      series?: { count: number };
      regarding?: { uid?: string };
    }>(EventType, { namespace: ns.name });
    const invalid = events.items.filter((e) => e.reason === "InvalidTemplate");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]?.series?.count).toBe(3);
    expect(invalid[0]?.regarding?.uid).toBe(regarding.metadata.uid);
    expect(events.items.filter((e) => e.reason === "Published")).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "could not record event")).toEqual([]);

    // And users see them with kubectl.
    const shown = await kubectl(["events", "-n", ns.name, "--for", "configmap/evented"]);
    expect(shown.stdout).toMatch(/InvalidTemplate/);
    expect(shown.stdout).toMatch(/Published/);
  });

  it("an Event that cannot be written is logged, never thrown", async () => {
    const { logger, lines } = memoryLogger();
    const recorder = new EventRecorder({
      client,
      logger,
      controller: "llmops.dev/controller",
      instance: "i",
      now: Date.now,
    });
    await recorder.record(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "x", namespace: "no-such-namespace-zz" },
      },
      { type: "Normal", reason: "Published", action: "Publish", note: "n" },
    );
    expect(lines.some((l) => l.msg === "could not record event")).toBe(true);
  });

  it("watches from a resourceVersion: changes arrive as ADDED/MODIFIED/DELETED, plus bookmarks", async () => {
    const start = await client.list(ConfigMapType, { namespace: ns.name });
    const watch = await client.watch(ConfigMapType, {
      namespace: ns.name,
      resourceVersion: start.resourceVersion,
      timeoutSeconds: 10,
    });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of watch) {
        const meta = event.object.metadata as { name?: string } | undefined;
        // kube-root-ca.crt is added to every new namespace by the controller-manager, at a
        // moment of its own choosing: only "w" is this test's object.
        if (event.type !== "BOOKMARK" && meta?.name === "w") seen.push(`${event.type} w`);
        if (event.type === "DELETED") break;
      }
    })();
    await client.create(ConfigMapType, { metadata: { name: "w", namespace: ns.name } });
    await client.apply(ConfigMapType, {
      metadata: { name: "w", namespace: ns.name },
      data: { a: "b" },
    });
    await client.delete(ConfigMapType, { namespace: ns.name, name: "w" });
    await reading;
    watch.close();
    expect(seen).toEqual(["ADDED w", "MODIFIED w", "DELETED w"]);
  });
});
