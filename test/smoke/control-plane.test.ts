// Proves the test control plane is a real Kubernetes: API server, controllers, scheduler, kwok nodes.
import {
  AppsV1Api,
  ApiextensionsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  VersionApi,
  Watch,
  setHeaderOptions,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { readVersions } from "../env/versions.js";
import { helm, kubectl, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually } from "../runtime/helpers.js";

const versions = readVersions();

describe("test control plane", () => {
  const ns = useTestNamespace("smoke");
  const kc = testKubeConfig();

  it("reports the pinned Kubernetes version", async () => {
    const info = await kc.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe(versions.K8S_VERSION);
    expect(info.major).toBe("1");
    expect(versions.K8S_VERSION).toMatch(new RegExp(`^v1\\.${info.minor}\\.`));
  });

  it("serves a CRD: create, watch, and patch the status subresource", async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const group = "smoke.llmops.dev";
    await ext
      .createCustomResourceDefinition({
        body: {
          metadata: { name: `widgets.${group}` },
          spec: {
            group,
            scope: "Namespaced",
            names: {
              plural: "widgets",
              singular: "widget",
              kind: "Widget",
              listKind: "WidgetList",
            },
            versions: [
              {
                name: "v1",
                served: true,
                storage: true,
                subresources: { status: {} },
                schema: {
                  openAPIV3Schema: {
                    type: "object",
                    properties: {
                      spec: { type: "object", properties: { size: { type: "integer" } } },
                      status: { type: "object", properties: { phase: { type: "string" } } },
                    },
                  },
                },
              },
            ],
          },
        },
      })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    await eventually("the Widget CRD to be Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      const established = crd.status?.conditions?.find((c) => c.type === "Established");
      return established?.status === "True" ? true : undefined;
    });

    const custom = kc.makeApiClient(CustomObjectsApi);
    const target = { group, version: "v1", namespace: ns.name, plural: "widgets" };
    // Established can be reported a moment before the new REST endpoint serves requests.
    await eventually("the Widget endpoint to serve", () =>
      custom
        .listNamespacedCustomObject(target)
        .then(() => true)
        .catch(() => undefined),
    );

    const seen: string[] = [];
    let watchError: unknown;
    const watch = new Watch(kc);
    const request = await watch.watch(
      `/apis/${group}/v1/namespaces/${ns.name}/widgets`,
      {},
      (phase: string, obj: KubernetesObject & { status?: { phase?: string } }) => {
        seen.push(`${phase}:${obj.metadata?.name ?? ""}:${obj.status?.phase ?? ""}`);
      },
      (err: unknown) => {
        watchError = err;
      },
    );
    try {
      await custom.createNamespacedCustomObject({
        ...target,
        body: {
          apiVersion: `${group}/v1`,
          kind: "Widget",
          metadata: { name: "w1" },
          spec: { size: 3 },
        },
      });
      await custom.patchNamespacedCustomObjectStatus(
        { ...target, name: "w1", body: { status: { phase: "Ready" }, spec: { size: 99 } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      const widget = (await custom.getNamespacedCustomObject({ ...target, name: "w1" })) as {
        spec: { size: number };
        status: { phase: string };
      };
      expect(widget.status.phase).toBe("Ready");
      // The status subresource ignores spec changes: proof it is a real subresource.
      expect(widget.spec.size).toBe(3);
      await eventually("the watch to see the status change", () => {
        if (watchError !== undefined) throw new Error("the watch ended", { cause: watchError });
        return Promise.resolve(seen.includes("MODIFIED:w1:Ready") ? true : undefined);
      });
      expect(seen[0]).toBe("ADDED:w1:");
    } finally {
      request.abort();
    }
  });

  it("schedules a Job on a fake node and runs it to Complete", async () => {
    const batch = kc.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace: ns.name,
      body: {
        metadata: { name: "hello" },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [{ name: "main", image: "busybox", command: ["true"] }],
            },
          },
        },
      },
    });
    const job = await eventually("the Job to complete", async () => {
      const current = await batch.readNamespacedJob({ name: "hello", namespace: ns.name });
      const done = current.status?.conditions?.find((c) => c.type === "Complete");
      return done?.status === "True" ? current : undefined;
    });
    expect(job.status?.succeeded).toBe(1);
    const pods = await kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: ns.name, labelSelector: "job-name=hello" });
    expect(pods.items[0]?.spec?.nodeName).toMatch(/^kwok-/);
    expect(pods.items[0]?.status?.phase).toBe("Succeeded");
  });

  it("places a pod asking for a GPU on the GPU node", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await eventually("the default ServiceAccount", async () =>
      core
        .readNamespacedServiceAccount({ name: "default", namespace: ns.name })
        .then(() => true)
        .catch(() => undefined),
    );
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: "trainer" },
        spec: {
          containers: [
            {
              name: "main",
              image: "trainer",
              resources: { limits: { "nvidia.com/gpu": "2" } },
            },
          ],
        },
      },
    });
    const pod = await eventually("the GPU pod to run", async () => {
      const current = await core.readNamespacedPod({ name: "trainer", namespace: ns.name });
      return current.status?.phase === "Running" ? current : undefined;
    });
    expect(pod.spec?.nodeName).toBe("kwok-gpu-0");
  });

  it("makes a Deployment Available", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "nginx" }] },
          },
        },
      },
    });
    const deployment = await eventually("the Deployment to be Available", async () => {
      const current = await apps.readNamespacedDeployment({ name: "web", namespace: ns.name });
      const available = current.status?.conditions?.find((c) => c.type === "Available");
      return available?.status === "True" ? current : undefined;
    });
    expect(deployment.status?.availableReplicas).toBe(2);
  });

  it("garbage-collects an owned ConfigMap when its owner is deleted", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const owner = await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: "owner" }, data: { role: "owner" } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: {
        metadata: {
          name: "owned",
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid ?? "" },
          ],
        },
        data: { role: "owned" },
      },
    });
    await core.deleteNamespacedConfigMap({ name: "owner", namespace: ns.name });
    await eventually("the owned ConfigMap to be collected", async () =>
      core
        .readNamespacedConfigMap({ name: "owned", namespace: ns.name })
        .then(() => undefined)
        .catch((err: unknown) => ((err as { code?: number }).code === 404 ? true : undefined)),
    );
  });

  it("runs the real kubectl and helm", async () => {
    const kubectlVersion = await kubectl(["version", "--output=json"]);
    expect(kubectlVersion.code, kubectlVersion.stderr).toBe(0);
    const parsed = JSON.parse(kubectlVersion.stdout) as {
      clientVersion: { minor: string };
      serverVersion: { gitVersion: string };
    };
    expect(parsed.serverVersion.gitVersion).toBe(versions.K8S_VERSION);
    expect(parsed.clientVersion.minor).toBe("34");

    const nodes = await kubectl(["get", "nodes", "-o", "name"]);
    expect(nodes.stdout.split("\n").filter(Boolean)).toEqual(
      expect.arrayContaining(["node/kwok-cpu-0", "node/kwok-gpu-0"]),
    );

    const helmVersion = await helm(["version", "--short"]);
    expect(helmVersion.code, helmVersion.stderr).toBe(0);
    expect(helmVersion.stdout).toMatch(/^v\d+\.\d+\.\d+/);
  });
});
