import { describe, expect, it } from "vitest";
import type { TrainingJobSpec } from "../../api/generated/index.js";
import {
  TrainingEstimateError,
  datasetTokens,
  estimateInputFor,
  estimateTraining,
  type TrainingEstimateInput,
} from "./estimate.js";
import { defaultGpuTable, mergeGpuTables } from "./gpu-table.js";

const table = defaultGpuTable();

/** 7.6B (Qwen2.5-7B) LoRA r16 SFT, 2 epochs × 10M tokens at 2,048 tokens, batch 4, on a cluster. */
const lora7b: TrainingEstimateInput = {
  parametersBillions: 7.6,
  method: "sft",
  lora: { rank: 16, quantization: "none" },
  maxSeqLength: 2048,
  batchSize: 4,
  dataset: { tokens: 10_000_000 },
  epochs: 2,
  backend: "kubernetes",
  gpu: { type: "auto", count: "auto" },
};
const full70b: TrainingEstimateInput = { ...lora7b, parametersBillions: 70, lora: null };

function estimateError(input: TrainingEstimateInput): TrainingEstimateError {
  try {
    estimateTraining(table, input);
  } catch (err: unknown) {
    if (err instanceof TrainingEstimateError) return err;
    throw err;
  }
  throw new Error("expected a TrainingEstimateError");
}

describe("estimateTraining: the worked examples", () => {
  it("7.6B LoRA SFT, 2 × 10M tokens → 1 × A10G, 5.83 h, $5.89", () => {
    // Memory: 7.6e9 × 2 B (bf16 base) + 7.6e9 × 0.00033 × 16 adapters × 16 B = 14.75 GiB, plus
    // activations 0.1 × 8.192k tokens × √7.6 = 2.26 GiB and 1.5 GiB overhead = 18.5 GiB ≤ 24.
    // Time: 4 × 7.6e9 × 10M × 2 FLOPs ÷ 30 TFLOP/s = 5.63 h, + 0.2 h start-up.
    const estimate = estimateTraining(table, lora7b);
    expect(estimate).toMatchObject({
      gpuType: "nvidia-a10g",
      gpuCount: 1,
      hours: 5.83,
      costUSD: 5.89,
      pricePerHourUSD: 1.01,
      memoryGiB: 18.5,
      datasetTokens: 10_000_000,
    });
    expect(estimate.flavor).toBeUndefined();
    expect(estimate.basis).toBe(
      "LoRA r16 SFT of 7.6B params at 2048 tokens → 1 × nvidia-a10g, 18.5 GiB of 24.0 GiB per GPU; " +
        "10M tokens × 2 epochs at ~987 tokens/s per GPU + 0.2 h start-up → 5.83 h × $1.01/h",
    );
  });

  it("70B full fine-tuning → several H100s (24: 1,173 GiB of weights and Adam state sharded)", () => {
    // 70e9 × 18 B = 1,173 GiB sharded, + 8.4 GiB activations and overhead per GPU: 16 H100s
    // would need 81.7 GiB each, so the next node shape, 3 × 8.
    expect(estimateTraining(table, full70b)).toMatchObject({
      gpuType: "nvidia-h100-80gb",
      gpuCount: 24,
      memoryGiB: 57.2,
      hours: 0.754,
      costUSD: 124.5,
      pricePerHourUSD: 6.88,
      runPricePerHourUSD: 165.12,
    });
  });

  it("70B QLoRA → one H100 (4-bit base: 0.6 B per parameter)", () => {
    expect(
      estimateTraining(table, { ...full70b, lora: { rank: 16, quantization: "4bit" } }),
    ).toMatchObject({ gpuType: "nvidia-h100-80gb", gpuCount: 1, memoryGiB: 53 });
  });

  it("full fine-tuning a 7.6B model takes more GPUs than LoRA (8 × A10G, sharded)", () => {
    expect(estimateTraining(table, { ...lora7b, lora: null })).toMatchObject({
      gpuType: "nvidia-a10g",
      gpuCount: 8,
      memoryGiB: 19.7,
      costUSD: 11.09,
    });
  });

  it("a 13B model or larger skips the A10G", () => {
    expect(estimateTraining(table, { ...lora7b, parametersBillions: 13 }).gpuType).toBe(
      "nvidia-h100-80gb",
    );
    expect(estimateTraining(table, { ...lora7b, parametersBillions: 12.9 }).gpuType).toBe(
      "nvidia-a10g",
    );
  });

  it("a longer sequence raises activation memory: 16k tokens needs 4 A10Gs", () => {
    const long = estimateTraining(table, { ...lora7b, maxSeqLength: 16_384 });
    expect(long).toMatchObject({ gpuType: "nvidia-a10g", gpuCount: 4, memoryGiB: 23.3 });
    expect(estimateTraining(table, { ...lora7b, maxSeqLength: 4096 }).memoryGiB).toBe(20.8);
  });

  it("DPO costs more than SFT (reference model forward, chosen and rejected together)", () => {
    const sft = estimateTraining(table, lora7b);
    const dpo = estimateTraining(table, { ...lora7b, method: "dpo" });
    expect(dpo.hours).toBeGreaterThan(sft.hours);
    expect(dpo.memoryGiB).toBeGreaterThan(sft.memoryGiB);
    // 6 instead of 4 FLOPs per parameter and token: 1.5 × the compute.
    expect(dpo.hours - 0.2).toBeCloseTo((sft.hours - 0.2) * 1.5, 2);
  });

  it("the eval dataset adds a forward pass per epoch", () => {
    const withEval = estimateTraining(table, { ...lora7b, evalDataset: { tokens: 1_000_000 } });
    // 2 × 7.6e9 × 1M × 2 epochs ÷ 30e12 = 0.28 h more.
    expect(withEval.hours).toBeCloseTo(5.83 + 0.281, 2);
    expect(withEval.basis).toContain("+ 1M eval tokens");
  });

  it("a dataset known only by its bytes: 4 bytes per token", () => {
    expect(datasetTokens({ bytes: 40_000_001 })).toBe(10_000_001);
    const estimate = estimateTraining(table, { ...lora7b, dataset: { bytes: 40_000_000 } });
    expect(estimate.datasetTokens).toBe(10_000_000);
    expect(estimate.hours).toBe(5.83);
    expect(estimate.basis).toContain("10M tokens (from 40M bytes ÷ 4)");
  });
});

