// What a training run will need and cost, before anything starts: which GPUs (from the model's
// size, the method, LoRA/QLoRA and the sequence length), how long, and how many USD. Pure: the
// GPU table and every input come in, one estimate (or one TrainingEstimateError naming the field
// to fix) comes out. The constants below are rules of thumb, documented so they can be argued
// with; the GPU table holds everything an operator would want to change.
import type { TrainingJobSpec } from "../../api/generated/index.js";
import { resolveGpuType, type GpuTable } from "./gpu-table.js";

// --- Memory --------------------------------------------------------------------------------------
// Full fine-tuning with AdamW in mixed precision keeps, per parameter: bf16 weights (2 bytes) and
// gradients (2), an fp32 master copy (4) and Adam's two moments (4 + 4) = 16 bytes, plus ~2 for
// buffers and fragmentation. Sharded across the GPUs (FSDP / ZeRO-3), so it divides by the count.
export const fullFineTuneBytesPerParam = 18;
/** LoRA keeps the base frozen: bf16 weights, or quantised ones (QLoRA 4-bit NF4 ≈ 0.5 + scales and the unquantised embeddings and norms). */
export const frozenBaseBytesPerParam = { none: 2, "8bit": 1.1, "4bit": 0.6 } as const;
/**
 * Adapter parameters as a share of the base per unit of rank, for adapters on every linear layer
 * (rank 16 on Qwen2.5-7B is ~40M parameters, 0.53%); they train in fp32 with AdamW (16 bytes).
 */
export const adapterShareOfBasePerRank = 0.00033;
export const adapterBytesPerParam = 16;
/** DPO's frozen reference model: a bf16 copy for full fine-tuning (LoRA disables the adapters instead). */
export const referenceModelBytesPerParam = 2;
/**
 * Activations with gradient checkpointing grow with the tokens of one micro-batch (batch size ×
 * sequence length) and with hidden size × layers, which grows about as √parameters: 0.1 GiB per
 * 1,000 tokens per √(billion parameters) — ~2.3 GiB for 7.6B at 4 × 2,048 tokens. Per GPU.
 */
export const activationGiBPerKiloTokenPerSqrtBillion = 0.1;
/** CUDA context, kernels, NCCL buffers and allocator slack, per GPU. */
export const overheadGiBPerGpu = 1.5;

// --- Time ----------------------------------------------------------------------------------------
/** One A10G's sustained bf16 training throughput (≈25% of its 125 TFLOP/s dense peak); the table's relativeThroughput scales it. */
export const a10gSustainedFlops = 30e12;
// Training costs ~6 FLOPs per parameter per token (forward 2, backward 4); LoRA skips the weight
// gradients of the frozen base (~4); DPO adds the reference model's forward (2); evaluation is a
// forward pass (2).
const fullFlopsPerParamToken = 6;
const loraFlopsPerParamToken = 4;
const referenceFlopsPerParamToken = 2;
const evalFlopsPerParamToken = 2;
/** Dequantising the frozen base on every pass slows QLoRA down (bitsandbytes 8-bit more so). */
export const quantizationSlowdown = { none: 1, "8bit": 1.5, "4bit": 1.3 } as const;
/** Share of linear speed-up kept by more than one GPU (gradient all-reduce, sharding traffic). */
export const multiGpuEfficiency = 0.9;
/** Image pull, weights download and loading before the first step, on GPU backends. */
export const startupHours = 0.2;

// --- Data ----------------------------------------------------------------------------------------
/**
 * Tokens per byte when a dataset is known only by its size: BPE tokenizers average ~4 bytes of
 * English text per token; JSONL keys and quoting add bytes the trainer does not train on, which
 * roughly offsets the chat template's tokens that are not in the file.
 */
export const bytesPerToken = 4;

/** GPU counts a Kubernetes Job can ask for: the shapes GPU nodes come in, then whole nodes of 8. */
const kubernetesCounts = [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64];

/** A dataset's size: its tokens when they were counted, otherwise its bytes. */
export type DatasetSize = { tokens: number } | { bytes: number };

export type TrainingBackendType = "kubernetes" | "huggingFaceJobs" | "local";

