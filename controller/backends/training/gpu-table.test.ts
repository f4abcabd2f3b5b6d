import { describe, expect, it } from "vitest";
import {
  GpuTableError,
  defaultGpuTable,
  mergeGpuTables,
  parseGpuTable,
  resolveGpuType,
} from "./gpu-table.js";

const source = "configmap/llmops-system/gpus key gpus.yaml";

describe("defaultGpuTable", () => {
  const table = defaultGpuTable();

  it.each([
    // Hugging Face's published hourly prices (https://huggingface.co/docs/hub/jobs-pricing).
    { flavor: "t4-small", gpuType: "nvidia-t4", gpuCount: 1, price: 0.4 },
    { flavor: "l4x1", gpuType: "nvidia-l4", gpuCount: 1, price: 0.8 },
    { flavor: "a10g-small", gpuType: "nvidia-a10g", gpuCount: 1, price: 1 },
    { flavor: "a10g-large", gpuType: "nvidia-a10g", gpuCount: 1, price: 1.5 },
    { flavor: "a10g-largex2", gpuType: "nvidia-a10g", gpuCount: 2, price: 3 },
    { flavor: "l40sx1", gpuType: "nvidia-l40s", gpuCount: 1, price: 1.8 },
    { flavor: "a100-large", gpuType: "nvidia-a100-80gb", gpuCount: 1, price: 2.5 },
    { flavor: "a100x4", gpuType: "nvidia-a100-80gb", gpuCount: 4, price: 10 },
    { flavor: "h200", gpuType: "nvidia-h200", gpuCount: 1, price: 5 },
    { flavor: "h200x2", gpuType: "nvidia-h200", gpuCount: 2, price: 10 },
    { flavor: "h200x8", gpuType: "nvidia-h200", gpuCount: 8, price: 40 },
    { flavor: "a10g-largex4", gpuType: "nvidia-a10g", gpuCount: 4, price: 5 },
    { flavor: "l40sx8", gpuType: "nvidia-l40s", gpuCount: 8, price: 23.5 },
    { flavor: "cpu-basic", gpuType: "cpu", gpuCount: 1, price: 0.01 },
  ])("Hugging Face Jobs $flavor: $gpuCount × $gpuType at $$price/h", (row) => {
    expect(table.huggingFaceJobsFlavors[row.flavor]).toEqual({
      gpuType: row.gpuType,
      gpuCount: row.gpuCount,
      pricePerHourUSD: row.price,
    });
  });

  it.each([
    { type: "nvidia-a10g", memoryGiB: 24 },
    { type: "nvidia-l4", memoryGiB: 24 },
    { type: "nvidia-a100-80gb", memoryGiB: 80 },
    { type: "nvidia-h100-80gb", memoryGiB: 80 },
    { type: "nvidia-h200", memoryGiB: 141 },
  ])("$type has $memoryGiB GiB and a cluster price", ({ type, memoryGiB }) => {
    expect(table.gpus[type]?.memoryGiB).toBe(memoryGiB);
    expect(table.gpus[type]?.pricePerHourUSD).toBeGreaterThan(0);
  });

  it("the local backend's cpu costs nothing", () => {
    expect(table.gpus.cpu?.pricePerHourUSD).toBe(0);
  });

  it("auto: A10G below 13B; H100 on a cluster and A100/H200 on Hugging Face Jobs above", () => {
    expect(table.auto.largeModelBillions).toBe(13);
    expect(table.auto.kubernetes).toEqual({
      small: ["nvidia-a10g"],
      large: ["nvidia-h100-80gb"],
    });
    expect(table.auto.huggingFaceJobs.large).toContain("h200");
    expect(table.auto.huggingFaceJobs.large).toContain("a100-large");
  });

  it("is internally consistent (every flavor's GPU and every auto candidate exists)", () => {
    expect(mergeGpuTables(table, {}, "defaults")).toEqual(table);
  });

  it("is a fresh copy each call", () => {
    const a = defaultGpuTable();
    (a.gpus as Record<string, unknown>)["nvidia-a10g"] = undefined;
    expect(defaultGpuTable().gpus["nvidia-a10g"]).toBeDefined();
  });
});

describe("resolveGpuType", () => {
  const table = defaultGpuTable();
  it.each([
    { name: "nvidia-a10g", want: "nvidia-a10g" },
    { name: "nvidia-h100", want: "nvidia-h100-80gb" },
    { name: "nvidia-a100", want: "nvidia-a100-80gb" },
    { name: "nvidia-b200", want: undefined },
  ])("$name → $want", ({ name, want }) => {
    expect(resolveGpuType(table, name)).toBe(want);
  });
});

