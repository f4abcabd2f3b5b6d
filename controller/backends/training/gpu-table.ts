// What a training run can run on: GPU types (memory, relative speed, price per GPU-hour on a
// cluster), Hugging Face Jobs hardware flavors (which GPUs, how many, price per hour) and the
// rules `auto` sizes by. The defaults are list prices at the time of writing; they drift and
// every cluster pays its own, so operators override them from a ConfigMap (`gpus.yaml`), exactly
// as the LLM price table (backends/llm/pricing.ts) is overridden from `prices.yaml`.
import { parse as parseYaml } from "yaml";
import type { KubeClient } from "../../kube/client.js";

/** One GPU type, by the name spec.resources.gpu.type uses; `cpu` is the local backend's machine. */
export interface GpuType {
  /** Memory of one GPU in GiB (the nominal size; the estimate keeps headroom per GPU). */
  memoryGiB: number;
  /** Sustained training throughput relative to one NVIDIA A10G (1.0). */
  relativeThroughput: number;
  /** USD per GPU-hour on a Kubernetes cluster (0 for the local CPU). */
  pricePerHourUSD: number;
}

/** A Hugging Face Jobs hardware flavor (spec.backend.huggingFaceJobs.flavor), billed per minute. */
export interface HuggingFaceJobsFlavor {
  /** A key of GpuTable.gpus. */
  gpuType: string;
  gpuCount: number;
  /** USD per hour for the whole flavor (all its GPUs). */
  pricePerHourUSD: number;
}

/** What `auto` picks from, cheapest estimated cost first. */
export interface GpuAutoRules {
  /** Models with at least this many billion parameters skip the `small` candidates. */
  largeModelBillions: number;
  /** GPU types (keys of gpus) for Kubernetes Jobs. */
  kubernetes: { small: readonly string[]; large: readonly string[] };
  /** Flavors (keys of huggingFaceJobsFlavors) for Hugging Face Jobs. */
  huggingFaceJobs: { small: readonly string[]; large: readonly string[] };
}

export interface GpuTable {
  gpus: Readonly<Record<string, Readonly<GpuType>>>;
  huggingFaceJobsFlavors: Readonly<Record<string, Readonly<HuggingFaceJobsFlavor>>>;
  auto: Readonly<GpuAutoRules>;
}

const gpu = (memoryGiB: number, relativeThroughput: number, pricePerHourUSD: number): GpuType => ({
  memoryGiB,
  relativeThroughput,
  pricePerHourUSD,
});

const flavor = (
  gpuType: string,
  gpuCount: number,
  pricePerHourUSD: number,
): HuggingFaceJobsFlavor => ({ gpuType, gpuCount, pricePerHourUSD });

/**
 * The table the controller ships with; a fresh copy each call so nobody mutates a shared one.
 *
 * GPU prices: AWS us-east-1 on-demand list prices, mid-2025 (after that year's P4/P5 price cut),
 * divided by the instance's GPU count — g4dn.xlarge (T4) $0.526, g6.xlarge (L4) $0.805,
 * g5.xlarge (A10G) $1.006, g6e.xlarge (L40S) $1.861, p4d.24xlarge (8 × A100 40 GB) ≈ $22,
 * p4de.24xlarge (8 × A100 80 GB) ≈ $27.4, p5.48xlarge (8 × H100) ≈ $55, p5en.48xlarge (8 × H200)
 * ≈ $63. The RTX PRO 6000 takes Hugging Face's price (no AWS list price to compare). Other
 * clouds, regions, reservations and spot differ by a factor of two either way: override them.
 *
 * Relative throughput: sustained bf16 training speed against an A10G, from the GPUs' dense
 * tensor peaks moderated by memory bandwidth (what fine-tuning is mostly bound by); the A10G
 * itself is taken as ~30 sustained TFLOP/s (see estimate.ts). `cpu` is a 2-core machine
 * (~12 GFLOP/s sustained in PyTorch), measured on the reference trainer's tiny CPU run.
 *
 * Hugging Face Jobs: the flavors and hourly prices of https://huggingface.co/docs/hub/jobs-pricing
 * (flavor ids as huggingface_hub's JobHardware names them), billed per minute.
 */