export interface TrainingEstimateInput {
  /** spec.baseModel.parametersBillions, or the Hub's safetensors count. */
  parametersBillions: number;
  method: "sft" | "dpo" | "orpo";
  /** spec.lora (rank, quantization); null for full fine-tuning. */
  lora: { rank: number; quantization: "none" | "4bit" | "8bit" } | null;
  maxSeqLength: number;
  /** Examples per GPU per step (spec.hyperparameters.batchSize); defaults to 4. */
  batchSize?: number;
  dataset: DatasetSize;
  evalDataset?: DatasetSize;
  epochs: number;
  backend: TrainingBackendType;
  /** spec.resources.gpu; ignored by the local backend, which runs on this machine's CPU. */
  gpu: { type: string; count: number | "auto" };
  /** spec.backend.huggingFaceJobs.flavor (huggingFaceJobs only); "auto" when unset. */
  flavor?: string;
}

export interface TrainingEstimate {
  /** A key of the GPU table's gpus (`cpu` for the local backend). */
  gpuType: string;
  gpuCount: number;
  /** The Hugging Face Jobs flavor (huggingFaceJobs only). */
  flavor?: string;
  /** Expected wall-clock hours, start-up included (three decimals). */
  hours: number;
  /** hours × pricePerHourUSD; Hugging Face Jobs bills whole minutes. Rounded to cents. */
  costUSD: number;
  /** One GPU-hour on a cluster (or the local machine's hour); the flavor's hour on Hugging Face Jobs. */
  pricePerHourUSD: number;
  /** One hour of the whole run: count × the GPU's price, or the flavor's price. */
  runPricePerHourUSD: number;
  /** Memory needed on each GPU at this count (GiB, one decimal). */
  memoryGiB: number;
  /** The model size the estimate used. */
  parametersBillions: number;
  /** Tokens trained on per epoch (counted, or estimated from bytes). */
  datasetTokens: number;
  /** One line, for people: why these GPUs and this time. */
  basis: string;
}