describe("estimateTraining on Hugging Face Jobs", () => {
  const hf: TrainingEstimateInput = { ...lora7b, backend: "huggingFaceJobs" };

  it("7.6B LoRA → a10g-small, whole minutes billed: 350 min × $1/h = $5.83", () => {
    expect(estimateTraining(table, hf)).toMatchObject({
      gpuType: "nvidia-a10g",
      gpuCount: 1,
      flavor: "a10g-small",
      pricePerHourUSD: 1,
      runPricePerHourUSD: 1,
      hours: 5.83,
      costUSD: 5.83,
    });
  });

  it("per-minute billing rounds a started minute up", () => {
    // 100k tokens: 203 s of compute + 12 min start-up = 15.4 min → 16 min at $1/h.
    const small = estimateTraining(table, { ...hf, dataset: { tokens: 100_000 } });
    expect(small.costUSD).toBe(0.27);
  });

  it("13B LoRA → h200 (no H100 flavor; cheaper than a100-large for this run)", () => {
    // h200: 89.0 min → 90 min × $5/h = $7.50; a100-large would be 3.41 h × $2.50 = $8.53.
    expect(estimateTraining(table, { ...hf, parametersBillions: 13 })).toMatchObject({
      flavor: "h200",
      gpuType: "nvidia-h200",
      gpuCount: 1,
      costUSD: 7.5,
    });
  });

  it("70B LoRA → h200x2; a 70B full fine-tune fits no flavor", () => {
    expect(estimateTraining(table, { ...hf, parametersBillions: 70 })).toMatchObject({
      flavor: "h200x2",
      gpuCount: 2,
      costUSD: 40.5,
    });
    const err = estimateError({ ...full70b, backend: "huggingFaceJobs" });
    expect(err.field).toBe("spec.backend.huggingFaceJobs.flavor");
    expect(err.message).toMatch(
      /^no Hugging Face Jobs flavor among a100-large, a100x4, a100x8, h200, h200x2, h200x4, h200x8 holds the run \(full SFT of 70B parameters needs ~1181\.8 GiB on one GPU\)/,
    );
  });

  it("7.6B full fine-tuning: no A10G flavor holds it, so the large flavors (h200)", () => {
    expect(estimateTraining(table, { ...hf, lora: null })).toMatchObject({
      flavor: "h200",
      memoryGiB: 131.2,
    });
  });

  it("an explicit flavor is honoured", () => {
    expect(estimateTraining(table, { ...hf, flavor: "a10g-largex2" })).toMatchObject({
      flavor: "a10g-largex2",
      gpuCount: 2,
      pricePerHourUSD: 3,
      runPricePerHourUSD: 3,
    });
  });

  it("spec.resources.gpu picks among the flavors that have those GPUs", () => {
    expect(
      estimateTraining(table, { ...hf, gpu: { type: "nvidia-a100-80gb", count: 4 } }),
    ).toMatchObject({ flavor: "a100x4", gpuType: "nvidia-a100-80gb", gpuCount: 4 });
    expect(
      estimateTraining(table, { ...hf, gpu: { type: "nvidia-l4", count: "auto" } }).flavor,
    ).toBe("l4x1");
  });

  it.each([
    {
      name: "an unknown flavor",
      input: { ...hf, flavor: "tpu-v5" },
      field: "spec.backend.huggingFaceJobs.flavor",
      message:
        /^spec\.backend\.huggingFaceJobs\.flavor tpu-v5 is not a Hugging Face Jobs flavor the GPU table knows \(cpu-basic, /,
    },
    {
      name: "a flavor too small",
      input: { ...hf, lora: null, flavor: "a10g-small" },
      field: "spec.backend.huggingFaceJobs.flavor",
      message:
        /^spec\.backend\.huggingFaceJobs\.flavor a10g-small: 1 × nvidia-a10g cannot hold the run: full SFT of 7\.6B parameters needs ~131\.2 GiB on one GPU, 131\.2 GiB per GPU at 1 \(24\.0 GiB each\); it takes at least 7; choose a larger flavor or auto/,
    },
    {
      name: "a GPU Hugging Face Jobs does not have",
      input: { ...hf, gpu: { type: "nvidia-h100-80gb", count: "auto" as const } },
      field: "spec.resources.gpu.type",
      message:
        /^Hugging Face Jobs has no flavor with nvidia-h100-80gb \(none\): change spec\.resources\.gpu\.type\/count, or set spec\.backend\.huggingFaceJobs\.flavor$/,
    },
    {
      name: "a GPU count no flavor has",
      input: { ...hf, gpu: { type: "nvidia-a10g", count: 3 } },
      field: "spec.resources.gpu.type",
      message:
        /^Hugging Face Jobs has no flavor with 3 × nvidia-a10g \(a10g-small \(1 × nvidia-a10g\), a10g-large \(1 × nvidia-a10g\), a10g-largex2 \(2 × nvidia-a10g\), a10g-largex4 \(4 × nvidia-a10g\)\)/,
    },
  ])("refuses $name, naming $field", ({ input, field, message }) => {
    const err = estimateError(input);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });
});

describe("estimateTraining on the local backend", () => {
  it("runs on the CPU for nothing, whatever spec.resources.gpu says", () => {
    const estimate = estimateTraining(table, {
      ...lora7b,
      parametersBillions: 0.0002,
      lora: null,
      maxSeqLength: 128,
      dataset: { bytes: 60_000 },
      epochs: 3,
      backend: "local",
      gpu: { type: "nvidia-h100-80gb", count: 8 },
    });
    expect(estimate).toMatchObject({
      gpuType: "cpu",
      gpuCount: 1,
      costUSD: 0,
      pricePerHourUSD: 0,
      runPricePerHourUSD: 0,
      datasetTokens: 15_000,
    });
    expect(estimate.flavor).toBeUndefined();
    // 6 × 2e5 × 15k × 3 FLOPs at 12 GFLOP/s: 4.5 s, no start-up.
    expect(estimate.hours).toBe(0.001);
    expect(estimate.basis).toContain("this machine's CPU (local backend");
  });

  it("refuses when the table has no cpu entry", () => {
    const noCpu = mergeGpuTables(
      table,
      {
        gpus: { cpu: null },
        huggingFaceJobsFlavors: Object.fromEntries(
          Object.entries(table.huggingFaceJobsFlavors)
            .filter(([, f]) => f.gpuType === "cpu")
            .map(([name]) => [name, null]),
        ),
      },
      "test",
    );
    expect(() => estimateTraining(noCpu, { ...lora7b, backend: "local" })).toThrow(
      /the GPU table has no cpu entry/,
    );
  });
});

describe("estimateTraining with explicit GPUs on a cluster", () => {
  it("an explicit type is honoured, its count sized", () => {
    expect(
      estimateTraining(table, { ...lora7b, gpu: { type: "nvidia-l4", count: "auto" } }),
    ).toMatchObject({ gpuType: "nvidia-l4", gpuCount: 1, pricePerHourUSD: 0.8 });
    expect(
      estimateTraining(table, { ...full70b, gpu: { type: "nvidia-h200", count: "auto" } }),
    ).toMatchObject({ gpuType: "nvidia-h200", gpuCount: 16 });
  });

  it("an explicit count is honoured, even when more than needed", () => {
    const four = estimateTraining(table, { ...lora7b, gpu: { type: "nvidia-a10g", count: 4 } });
    expect(four).toMatchObject({
      gpuType: "nvidia-a10g",
      gpuCount: 4,
      pricePerHourUSD: 1.01,
      runPricePerHourUSD: 4.04,
    });
    expect(four.hours).toBeLessThan(estimateTraining(table, lora7b).hours);
  });

  it("an explicit count with type auto picks a type that holds it at that count", () => {
    expect(estimateTraining(table, { ...full70b, gpu: { type: "auto", count: 32 } })).toMatchObject(
      { gpuType: "nvidia-h100-80gb", gpuCount: 32 },
    );
    // 2 A10Gs cannot hold a full 7.6B fine-tune; 2 H100s can.
    expect(
      estimateTraining(table, { ...lora7b, lora: null, gpu: { type: "auto", count: 2 } }),
    ).toMatchObject({ gpuType: "nvidia-h100-80gb", gpuCount: 2 });
  });

  it("ModelDeployment's GPU names work too (nvidia-h100)", () => {
    expect(
      estimateTraining(table, { ...lora7b, gpu: { type: "nvidia-h100", count: 1 } }).gpuType,
    ).toBe("nvidia-h100-80gb");
  });

  it.each([
    {
      name: "an unknown type",
      input: { ...lora7b, gpu: { type: "nvidia-b200", count: "auto" as const } },
      field: "spec.resources.gpu.type",
      message:
        /^spec\.resources\.gpu\.type nvidia-b200 is not in the GPU table \(nvidia-t4, nvidia-l4, nvidia-a10g, .*\): use one of them or auto, or add it to the controller's GPU table ConfigMap$/,
    },
    {
      name: "cpu on a cluster",
      input: { ...lora7b, gpu: { type: "cpu", count: 1 } },
      field: "spec.resources.gpu.type",
      message: /^spec\.resources\.gpu\.type cpu is not in the GPU table/,
    },
    {
      name: "too few GPUs",
      input: { ...full70b, gpu: { type: "nvidia-h100-80gb", count: 8 } },
      field: "spec.resources.gpu.count",
      message:
        /^spec\.resources\.gpu\.count 8: 8 × nvidia-h100-80gb cannot hold the run: full SFT of 70B parameters needs ~1181\.8 GiB on one GPU, 155\.0 GiB per GPU at 8 \(80\.0 GiB each\); it takes at least 17; raise spec\.resources\.gpu\.count, set it to auto, or use LoRA\/QLoRA$/,
    },
    {
      name: "a GPU too small at any count",
      input: {
        ...lora7b,
        maxSeqLength: 65_536,
        gpu: { type: "nvidia-t4", count: "auto" as const },
      },
      field: "spec.resources.gpu.type",
      message: /even many of them are too small for the activations at maxSeqLength 65536/,
    },
    {
      name: "a count no automatic type holds",
      input: { ...full70b, gpu: { type: "auto", count: 2 } },
      field: "spec.resources.gpu.count",
      message:
        /^spec\.resources\.gpu\.count 2: 2 × \(nvidia-h100-80gb\) cannot hold the run \(full SFT of 70B parameters needs ~1181\.8 GiB on one GPU\); raise the count, set it to auto, or use LoRA\/QLoRA$/,
    },
  ])("refuses $name, naming $field", ({ input, field, message }) => {
    const err = estimateError(input);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it("prices come from the table (an operator's override)", () => {
    const cheaper = mergeGpuTables(
      table,
      { gpus: { "nvidia-a10g": { memoryGiB: 24, relativeThroughput: 1, pricePerHourUSD: 0.5 } } },
      "test",
    );
    expect(estimateTraining(cheaper, lora7b)).toMatchObject({
      pricePerHourUSD: 0.5,
      costUSD: 2.91,
    });
  });
});

describe("estimateInputFor", () => {
  const spec: TrainingJobSpec = {
    baseModel: { repo: "Qwen/Qwen2.5-Coder-7B-Instruct", parametersBillions: 7.6 },
    dataset: { configMap: { name: "data" } },
    output: { volume: { claimName: "models" } },
  };

  it("fills in the CRD's defaults", () => {
    expect(estimateInputFor(spec, { parametersBillions: 7.6, dataset: { tokens: 1000 } })).toEqual({
      parametersBillions: 7.6,
      method: "sft",
      lora: null,
      maxSeqLength: 2048,
      batchSize: 4,
      dataset: { tokens: 1000 },
      epochs: 3,
      backend: "kubernetes",
      gpu: { type: "auto", count: "auto" },
    });
  });

  it("takes the spec's method, LoRA, hyperparameters, GPUs and flavor", () => {
    const input = estimateInputFor(
      {
        ...spec,
        method: "dpo",
        lora: { quantization: "4bit" },
        hyperparameters: { epochs: 2, maxSeqLength: 4096, batchSize: 8 },
        resources: { gpu: { type: "nvidia-a10g", count: "2" } },
        backend: {
          type: "huggingFaceJobs",
          huggingFaceJobs: { flavor: "a10g-largex2", tokenSecretRef: { name: "hf", key: "t" } },
        },
      },
      { parametersBillions: 7.6, dataset: { bytes: 4000 }, evalDataset: { tokens: 10 } },
    );
    expect(input).toEqual({
      parametersBillions: 7.6,
      method: "dpo",
      lora: { rank: 16, quantization: "4bit" },
      maxSeqLength: 4096,
      batchSize: 8,
      dataset: { bytes: 4000 },
      evalDataset: { tokens: 10 },
      epochs: 2,
      backend: "huggingFaceJobs",
      gpu: { type: "nvidia-a10g", count: 2 },
      flavor: "a10g-largex2",
    });
  });

  it("the local backend can be given explicitly", () => {
    expect(
      estimateInputFor(spec, { parametersBillions: 1, dataset: { tokens: 1 } }, "local").backend,
    ).toBe("local");
  });

  it("refuses a count that is neither auto nor 1–64", () => {
    expect(() =>
      estimateInputFor(
        { ...spec, resources: { gpu: { count: "many" } } },
        { parametersBillions: 1, dataset: { tokens: 1 } },
      ),
    ).toThrow(
      new TrainingEstimateError(
        "spec.resources.gpu.count",
        'spec.resources.gpu.count "many" is not a number of GPUs: use 1 to 64, or auto',
      ),
    );
  });
});