export function defaultGpuTable(): GpuTable {
  return {
    gpus: {
      cpu: gpu(16, 0.0004, 0),
      "nvidia-t4": gpu(16, 0.35, 0.53),
      "nvidia-l4": gpu(24, 0.8, 0.8),
      "nvidia-a10g": gpu(24, 1, 1.01),
      "nvidia-l40s": gpu(48, 2.2, 1.86),
      "nvidia-a100-40gb": gpu(40, 2.8, 2.75),
      "nvidia-a100-80gb": gpu(80, 3, 3.43),
      "nvidia-h100-80gb": gpu(80, 6.5, 6.88),
      "nvidia-h200": gpu(141, 7.5, 7.91),
      "nvidia-rtx-pro-6000": gpu(96, 3, 2.75),
    },
    huggingFaceJobsFlavors: {
      "cpu-basic": flavor("cpu", 1, 0.01),
      "cpu-upgrade": flavor("cpu", 1, 0.03),
      "cpu-xl": flavor("cpu", 1, 1),
      "cpu-performance": flavor("cpu", 1, 1.9),
      "t4-small": flavor("nvidia-t4", 1, 0.4),
      "t4-medium": flavor("nvidia-t4", 1, 0.6),
      l4x1: flavor("nvidia-l4", 1, 0.8),
      l4x4: flavor("nvidia-l4", 4, 3.8),
      l40sx1: flavor("nvidia-l40s", 1, 1.8),
      l40sx4: flavor("nvidia-l40s", 4, 8.3),
      l40sx8: flavor("nvidia-l40s", 8, 23.5),
      "a10g-small": flavor("nvidia-a10g", 1, 1),
      "a10g-large": flavor("nvidia-a10g", 1, 1.5),
      "a10g-largex2": flavor("nvidia-a10g", 2, 3),
      "a10g-largex4": flavor("nvidia-a10g", 4, 5),
      "a100-large": flavor("nvidia-a100-80gb", 1, 2.5),
      a100x4: flavor("nvidia-a100-80gb", 4, 10),
      a100x8: flavor("nvidia-a100-80gb", 8, 20),
      h200: flavor("nvidia-h200", 1, 5),
      h200x2: flavor("nvidia-h200", 2, 10),
      h200x4: flavor("nvidia-h200", 4, 20),
      h200x8: flavor("nvidia-h200", 8, 40),
      "rtx-pro-6000": flavor("nvidia-rtx-pro-6000", 1, 2.75),
      "rtx-pro-6000x2": flavor("nvidia-rtx-pro-6000", 2, 5.5),
      "rtx-pro-6000x4": flavor("nvidia-rtx-pro-6000", 4, 11),
      "rtx-pro-6000x8": flavor("nvidia-rtx-pro-6000", 8, 22),
    },
    // The rules of the ModelOps seed: an A10G below 13B parameters, a larger GPU above (H100 on
    // a cluster; Hugging Face Jobs has no H100, so A100 or H200 there).
    auto: {
      largeModelBillions: 13,
      kubernetes: { small: ["nvidia-a10g"], large: ["nvidia-h100-80gb"] },
      huggingFaceJobs: {
        small: ["a10g-small", "a10g-largex2", "a10g-largex4"],
        large: ["a100-large", "a100x4", "a100x8", "h200", "h200x2", "h200x4", "h200x8"],
      },
    },
  };
}

/**
 * Names ModelDeployment's spec.runtime.resources.gpu.type also takes (backends/serving), so one
 * name works in both kinds.
 */
const gpuAliases: Readonly<Record<string, string>> = {
  "nvidia-a100": "nvidia-a100-80gb",
  "nvidia-h100": "nvidia-h100-80gb",
};

/** The table's name for `name` (itself, or what an alias stands for); undefined when unknown. */
export function resolveGpuType(table: GpuTable, name: string): string | undefined {
  if (table.gpus[name] !== undefined) return name;
  const alias = gpuAliases[name];
  return alias !== undefined && table.gpus[alias] !== undefined ? alias : undefined;
}

/** A GPU table that could not be read; the message names the source, entry, field and fix. */
export class GpuTableError extends Error {
  override name = "GpuTableError";
}