describe("parseGpuTable", () => {
  it("reads every section; null removes an entry", () => {
    const override = parseGpuTable(
      [
        "gpus:",
        "  nvidia-a10g: { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 0.75 }",
        "  nvidia-t4: null",
        "huggingFaceJobsFlavors:",
        "  t4-small: null",
        "  a10g-small: { gpuType: nvidia-a10g, gpuCount: 1, pricePerHourUSD: 1.05 }",
        "auto:",
        "  largeModelBillions: 20",
        "  kubernetes: { small: [nvidia-l4] }",
      ].join("\n"),
      source,
    );
    expect(override).toEqual({
      gpus: {
        "nvidia-a10g": { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 0.75 },
        "nvidia-t4": null,
      },
      huggingFaceJobsFlavors: {
        "t4-small": null,
        "a10g-small": { gpuType: "nvidia-a10g", gpuCount: 1, pricePerHourUSD: 1.05 },
      },
      auto: { largeModelBillions: 20, kubernetes: { small: ["nvidia-l4"] } },
    });
  });

  it("takes JSON, and an empty document is no override", () => {
    expect(parseGpuTable('{"gpus": {}}', source)).toEqual({ gpus: {} });
    expect(parseGpuTable("", source)).toEqual({});
  });

  it.each([
    { text: "gpus: [", want: `${source}: not valid YAML or JSON` },
    {
      text: "- a",
      want: `${source}: expected a map with gpus, huggingFaceJobsFlavors and auto, got object`,
    },
    {
      text: "prices: {}",
      want: `${source}: the table has unknown field prices; use gpus, huggingFaceJobsFlavors, auto`,
    },
    {
      text: "gpus: [nvidia-a10g]",
      want: `${source}: gpus must be a map of name → { memoryGiB, relativeThroughput, pricePerHourUSD }`,
    },
    {
      text: "gpus: { nvidia-a10g: 1.0 }",
      want: `${source}: gpus.nvidia-a10g must be { memoryGiB, relativeThroughput, pricePerHourUSD } or null`,
    },
    {
      text: "gpus: { x: { memoryGiB: 0, relativeThroughput: 1, pricePerHourUSD: 1 } }",
      want: `${source}: gpus.x.memoryGiB must be a positive number of GiB per GPU`,
    },
    {
      text: "gpus: { x: { memoryGiB: 24, pricePerHourUSD: 1 } }",
      want: `${source}: gpus.x.relativeThroughput must be a positive number (an NVIDIA A10G is 1)`,
    },
    {
      text: "gpus: { x: { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: -1 } }",
      want: `${source}: gpus.x.pricePerHourUSD must be a non-negative number of USD per GPU-hour`,
    },
    {
      text: "gpus: { x: { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 1, price: 2 } }",
      want: `${source}: gpus.x has unknown field price; use memoryGiB, relativeThroughput, pricePerHourUSD`,
    },
    {
      text: "huggingFaceJobsFlavors: { f: { gpuCount: 1, pricePerHourUSD: 1 } }",
      want: `${source}: huggingFaceJobsFlavors.f.gpuType must name an entry of gpus`,
    },
    {
      text: "huggingFaceJobsFlavors: { f: { gpuType: cpu, gpuCount: 1.5, pricePerHourUSD: 1 } }",
      want: `${source}: huggingFaceJobsFlavors.f.gpuCount must be a whole number of GPUs, at least 1`,
    },
    {
      text: "auto: { kubernetes: { small: nvidia-a10g } }",
      want: `${source}: auto.kubernetes.small must be a list of names`,
    },
    {
      text: "auto: { kubernetes: { medium: [] } }",
      want: `${source}: auto.kubernetes has unknown field medium; use small, large`,
    },
    {
      text: "auto: { largeModelBillions: big }",
      want: `${source}: auto.largeModelBillions must be a non-negative number of billions of parameters`,
    },
  ])("$want", ({ text, want }) => {
    expect(() => parseGpuTable(text, source)).toThrow(new GpuTableError(want));
  });
});

describe("mergeGpuTables", () => {
  const base = defaultGpuTable();

  it("entries replace, null entries delete, auto fields replace one by one", () => {
    const merged = mergeGpuTables(
      base,
      {
        gpus: {
          "nvidia-a10g": { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 0.75 },
          "nvidia-b200": { memoryGiB: 180, relativeThroughput: 14, pricePerHourUSD: 12 },
        },
        huggingFaceJobsFlavors: { "t4-small": null },
        auto: { kubernetes: { large: ["nvidia-b200"] } },
      },
      source,
    );
    expect(merged.gpus["nvidia-a10g"]?.pricePerHourUSD).toBe(0.75);
    expect(merged.gpus["nvidia-b200"]?.memoryGiB).toBe(180);
    expect(merged.gpus["nvidia-l4"]).toEqual(base.gpus["nvidia-l4"]);
    expect(merged.huggingFaceJobsFlavors["t4-small"]).toBeUndefined();
    expect(merged.auto.kubernetes).toEqual({ small: ["nvidia-a10g"], large: ["nvidia-b200"] });
    expect(merged.auto.largeModelBillions).toBe(13);
    expect(base.gpus["nvidia-a10g"]?.pricePerHourUSD).toBe(1.01);
  });

  it.each([
    {
      name: "a flavor whose GPU was removed",
      override: { gpus: { "nvidia-t4": null } },
      want: `${source}: huggingFaceJobsFlavors.t4-small.gpuType nvidia-t4 is not in gpus; add it under gpus or remove the flavor (t4-small: null)`,
    },
    {
      name: "an auto GPU that is not in gpus",
      override: { auto: { kubernetes: { small: ["nvidia-b200"] } } },
      want: `${source}: auto.kubernetes.small names nvidia-b200, which is not in gpus; add it under gpus or name another type`,
    },
    {
      name: "an auto flavor that was removed",
      override: { huggingFaceJobsFlavors: { h200: null } },
      want: `${source}: auto.huggingFaceJobs.large names h200, which is not in huggingFaceJobsFlavors; add it there or name another flavor`,
    },
  ])("refuses $name", ({ override, want }) => {
    expect(() => mergeGpuTables(base, override, source)).toThrow(new GpuTableError(want));
  });
});
