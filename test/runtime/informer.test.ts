// The informer against the real apiserver: list+watch, a frozen cache, recovery from cut and
// from silently stalled connections (through a TCP forwarder that breaks them), periodic relist.
import { afterEach, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, type StoredObject } from "../../controller/kube/resources.js";
import { systemClock } from "../../controller/runtime/clock.js";
import { Informer, type InformerOptions } from "../../controller/runtime/informer.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "./helpers.js";
import { TcpProxy, serverAddress } from "./tcp-proxy.js";

type Seen = string[];

// Every namespace also gets kube-root-ca.crt; the informers watch only what the tests create.
const labels = { "llmops.dev/test-object": "informer" };

function record(seen: Seen) {
  const data = (obj: StoredObject): string => JSON.stringify(obj.data ?? {});
  return {
    onAdd: (obj: StoredObject) => seen.push(`add ${obj.metadata.name} ${data(obj)}`),
    onUpdate: (old: StoredObject, obj: StoredObject) =>
      seen.push(
        old === obj ? `resync ${obj.metadata.name}` : `update ${obj.metadata.name} ${data(obj)}`,
      ),
    onDelete: (obj: StoredObject) => seen.push(`delete ${obj.metadata.name}`),
  };
}

describe("Informer against the real apiserver", () => {
  const ns = useTestNamespace("informer");
  const direct: KubeClient = newClient(testKubeConfig());
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function startInformer(client: KubeClient, options: Partial<InformerOptions> = {}) {
    const { logger, lines } = memoryLogger();
    const informer = new Informer({
      client,
      type: ConfigMapType,
      namespace: ns.name,
      labelSelector: "llmops.dev/test-object=informer",
      clock: systemClock(),
      logger,
      ...options,
    });
    const seen: Seen = [];
    informer.addHandlers(record(seen));
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    cleanups.push(async () => {
      stop.abort();
      await running;
    });
    return { informer, seen, lines, stop, running };
  }

  it("lists, then sees create, update and delete; the cache holds frozen objects", async () => {
    await direct.apply(ConfigMapType, {
      metadata: { labels, name: "before", namespace: ns.name },
      data: { v: "0" },
    });
    const { informer, seen, lines } = startInformer(direct);
    // A handler that throws must not stop the informer or the other handlers.
    informer.addHandlers({
      onAdd: () => {
        throw new Error("handler bug");
      },
    });
    await informer.waitForSync();
    expect(informer.hasSynced()).toBe(true);
    expect(seen).toEqual(['add before {"v":"0"}']);

    await direct.apply(ConfigMapType, {
      metadata: { labels, name: "a", namespace: ns.name },
      data: { v: "1" },
    });
    await direct.apply(ConfigMapType, {
      metadata: { labels, name: "a", namespace: ns.name },
      data: { v: "2" },
    });
    await eventually("update of a", () => (seen.includes('update a {"v":"2"}') ? true : undefined));
    const cached = informer.get(`${ns.name}/a`);
    expect(cached?.data).toEqual({ v: "2" });
    expect(cached?.kind).toBe("ConfigMap");
    expect(Object.isFrozen(cached)).toBe(true);
    expect(Object.isFrozen(cached?.metadata)).toBe(true);
    expect(cached?.metadata.managedFields).toBeUndefined();
    expect(() => {
      (cached as unknown as { data: Record<string, string> }).data.v = "mutated";
    }).toThrow(TypeError);

    await direct.delete(ConfigMapType, { namespace: ns.name, name: "a" });
    await eventually("delete of a", () => (seen.includes("delete a") ? true : undefined));
    expect(informer.get(`${ns.name}/a`)).toBeUndefined();
    expect(seen).toEqual([
      'add before {"v":"0"}',
      'add a {"v":"1"}',
      'update a {"v":"2"}',
      "delete a",
    ]);
    expect(lines.some((l) => l.msg === "informer handler threw; ignored")).toBe(true);
    expect(informer.stats.lists).toBe(1);
  });

  it("recovers when its connections are reset, resuming from its resourceVersion", async () => {
    const proxy = await TcpProxy.start(serverAddress(testKubeConfig()));
    cleanups.push(() => proxy.close());
    const viaProxy = newClient(proxy.kubeConfigThrough(testKubeConfig()));
    cleanups.push(() => viaProxy.close());
    const { informer, seen } = startInformer(viaProxy, { backoffBaseMs: 50 });
    await informer.waitForSync();
    await eventually("watch open", () =>
      informer.stats.watches > 0 && proxy.connections > 0 ? true : undefined,
    );

    proxy.cut();
    // Changed while the informer has no connection: it must still learn about it.
    await direct.apply(ConfigMapType, {
      metadata: { labels, name: "during", namespace: ns.name },
      data: { v: "1" },
    });
    await eventually(
      "object created during the outage",
      () => informer.get(`${ns.name}/during`),
      60_000,
    );
    expect(informer.stats.restarts).toBeGreaterThanOrEqual(1);
    // Resumed the watch from the last resourceVersion: no relist was needed.
    expect(informer.stats.lists).toBe(1);

    await direct.apply(ConfigMapType, {
      metadata: { labels, name: "during", namespace: ns.name },
      data: { v: "2" },
    });
    await eventually("later change", () =>
      seen.includes('update during {"v":"2"}') ? true : undefined,
    );
  });

  it("replaces a watch that went silent without closing (staleness watchdog)", async () => {
    const proxy = await TcpProxy.start(serverAddress(testKubeConfig()));
    cleanups.push(() => proxy.close());
    const viaProxy = newClient(proxy.kubeConfigThrough(testKubeConfig()), {
      requestTimeoutMs: 3000,
    });
    cleanups.push(() => viaProxy.close());
    const { informer, seen } = startInformer(viaProxy, {
      staleAfterMs: 2000,
      backoffBaseMs: 50,
      backoffMaxMs: 500,
    });
    await informer.waitForSync();
    await eventually("watch open", () =>
      informer.stats.watches > 0 && proxy.connections > 0 ? true : undefined,
    );

    // Every open connection now stays up but carries nothing — the case a plain watch never notices.
    proxy.freeze();
    await direct.apply(ConfigMapType, { metadata: { labels, name: "unseen", namespace: ns.name } });
    await eventually(
      "object created behind a frozen connection",
      () => informer.get(`${ns.name}/unseen`),
      60_000,
    );
    expect(informer.stats.staleRestarts).toBeGreaterThanOrEqual(1);
    expect(seen).toContain("add unseen {}");
  });

  it("relists periodically: every object is redelivered, a deleted one is not resurrected", async () => {
    await direct.apply(ConfigMapType, { metadata: { labels, name: "one", namespace: ns.name } });
    const { informer, seen } = startInformer(direct, { resyncMs: 1000 });
    await informer.waitForSync();
    await eventually("a resync", () => (seen.includes("resync one") ? true : undefined));
    expect(informer.stats.lists).toBeGreaterThanOrEqual(2);
    await direct.delete(ConfigMapType, { namespace: ns.name, name: "one" });
    await eventually("delete", () => (seen.includes("delete one") ? true : undefined));
    // Deleted once, never resurrected by a later relist.
    await eventually("another resync after the delete", () =>
      informer.stats.lists >= 4 ? true : undefined,
    );
    expect(seen.filter((s) => s === "delete one")).toHaveLength(1);
    expect(informer.get(`${ns.name}/one`)).toBeUndefined();
  });
});