/** An override as read from YAML: entries replace, null entries delete, auto fields replace. */
export interface GpuTableOverride {
  gpus?: Record<string, GpuType | null>;
  huggingFaceJobsFlavors?: Record<string, HuggingFaceJobsFlavor | null>;
  auto?: {
    largeModelBillions?: number;
    kubernetes?: { small?: string[]; large?: string[] };
    huggingFaceJobs?: { small?: string[]; large?: string[] };
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function rejectUnknown(
  source: string,
  where: string,
  entry: Record<string, unknown>,
  known: readonly string[],
): void {
  const unknown = Object.keys(entry).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new GpuTableError(
      `${source}: ${where} has unknown field ${unknown.join(", ")}; use ${known.join(", ")}`,
    );
  }
}

function number(
  source: string,
  where: string,
  value: unknown,
  rule: { min: number; exclusive: boolean; integer?: boolean; what: string },
): number {
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (rule.exclusive ? value > rule.min : value >= rule.min) &&
    (rule.integer !== true || Number.isInteger(value));
  if (!ok) throw new GpuTableError(`${source}: ${where} must be ${rule.what}`);
  return value;
}

function entries<T>(
  source: string,
  section: string,
  value: unknown,
  parse: (entry: Record<string, unknown>, where: string) => T,
  shape: string,
): Record<string, T | null> {
  if (!isRecord(value)) {
    throw new GpuTableError(`${source}: ${section} must be a map of name → ${shape}`);
  }
  const out: Record<string, T | null> = {};
  for (const [name, entry] of Object.entries(value)) {
    const where = `${section}.${name}`;
    if (entry === null) out[name] = null;
    else if (isRecord(entry)) out[name] = parse(entry, where);
    else throw new GpuTableError(`${source}: ${where} must be ${shape} or null`);
  }
  return out;
}

function nameList(source: string, where: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v === "")) {
    throw new GpuTableError(`${source}: ${where} must be a list of names`);
  }
  return value as string[];
}

function candidates(
  source: string,
  where: string,
  value: unknown,
): { small?: string[]; large?: string[] } {
  if (!isRecord(value)) throw new GpuTableError(`${source}: ${where} must be { small, large }`);
  rejectUnknown(source, where, value, ["small", "large"]);
  return {
    ...(value.small !== undefined && {
      small: nameList(source, `${where}.small`, value.small),
    }),
    ...(value.large !== undefined && {
      large: nameList(source, `${where}.large`, value.large),
    }),
  };
}

/**
 * Reads an override table from YAML or JSON (a ConfigMap's `gpus.yaml`):
 * `{ gpus: { <type>: { memoryGiB, relativeThroughput, pricePerHourUSD } | null },
 *    huggingFaceJobsFlavors: { <flavor>: { gpuType, gpuCount, pricePerHourUSD } | null },
 *    auto: { largeModelBillions, kubernetes: { small, large }, huggingFaceJobs: { small, large } } }`.
 * Every section is optional; `source` names the file in errors.
 */
export function parseGpuTable(text: string, source: string): GpuTableOverride {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new GpuTableError(`${source}: not valid YAML or JSON`, { cause: error });
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) {
    throw new GpuTableError(
      `${source}: expected a map with gpus, huggingFaceJobsFlavors and auto, got ${typeof doc}`,
    );
  }
  rejectUnknown(source, "the table", doc, ["gpus", "huggingFaceJobsFlavors", "auto"]);
  const out: GpuTableOverride = {};
  const gpuShape = "{ memoryGiB, relativeThroughput, pricePerHourUSD }";
  if (doc.gpus !== undefined) {
    out.gpus = entries(
      source,
      "gpus",
      doc.gpus,
      (entry, where) => {
        rejectUnknown(source, where, entry, ["memoryGiB", "relativeThroughput", "pricePerHourUSD"]);
        return {
          memoryGiB: number(source, `${where}.memoryGiB`, entry.memoryGiB, {
            min: 0,
            exclusive: true,
            what: "a positive number of GiB per GPU",
          }),
          relativeThroughput: number(
            source,
            `${where}.relativeThroughput`,
            entry.relativeThroughput,
            { min: 0, exclusive: true, what: "a positive number (an NVIDIA A10G is 1)" },
          ),
          pricePerHourUSD: number(source, `${where}.pricePerHourUSD`, entry.pricePerHourUSD, {
            min: 0,
            exclusive: false,
            what: "a non-negative number of USD per GPU-hour",
          }),
        };
      },
      gpuShape,
    );
  }
  const flavorShape = "{ gpuType, gpuCount, pricePerHourUSD }";
  if (doc.huggingFaceJobsFlavors !== undefined) {
    out.huggingFaceJobsFlavors = entries(
      source,
      "huggingFaceJobsFlavors",
      doc.huggingFaceJobsFlavors,
      (entry, where) => {
        rejectUnknown(source, where, entry, ["gpuType", "gpuCount", "pricePerHourUSD"]);
        if (typeof entry.gpuType !== "string" || entry.gpuType === "") {
          throw new GpuTableError(`${source}: ${where}.gpuType must name an entry of gpus`);
        }
        return {
          gpuType: entry.gpuType,
          gpuCount: number(source, `${where}.gpuCount`, entry.gpuCount, {
            min: 1,
            exclusive: false,
            integer: true,
            what: "a whole number of GPUs, at least 1",
          }),
          pricePerHourUSD: number(source, `${where}.pricePerHourUSD`, entry.pricePerHourUSD, {
            min: 0,
            exclusive: false,
            what: "a non-negative number of USD per hour for the whole flavor",
          }),
        };
      },
      flavorShape,
    );
  }
  if (doc.auto !== undefined) {
    const auto = doc.auto;
    if (!isRecord(auto)) {
      throw new GpuTableError(
        `${source}: auto must be { largeModelBillions, kubernetes, huggingFaceJobs }`,
      );
    }
    rejectUnknown(source, "auto", auto, ["largeModelBillions", "kubernetes", "huggingFaceJobs"]);
    out.auto = {
      ...(auto.largeModelBillions !== undefined && {
        largeModelBillions: number(source, "auto.largeModelBillions", auto.largeModelBillions, {
          min: 0,
          exclusive: false,
          what: "a non-negative number of billions of parameters",
        }),
      }),
      ...(auto.kubernetes !== undefined && {
        kubernetes: candidates(source, "auto.kubernetes", auto.kubernetes),
      }),
      ...(auto.huggingFaceJobs !== undefined && {
        huggingFaceJobs: candidates(source, "auto.huggingFaceJobs", auto.huggingFaceJobs),
      }),
    };
  }
  return out;
}