/** The run cannot be sized as asked; `field` is what to change and the message says how. */
export class TrainingEstimateError extends Error {
  override name = "TrainingEstimateError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Tokens of a dataset: as counted, or its bytes ÷ bytesPerToken, rounded up. */
export function datasetTokens(size: DatasetSize): number {
  return "tokens" in size ? size.tokens : Math.ceil(size.bytes / bytesPerToken);
}

interface MemoryNeed {
  /** Weights and training state, divided over the GPUs. */
  shardedGiB: number;
  /** Activations and overhead, on every GPU. */
  perGpuGiB: number;
}

const GiB = 2 ** 30;

function memoryNeed(input: TrainingEstimateInput): MemoryNeed {
  const params = input.parametersBillions * 1e9;
  let bytes: number;
  if (input.lora === null) {
    bytes = params * fullFineTuneBytesPerParam;
    if (input.method === "dpo") bytes += params * referenceModelBytesPerParam;
  } else {
    const adapter = params * adapterShareOfBasePerRank * input.lora.rank;
    bytes =
      params * frozenBaseBytesPerParam[input.lora.quantization] + adapter * adapterBytesPerParam;
  }
  const microBatchTokens = (input.batchSize ?? 4) * input.maxSeqLength;
  // Preference methods run the chosen and the rejected completion through the model together.
  const sequences = input.method === "sft" ? 1 : 2;
  const activations =
    activationGiBPerKiloTokenPerSqrtBillion *
    ((microBatchTokens * sequences) / 1000) *
    Math.sqrt(input.parametersBillions);
  return { shardedGiB: bytes / GiB, perGpuGiB: activations + overheadGiBPerGpu };
}

function perGpuGiB(need: MemoryNeed, count: number): number {
  return need.shardedGiB / count + need.perGpuGiB;
}

function fits(need: MemoryNeed, memoryGiB: number, count: number): boolean {
  return perGpuGiB(need, count) <= memoryGiB;
}

/** FLOPs of the whole run: every epoch's training tokens, plus a pass over the eval set per epoch. */
function runFlops(input: TrainingEstimateInput, tokens: number, evalTokens: number): number {
  const params = input.parametersBillions * 1e9;
  const perToken =
    (input.lora === null ? fullFlopsPerParamToken : loraFlopsPerParamToken) +
    (input.method === "dpo" ? referenceFlopsPerParamToken : 0);
  const slowdown = input.lora === null ? 1 : quantizationSlowdown[input.lora.quantization];
  return (
    (params * perToken * tokens + params * evalFlopsPerParamToken * evalTokens) *
    input.epochs *
    slowdown
  );
}

interface Option {
  gpuType: string;
  gpuCount: number;
  flavor?: string;
  pricePerHourUSD: number;
}

interface Costed extends Option {
  hours: number;
  costUSD: number;
  tokensPerSecondPerGpu: number;
}

function cost(
  table: GpuTable,
  input: TrainingEstimateInput,
  option: Option,
  flops: number,
  tokens: number,
): Costed {
  const gpu = table.gpus[option.gpuType];
  const speed = (gpu?.relativeThroughput ?? 0) * a10gSustainedFlops;
  const efficiency = option.gpuCount > 1 ? multiGpuEfficiency : 1;
  const seconds = flops / (speed * option.gpuCount * efficiency);
  const hours = seconds / 3600 + (input.backend === "local" ? 0 : startupHours);
  // Hugging Face Jobs bills every started minute.
  const billedHours = input.backend === "huggingFaceJobs" ? Math.ceil(hours * 60) / 60 : hours;
  return {
    ...option,
    hours,
    costUSD: billedHours * option.pricePerHourUSD,
    tokensPerSecondPerGpu: (tokens * input.epochs) / seconds / option.gpuCount,
  };
}

function cheapest(options: Costed[]): Costed | undefined {
  // Cheapest first; on a tie, fewer GPUs, then the table's order.
  return [...options].sort((a, b) => a.costUSD - b.costUSD || a.gpuCount - b.gpuCount)[0];
}

function describeMethod(input: TrainingEstimateInput): string {
  const method = input.method.toUpperCase();
  if (input.lora === null) return `full ${method}`;
  const q = input.lora.quantization;
  return `${q === "4bit" ? "QLoRA" : "LoRA"} r${String(input.lora.rank)}${q === "8bit" ? " (8-bit base)" : ""} ${method}`;
}

const gib = (n: number): string => `${n.toFixed(1)} GiB`;
const round = (n: number, digits: number): number => Number(n.toFixed(digits));

function humanTokens(n: number): string {
  if (n >= 1e9) return `${round(n / 1e9, 2)}B`;
  if (n >= 1e6) return `${round(n / 1e6, 2)}M`;
  if (n >= 1e3) return `${round(n / 1e3, 1)}k`;
  return String(n);
}

function describeSize(input: TrainingEstimateInput, need: MemoryNeed): string {
  const total = need.shardedGiB + need.perGpuGiB;
  return `${describeMethod(input)} of ${String(input.parametersBillions)}B parameters needs ~${gib(total)} on one GPU`;
}

/** Kubernetes options for one GPU type: the fewest GPUs (in node shapes) that hold the run. */
function kubernetesOption(
  table: GpuTable,
  need: MemoryNeed,
  gpuType: string,
  count: number | "auto",
): Option | undefined {
  const gpu = table.gpus[gpuType];
  if (gpu === undefined) return undefined;
  const counts = count === "auto" ? kubernetesCounts : [count];
  const n = counts.find((c) => fits(need, gpu.memoryGiB, c));
  return n === undefined
    ? undefined
    : { gpuType, gpuCount: n, pricePerHourUSD: n * gpu.pricePerHourUSD };
}

function minimumCount(need: MemoryNeed, memoryGiB: number): number | undefined {
  const room = memoryGiB - need.perGpuGiB;
  return room <= 0 ? undefined : Math.max(1, Math.ceil(need.shardedGiB / room));
}

function tooSmall(
  input: TrainingEstimateInput,
  need: MemoryNeed,
  what: string,
  memoryGiB: number,
  count: number,
): string {
  const min = minimumCount(need, memoryGiB);
  return (
    `${what} cannot hold the run: ${describeSize(input, need)}, ${gib(perGpuGiB(need, count))} per GPU at ${String(count)} ` +
    `(${gib(memoryGiB)} each)` +
    (min === undefined
      ? `; even many of them are too small for the activations at maxSeqLength ${String(input.maxSeqLength)}`
      : `; it takes at least ${String(min)}`)
  );
}

function unknownGpu(table: GpuTable, type: string): TrainingEstimateError {
  const known = Object.keys(table.gpus).filter((k) => k !== "cpu");
  return new TrainingEstimateError(
    "spec.resources.gpu.type",
    `spec.resources.gpu.type ${type} is not in the GPU table (${known.join(", ")}): use one of them or auto, or add it to the controller's GPU table ConfigMap`,
  );
}

function estimateKubernetes(
  table: GpuTable,
  input: TrainingEstimateInput,
  need: MemoryNeed,
  price: (o: Option) => Costed,
): Costed {
  const { type, count } = input.gpu;
  if (type !== "auto") {
    const gpuType = resolveGpuType(table, type);
    if (gpuType === undefined || gpuType === "cpu") throw unknownGpu(table, type);
    const option = kubernetesOption(table, need, gpuType, count);
    if (option !== undefined) return price(option);
    const gpu = table.gpus[gpuType];
    const memory = gpu?.memoryGiB ?? 0;
    if (count === "auto") {
      throw new TrainingEstimateError(
        "spec.resources.gpu.type",
        `spec.resources.gpu.type ${type}: ${tooSmall(input, need, `up to 64 × ${gpuType}`, memory, 64)}; use a GPU with more memory, auto, or LoRA/QLoRA`,
      );
    }
    throw new TrainingEstimateError(
      "spec.resources.gpu.count",
      `spec.resources.gpu.count ${String(count)}: ${tooSmall(input, need, `${String(count)} × ${gpuType}`, memory, count)}; raise spec.resources.gpu.count, set it to auto, or use LoRA/QLoRA`,
    );
  }
  const tiers = tiersFor(table, input, table.auto.kubernetes);
  for (const names of tiers) {
    const options = names
      .map((name) => kubernetesOption(table, need, name, count))
      .filter((o): o is Option => o !== undefined)
      .map(price);
    const best = cheapest(options);
    if (best !== undefined) return best;
  }
  const all = tiers.flat().join(", ");
  if (count !== "auto") {
    throw new TrainingEstimateError(
      "spec.resources.gpu.count",
      `spec.resources.gpu.count ${String(count)}: ${String(count)} × (${all}) cannot hold the run (${describeSize(input, need)}); raise the count, set it to auto, or use LoRA/QLoRA`,
    );
  }
  throw new TrainingEstimateError(
    "spec.resources.gpu.type",
    `no GPU the controller picks automatically (${all}) holds the run in 64 GPUs (${describeSize(input, need)}); name a larger GPU in spec.resources.gpu.type, or use LoRA/QLoRA`,
  );
}

function tiersFor(
  table: GpuTable,
  input: TrainingEstimateInput,
  rules: { small: readonly string[]; large: readonly string[] },
): (readonly string[])[] {
  // Below the threshold the small GPUs come first, and the large ones when no small one fits.
  return input.parametersBillions < table.auto.largeModelBillions
    ? [rules.small, rules.large]
    : [rules.large];
}

function flavorOption(table: GpuTable, name: string): Option | undefined {
  const f = table.huggingFaceJobsFlavors[name];
  return f === undefined
    ? undefined
    : {
        gpuType: f.gpuType,
        gpuCount: f.gpuCount,
        flavor: name,
        pricePerHourUSD: f.pricePerHourUSD,
      };
}

function flavorFits(table: GpuTable, need: MemoryNeed, option: Option): boolean {
  const memory = table.gpus[option.gpuType]?.memoryGiB ?? 0;
  return fits(need, memory, option.gpuCount);
}

function estimateHuggingFaceJobs(
  table: GpuTable,
  input: TrainingEstimateInput,
  need: MemoryNeed,
  price: (o: Option) => Costed,
): Costed {
  const flavors = table.huggingFaceJobsFlavors;
  const { type, count } = input.gpu;
  const requested = input.flavor ?? "auto";
  if (requested !== "auto") {
    const option = flavorOption(table, requested);
    if (option === undefined) {
      throw new TrainingEstimateError(
        "spec.backend.huggingFaceJobs.flavor",
        `spec.backend.huggingFaceJobs.flavor ${requested} is not a Hugging Face Jobs flavor the GPU table knows (${Object.keys(flavors).join(", ")}): use one of them or auto`,
      );
    }
    if (!flavorFits(table, need, option)) {
      const memory = table.gpus[option.gpuType]?.memoryGiB ?? 0;
      throw new TrainingEstimateError(
        "spec.backend.huggingFaceJobs.flavor",
        `spec.backend.huggingFaceJobs.flavor ${requested}: ${tooSmall(input, need, `${String(option.gpuCount)} × ${option.gpuType}`, memory, option.gpuCount)}; choose a larger flavor or auto, or use LoRA/QLoRA`,
      );
    }
    return price(option);
  }

  let names: (readonly string[])[];
  if (type !== "auto" || count !== "auto") {
    // GPUs named in spec.resources pick among every flavor that has them.
    const gpuType = type === "auto" ? undefined : resolveGpuType(table, type);
    if (type !== "auto" && gpuType === undefined) throw unknownGpu(table, type);
    const matching = Object.entries(flavors)
      .filter(([, f]) => f.gpuType !== "cpu")
      .filter(([, f]) => gpuType === undefined || f.gpuType === gpuType)
      .filter(([, f]) => count === "auto" || f.gpuCount === count)
      .map(([name]) => name);
    if (matching.length === 0) {
      const field = type !== "auto" ? "spec.resources.gpu.type" : "spec.resources.gpu.count";
      const offered = Object.entries(flavors)
        .filter(([, f]) => gpuType === undefined || f.gpuType === gpuType)
        .map(([name, f]) => `${name} (${String(f.gpuCount)} × ${f.gpuType})`);
      throw new TrainingEstimateError(
        field,
        `Hugging Face Jobs has no flavor with ${count === "auto" ? "" : `${String(count)} × `}${gpuType ?? "GPU"}` +
          ` (${offered.join(", ") || "none"}): change spec.resources.gpu.type/count, or set spec.backend.huggingFaceJobs.flavor`,
      );
    }
    names = [matching];
  } else {
    names = tiersFor(table, input, table.auto.huggingFaceJobs);
  }
  for (const tier of names) {
    const options = tier
      .map((name) => flavorOption(table, name))
      .filter((o): o is Option => o !== undefined && flavorFits(table, need, o))
      .map(price);
    const best = cheapest(options);
    if (best !== undefined) return best;
  }
  const all = names.flat().join(", ");
  const field =
    type !== "auto"
      ? "spec.resources.gpu.type"
      : count !== "auto"
        ? "spec.resources.gpu.count"
        : "spec.backend.huggingFaceJobs.flavor";
  throw new TrainingEstimateError(
    field,
    `no Hugging Face Jobs flavor among ${all} holds the run (${describeSize(input, need)}); use LoRA/QLoRA, a shorter maxSeqLength, or set ${field} to a larger one`,
  );
}

function estimateLocal(table: GpuTable, price: (o: Option) => Costed): Costed {
  const cpu = table.gpus.cpu;
  if (cpu === undefined) {
    throw new TrainingEstimateError(
      "spec.backend.type",
      "the GPU table has no cpu entry, which the local backend runs on: restore it in the controller's GPU table ConfigMap",
    );
  }
  return price({ gpuType: "cpu", gpuCount: 1, pricePerHourUSD: cpu.pricePerHourUSD });
}

/**
 * The GPUs, time and cost of one run. An explicit spec.resources.gpu type or count (or Hugging
 * Face Jobs flavor) is honoured; `auto` picks the cheapest candidate of the table's auto rules
 * that holds the run. Throws TrainingEstimateError (terminal: the spec must change) when the
 * request names an unknown GPU or flavor, or one with too little memory.
 */
export function estimateTraining(table: GpuTable, input: TrainingEstimateInput): TrainingEstimate {
  const tokens = datasetTokens(input.dataset);
  const evalTokens = input.evalDataset === undefined ? 0 : datasetTokens(input.evalDataset);
  const need = memoryNeed(input);
  const flops = runFlops(input, tokens, evalTokens);
  const price = (o: Option): Costed => cost(table, input, o, flops, tokens);

  const chosen =
    input.backend === "local"
      ? estimateLocal(table, price)
      : input.backend === "huggingFaceJobs"
        ? estimateHuggingFaceJobs(table, input, need, price)
        : estimateKubernetes(table, input, need, price);

  const perGpu = perGpuGiB(need, chosen.gpuCount);
  // Internally an option's price is the whole run's hour; a cluster GPU is priced per GPU.
  const unitPrice =
    chosen.flavor === undefined ? chosen.pricePerHourUSD / chosen.gpuCount : chosen.pricePerHourUSD;
  const memory = table.gpus[chosen.gpuType]?.memoryGiB ?? 0;
  const where =
    input.backend === "local"
      ? "this machine's CPU (local backend; spec.resources.gpu does not apply, memory not checked)"
      : `${String(chosen.gpuCount)} × ${chosen.gpuType}${chosen.flavor === undefined ? "" : ` (flavor ${chosen.flavor})`}, ${gib(perGpu)} of ${gib(memory)} per GPU`;
  const rate =
    input.backend === "huggingFaceJobs"
      ? `$${chosen.pricePerHourUSD.toFixed(2)}/h billed per minute`
      : `${chosen.gpuCount > 1 ? `${String(chosen.gpuCount)} × ` : ""}$${unitPrice.toFixed(2)}/h`;
  const basis =
    `${describeMethod(input)} of ${String(input.parametersBillions)}B params at ${String(input.maxSeqLength)} tokens → ${where}; ` +
    `${humanTokens(tokens)} tokens${"bytes" in input.dataset ? ` (from ${humanTokens(input.dataset.bytes)} bytes ÷ ${String(bytesPerToken)})` : ""} × ${String(input.epochs)} epochs` +
    `${evalTokens > 0 ? ` + ${humanTokens(evalTokens)} eval tokens` : ""} at ~${humanTokens(Math.round(chosen.tokensPerSecondPerGpu))} tokens/s per GPU` +
    `${input.backend === "local" ? "" : ` + ${String(startupHours)} h start-up`} → ${round(chosen.hours, 2)} h × ${rate}`;

  return {
    gpuType: chosen.gpuType,
    gpuCount: chosen.gpuCount,
    ...(chosen.flavor !== undefined && { flavor: chosen.flavor }),
    hours: round(chosen.hours, 3),
    costUSD: round(chosen.costUSD, 2),
    pricePerHourUSD: round(unitPrice, 4),
    runPricePerHourUSD: round(chosen.pricePerHourUSD, 4),
    memoryGiB: round(perGpu, 1),
    parametersBillions: input.parametersBillions,
    datasetTokens: tokens,
    basis,
  };
}

/** What the spec does not say about the sizes: the model's parameters and the datasets'. */
export interface MeasuredSizes {
  /** spec.baseModel.parametersBillions, or the Hub's safetensors count (hub/parameters.ts). */
  parametersBillions: number;
  dataset: DatasetSize;
  evalDataset?: DatasetSize;
}

/**
 * The estimate's input for a TrainingJob spec, with the CRD's defaults filled in (sft, 3 epochs,
 * 2,048 tokens, batch 4, LoRA rank 16 unquantised, kubernetes, auto GPUs). Throws
 * TrainingEstimateError for a spec.resources.gpu.count that is neither auto nor 1–64.
 */
export function estimateInputFor(
  spec: TrainingJobSpec,
  sizes: MeasuredSizes,
  backend: TrainingBackendType = spec.backend?.type ?? "kubernetes",
): TrainingEstimateInput {
  const hp = spec.hyperparameters ?? {};
  const gpu = spec.resources?.gpu ?? {};
  const flavor = spec.backend?.huggingFaceJobs?.flavor;
  return {
    parametersBillions: sizes.parametersBillions,
    method: spec.method ?? "sft",
    lora:
      spec.lora === undefined
        ? null
        : { rank: spec.lora.rank ?? 16, quantization: spec.lora.quantization ?? "none" },
    maxSeqLength: hp.maxSeqLength ?? 2048,
    batchSize: hp.batchSize ?? 4,
    dataset: sizes.dataset,
    ...(sizes.evalDataset !== undefined && { evalDataset: sizes.evalDataset }),
    epochs: hp.epochs ?? 3,
    backend,
    gpu: { type: gpu.type ?? "auto", count: gpuCount(gpu.count) },
    ...(flavor !== undefined && { flavor }),
  };
}

function gpuCount(count: number | string | undefined): number | "auto" {
  if (count === undefined || count === "auto") return "auto";
  const n = typeof count === "number" ? count : Number(count);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new TrainingEstimateError(
      "spec.resources.gpu.count",
      `spec.resources.gpu.count ${JSON.stringify(count)} is not a number of GPUs: use 1 to 64, or auto`,
    );
  }
  return n;
}
