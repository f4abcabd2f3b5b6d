// The manager end to end against the real control plane, with a small controller written the
// way the real ones are: Services are the primary kind, each gets an owned ConfigMap listing its
// ports, a kstatus Ready condition and an Event. Then: probes and metrics, graceful shutdown,
// and two managers with leader election.
import { afterEach, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { withControllerReference } from "../../controller/kube/owner-references.js";
import {
  ConfigMapType,
  type KubeObject,
  type ResourceType,
  type StoredObject,
} from "../../controller/kube/resources.js";
import {
  type Condition,
  conditionTime,
  statusChanged,
  summarize,
} from "../../controller/runtime/conditions.js";
import { startProbeServer } from "../../controller/runtime/http-server.js";
import { Manager, type ManagerOptions } from "../../controller/runtime/manager.js";
import { RuntimeMetrics } from "../../controller/runtime/metrics.js";
import type { ControllerSetup } from "../../controller/runtime/registry.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "./helpers.js";

const ServiceType: ResourceType = {
  apiVersion: "v1",
  kind: "Service",
  plural: "services",
  namespaced: true,
};

type Service = StoredObject<
  KubeObject & {
    spec?: { ports?: { port: number }[] };
    status?: { conditions?: Condition[] };
  }
>;

interface Probe {
  reconciles: string[];
  /** Keys whose reconcile waits until released. */
  gates: Map<string, Promise<void>>;
}

/** A controller of the real shape: read from cache → act with SSA → summarize → write status if changed. */
function servicePortsController(probe: Probe): ControllerSetup {
  return ({ client, cache, events, clock }) => ({
    name: "Service",
    type: ServiceType,
    owns: [ConfigMapType],
    concurrency: 2,
    reconcile: async (request, { log }) => {
      probe.reconciles.push(`${request.namespace}/${request.name}`);
      await probe.gates.get(`${request.namespace}/${request.name}`);
      const service = cache.get<Service>(ServiceType, request);
      if (service === undefined) return undefined;
      const ports = (service.spec?.ports ?? []).map((p) => p.port);
      await client.apply(
        ConfigMapType,
        withControllerReference(
          {
            metadata: { name: `${request.name}-ports`, namespace: request.namespace },
            data: { ports: JSON.stringify(ports) },
          },
          service,
        ),
        { force: true },
      );
      const next = summarize({
        previous: service.status?.conditions,
        previousObservedGeneration: undefined,
        generation: service.metadata.generation ?? 1,
        outcome: { state: "Ready", reason: "PortsPublished", message: `ports ${ports.join(",")}` },
        now: conditionTime(clock.now()),
      });
      if (
        statusChanged({ conditions: service.status?.conditions }, { conditions: next.conditions })
      ) {
        await client.applyStatus(
          ServiceType,
          {
            metadata: { name: request.name, namespace: request.namespace },
            status: { conditions: next.conditions },
          },
          { force: true },
        );
        await events.record(service, {
          type: "Normal",
          reason: "PortsPublished",
          action: "Reconcile",
          note: `ports ${ports.join(",")}`,
        });
        log.info("status written");
      }
      return undefined;
    },
  });
}

describe("Manager against the real apiserver", () => {
  const ns = useTestNamespace("manager");
  const client: KubeClient = newClient(testKubeConfig());
  const running: { stop: AbortController; done: Promise<unknown> }[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.stop.abort();
      await r.done;
    }
  });

  function startManager(
    probe: Probe,
    options: Partial<ManagerOptions> = {},
    beforeRun: (manager: Manager) => void = () => undefined,
  ) {
    const { logger, lines } = memoryLogger();
    const managerClient = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    const manager = new Manager({
      client: managerClient,
      logger,
      metrics: new RuntimeMetrics(),
      namespaces: [ns.name],
      ...options,
    });
    manager.add(servicePortsController(probe));
    beforeRun(manager);
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    running.push({ stop, done });
    return { manager, stop, done, lines };
  }

  const newProbe = (): Probe => ({ reconciles: [], gates: new Map() });

  const applyService = (name: string, port: number) =>
    client.apply(ServiceType, {
      metadata: { name, namespace: ns.name },
      spec: { ports: [{ port, protocol: "TCP" }] },
    });

  const portsOf = async (name: string): Promise<string | undefined> =>
    (
      await client.tryGet<KubeObject & { data?: Record<string, string> }>(ConfigMapType, {
        namespace: ns.name,
        name: `${name}-ports`,
      })
    )?.data?.ports;

  it("reconciles: owned child, status, events; re-creates a deleted child; serves probes and metrics", async () => {
    await applyService("web", 80);
    const probe = newProbe();
    const { manager } = startManager(probe);
    const probes = await startProbeServer({
      address: "127.0.0.1:0",
      metrics: manager.metrics,
      health: manager,
      logger: memoryLogger().logger,
    });
    try {
      await eventually("child ConfigMap", async () =>
        (await portsOf("web")) === "[80]" ? true : undefined,
      );
      const child = await client.get(ConfigMapType, { namespace: ns.name, name: "web-ports" });
      expect(child.metadata.ownerReferences?.[0]).toMatchObject({
        kind: "Service",
        name: "web",
        controller: true,
      });
      const service = await eventually("Ready condition", async () => {
        const s = await client.get<Service>(ServiceType, { namespace: ns.name, name: "web" });
        return s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true
          ? s
          : undefined;
      });
      expect(service.status?.conditions?.[0]).toMatchObject({
        reason: "PortsPublished",
        message: "ports 80",
      });

      await applyService("web", 8080);
      await eventually("child follows the spec", async () =>
        (await portsOf("web")) === "[8080]" ? true : undefined,
      );

      // Deleting the owned child enqueues its owner, which puts it back.
      await client.delete(ConfigMapType, { namespace: ns.name, name: "web-ports" });
      await eventually("child re-created", async () =>
        (await portsOf("web")) === "[8080]" ? true : undefined,
      );

      const readyz = await fetch(`${probes?.url ?? ""}/readyz`);
      expect(readyz.status).toBe(200);
      expect((await fetch(`${probes?.url ?? ""}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${probes?.url ?? ""}/metrics`)).text();
      expect(metrics).toMatch(/llmops_reconcile_total\{kind="Service",result="success"\} [1-9]/);
      expect(metrics).toMatch(
        /llmops_reconcile_duration_seconds_bucket\{le="[^"]+",kind="Service"\}/,
      );
      expect(metrics).toMatch(/llmops_workqueue_depth\{kind="Service"\} \d/);
      expect(metrics).toMatch(/llmops_leader 1/);
      expect(metrics).toMatch(/process_resident_memory_bytes/);
      expect((await fetch(`${probes?.url ?? ""}/nope`)).status).toBe(404);

      const events = await client.list<KubeObject & { reason?: string }>(
        { apiVersion: "events.k8s.io/v1", kind: "Event", plural: "events", namespaced: true },
        { namespace: ns.name },
      );
      expect(events.items.some((e) => e.reason === "PortsPublished")).toBe(true);
    } finally {
      await probes?.close();
    }
  });

  it("graceful shutdown: stops taking work, waits for the reconcile in flight", async () => {
    const probe = newProbe();
    let release: () => void = () => undefined;
    probe.gates.set(`${ns.name}/slow`, new Promise<void>((resolve) => (release = resolve)));
    await applyService("slow", 80);
    const { stop, done, manager } = startManager(probe);
    await eventually("slow reconcile started", () =>
      probe.reconciles.includes(`${ns.name}/slow`) ? true : undefined,
    );
    expect(manager.isReady()).toBe(true);

    stop.abort();
    let finished = false;
    void done.then(() => (finished = true));
    // Work arriving after the stop is not taken: once the informer has delivered "late" (it is in
    // the cache, so its handler has run), the key has been offered to a queue that is shutting down.
    await applyService("late", 81);
    await eventually("the informer saw late", () =>
      manager.cache.get(ServiceType, { namespace: ns.name, name: "late" }) !== undefined
        ? true
        : undefined,
    );
    expect(finished).toBe(false);
    release();
    expect(await done).toBe("stopped");
    // The in-flight reconcile completed its writes; nothing new was started.
    expect(await portsOf("slow")).toBe("[80]");
    expect(probe.reconciles).not.toContain(`${ns.name}/late`);
    expect(manager.isReady()).toBe(false);
  });

  it("with leader election only the leader reconciles; a clean stop hands over at once", async () => {
    const election = {
      namespace: ns.name,
      name: "llmops-controller",
      leaseDurationMs: 60_000,
      renewDeadlineMs: 30_000,
      retryPeriodMs: 300,
    };
    const probeA = newProbe();
    const a = startManager(probeA, { leaderElection: { ...election, identity: "replica-a" } });
    await eventually("a leads", () => (a.manager.isLeader() ? true : undefined));
    const probeB = newProbe();
    const b = startManager(probeB, { leaderElection: { ...election, identity: "replica-b" } });
    // A standby is ready (it must not block a rolling update) but does nothing.
    await eventually("b running", () => (b.manager.isReady() ? true : undefined));
    expect(b.manager.isLeader()).toBe(false);

    await applyService("one", 80);
    await eventually("a reconciled one", () =>
      probeA.reconciles.includes(`${ns.name}/one`) ? true : undefined,
    );
    // A standby runs no informers or workers, so there is no event to wait for. One second is over
    // three of b's retry periods (300 ms) and far longer than a took to list and reconcile "one":
    // a b that wrongly led or started workers would have reconciled "one" by now.
    await new Promise((r) => setTimeout(r, 1000));
    expect(probeB.reconciles).toEqual([]);
    expect(await b.manager.metrics.registry.getSingleMetricAsString("llmops_leader")).toMatch(
      /llmops_leader 0/,
    );

    a.stop.abort();
    expect(await a.done).toBe("stopped");
    // The lease is 60 s long: taking over now proves a released it.
    await eventually("b leads", () => (b.manager.isLeader() ? true : undefined), 15_000);
    await applyService("two", 81);
    await eventually("b reconciled two", () =>
      probeB.reconciles.includes(`${ns.name}/two`) ? true : undefined,
    );
    // b starts from a full list, so it also reconciles what a had handled.
    expect(probeB.reconciles).toContain(`${ns.name}/one`);
    expect(probeA.reconciles).not.toContain(`${ns.name}/two`);
  });

  it("shared informers run on a standby too, and a new leader's controllers read the same cache", async () => {
    const election = {
      namespace: ns.name,
      name: "llmops-shared",
      leaseDurationMs: 60_000,
      renewDeadlineMs: 30_000,
      retryPeriodMs: 300,
    };
    const a = startManager(newProbe(), { leaderElection: { ...election, identity: "replica-a" } });
    await eventually("a leads", () => (a.manager.isLeader() ? true : undefined));
    const probeB = newProbe();
    let shared: ReturnType<Manager["sharedInformers"]> = [];
    const b = startManager(
      probeB,
      { leaderElection: { ...election, identity: "replica-b" } },
      (manager) => {
        shared = manager.sharedInformers(ServiceType);
      },
    );
    await applyService("seen-by-standby", 80);
    // The standby's shared cache follows the cluster although it reconciles nothing.
    await eventually("the standby's cache has it", () =>
      shared.some((i) => i.get(`${ns.name}/seen-by-standby`) !== undefined) ? true : undefined,
    );
    expect(b.manager.isLeader()).toBe(false);
    expect(probeB.reconciles).toEqual([]);

    a.stop.abort();
    await a.done;
    await eventually("b leads", () => (b.manager.isLeader() ? true : undefined), 15_000);
    // The term starts from the shared cache: every object is replayed as an add.
    await eventually("b reconciled what was cached", () =>
      probeB.reconciles.includes(`${ns.name}/seen-by-standby`) ? true : undefined,
    );
    expect(b.manager.cache.get(ServiceType, { namespace: ns.name, name: "seen-by-standby" })).toBe(
      shared[0]?.get(`${ns.name}/seen-by-standby`),
    );
    await applyService("after", 81);
    await eventually("b reconciled a new one", () =>
      probeB.reconciles.includes(`${ns.name}/after`) ? true : undefined,
    );
  });
});