function mergeEntries<T>(
  base: Readonly<Record<string, Readonly<T>>>,
  override: Readonly<Record<string, T | null>> | undefined,
): Record<string, T> {
  const merged = new Map<string, T>(Object.entries(base).map(([k, v]) => [k, { ...v }]));
  for (const [name, entry] of Object.entries(override ?? {})) {
    if (entry === null) merged.delete(name);
    else merged.set(name, { ...entry });
  }
  return Object.fromEntries(merged);
}

/**
 * `base` with `override` applied (entries replace, null entries delete, auto fields replace),
 * then checked as a whole: every flavor's gpuType and every auto candidate must exist. Throws
 * GpuTableError naming `source`.
 */
export function mergeGpuTables(
  base: GpuTable,
  override: GpuTableOverride,
  source: string,
): GpuTable {
  const auto = override.auto ?? {};
  const table: GpuTable = {
    gpus: mergeEntries(base.gpus, override.gpus),
    huggingFaceJobsFlavors: mergeEntries(
      base.huggingFaceJobsFlavors,
      override.huggingFaceJobsFlavors,
    ),
    auto: {
      largeModelBillions: auto.largeModelBillions ?? base.auto.largeModelBillions,
      kubernetes: { ...base.auto.kubernetes, ...auto.kubernetes },
      huggingFaceJobs: { ...base.auto.huggingFaceJobs, ...auto.huggingFaceJobs },
    },
  };
  for (const [name, f] of Object.entries(table.huggingFaceJobsFlavors)) {
    if (table.gpus[f.gpuType] === undefined) {
      throw new GpuTableError(
        `${source}: huggingFaceJobsFlavors.${name}.gpuType ${f.gpuType} is not in gpus; add it under gpus or remove the flavor (${name}: null)`,
      );
    }
  }
  for (const tier of ["small", "large"] as const) {
    for (const name of table.auto.kubernetes[tier]) {
      if (table.gpus[name] === undefined) {
        throw new GpuTableError(
          `${source}: auto.kubernetes.${tier} names ${name}, which is not in gpus; add it under gpus or name another type`,
        );
      }
    }
    for (const name of table.auto.huggingFaceJobs[tier]) {
      if (table.huggingFaceJobsFlavors[name] === undefined) {
        throw new GpuTableError(
          `${source}: auto.huggingFaceJobs.${tier} names ${name}, which is not in huggingFaceJobsFlavors; add it there or name another flavor`,
        );
      }
    }
  }
  return table;
}

/** Where the operators' GPU table lives (the controller's --gpu-table flag). */
export interface GpuTableRef {
  namespace: string;
  name: string;
  /** Default gpus.yaml. */
  key?: string;
}

/**
 * The GPU table for this reconcile: `base` (the defaults), then the ConfigMap's override, read
 * every time so operators can change prices without a restart. A ConfigMap or key that does not
 * exist (yet) leaves `base`. Throws GpuTableError when the override does not parse or check.
 */
export async function currentGpuTable(
  client: Pick<KubeClient, "getConfigMap">,
  base: GpuTable,
  ref: GpuTableRef | undefined,
): Promise<GpuTable> {
  if (ref === undefined) return base;
  const configMap = await client.getConfigMap({ namespace: ref.namespace, name: ref.name });
  const key = ref.key ?? "gpus.yaml";
  const text = configMap?.data?.[key];
  if (text === undefined) return base;
  const source = `configmap/${ref.namespace}/${ref.name} key ${key}`;
  return mergeGpuTables(base, parseGpuTable(text, source), source);
}
