// The operators' GPU table override, read from a real ConfigMap on the real control plane on
// every call (as the LLM price table is): missing is the defaults, a change applies without a
// restart, a bad override is a GpuTableError naming the ConfigMap, key and field.
import { beforeAll, describe, expect, it } from "vitest";
import {
  GpuTableError,
  currentGpuTable,
  defaultGpuTable,
} from "../../controller/backends/training/gpu-table.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType } from "../../controller/kube/resources.js";
import { newClient } from "../runtime/helpers.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";

describe("currentGpuTable", () => {
  const ns = useTestNamespace("gpus");
  let client: KubeClient;
  beforeAll(() => {
    client = newClient(testKubeConfig());
  });
  const write = (data: Record<string, string>) =>
    client.apply(ConfigMapType, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "gpus", namespace: ns.name },
      data,
    });

  it("no ConfigMap, or no key: the defaults; then each call reads the current override", async () => {
    const base = defaultGpuTable();
    const ref = { namespace: ns.name, name: "gpus" };
    expect(await currentGpuTable(client, base, undefined)).toBe(base);
    expect(await currentGpuTable(client, base, ref)).toBe(base);
    await write({ "other.yaml": "gpus: {}" });
    expect(await currentGpuTable(client, base, ref)).toBe(base);

    await write({
      "gpus.yaml": [
        "gpus:",
        "  nvidia-a10g: { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 0.75 }",
        "huggingFaceJobsFlavors:",
        "  t4-small: null",
      ].join("\n"),
    });
    const first = await currentGpuTable(client, base, ref);
    expect(first.gpus["nvidia-a10g"]?.pricePerHourUSD).toBe(0.75);
    expect(first.huggingFaceJobsFlavors["t4-small"]).toBeUndefined();
    expect(first.gpus["nvidia-h100-80gb"]).toEqual(base.gpus["nvidia-h100-80gb"]);

    await write({ "gpus.yaml": "auto: { largeModelBillions: 30 }" });
    const second = await currentGpuTable(client, base, ref);
    expect(second.auto.largeModelBillions).toBe(30);
    expect(second.gpus["nvidia-a10g"]?.pricePerHourUSD).toBe(1.01);
  });

  it("another key; a bad override names the ConfigMap, key and field", async () => {
    await write({
      "table.yaml":
        "gpus: { nvidia-l4: { memoryGiB: 24, relativeThroughput: 0.8, pricePerHourUSD: 0.7 } }",
      "gpus.yaml":
        "gpus: { nvidia-l4: { memoryGiB: -1, relativeThroughput: 1, pricePerHourUSD: 1 } }",
    });
    const other = await currentGpuTable(client, defaultGpuTable(), {
      namespace: ns.name,
      name: "gpus",
      key: "table.yaml",
    });
    expect(other.gpus["nvidia-l4"]?.pricePerHourUSD).toBe(0.7);
    await expect(
      currentGpuTable(client, defaultGpuTable(), { namespace: ns.name, name: "gpus" }),
    ).rejects.toThrow(
      new GpuTableError(
        `configmap/${ns.name}/gpus key gpus.yaml: gpus.nvidia-l4.memoryGiB must be a positive number of GiB per GPU`,
      ),
    );
  });
});
