// Cost of a call from its token usage. The defaults are list prices (USD per million tokens) at
// the time of writing; they drift, so operators override them from a ConfigMap, and a model with no
// price gets cost null (unknown) rather than 0, so a budget is never silently blind.
import { parse as parseYaml } from "yaml";
import type { TokenUsage } from "./types.js";

/** Price of one model in USD per million tokens. */
export interface ModelPrice {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** Prices by model id. */
export type PriceTable = Readonly<Record<string, Readonly<ModelPrice>>>;

const p = (inputPerMillion: number, outputPerMillion: number): ModelPrice => ({
  inputPerMillion,
  outputPerMillion,
});

/** The price table the controller ships with; a fresh copy each call so nobody mutates a shared one. */
export function defaultPriceTable(): PriceTable {
  return {
    "gpt-5": p(1.25, 10),
    "gpt-5-mini": p(0.25, 2),
    "gpt-5-nano": p(0.05, 0.4),
    "gpt-4.1": p(2, 8),
    "gpt-4.1-mini": p(0.4, 1.6),
    "gpt-4.1-nano": p(0.1, 0.4),
    "gpt-4o": p(2.5, 10),
    "gpt-4o-mini": p(0.15, 0.6),
    "gpt-4-turbo": p(10, 30),
    "gpt-3.5-turbo": p(0.5, 1.5),
    o1: p(15, 60),
    o3: p(2, 8),
    "o3-mini": p(1.1, 4.4),
    "o4-mini": p(1.1, 4.4),
    "claude-opus-4": p(15, 75),
    "claude-sonnet-4": p(3, 15),
    "claude-3-7-sonnet": p(3, 15),
    "claude-3-5-sonnet": p(3, 15),
    "claude-3-5-haiku": p(0.8, 4),
    "gemini-2.5-pro": p(1.25, 10),
    "gemini-2.5-flash": p(0.3, 2.5),
    "gemini-2.0-flash": p(0.1, 0.4),
  };
}

/** A price table that could not be read; the message names the source, model and field. */
export class PriceTableError extends Error {
  override name = "PriceTableError";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads an override table from YAML or JSON (e.g. a ConfigMap's `prices.yaml`):
 * `{ "<model>": { inputPerMillion: 2.5, outputPerMillion: 10 }, "<model>": null }`. A null entry
 * removes a default price (the model's cost becomes unknown). `source` names the file in errors.
 */
export function parsePriceTable(text: string, source: string): Record<string, ModelPrice | null> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new PriceTableError(`${source}: not valid YAML or JSON`, { cause: error });
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) {
    throw new PriceTableError(`${source}: expected a map of model id → price, got ${typeof doc}`);
  }
  const out: Record<string, ModelPrice | null> = {};
  for (const [model, entry] of Object.entries(doc)) {
    if (entry === null) {
      out[model] = null;
      continue;
    }
    if (!isRecord(entry)) {
      throw new PriceTableError(
        `${source}: ${model} must be { inputPerMillion, outputPerMillion } (USD per million tokens) or null`,
      );
    }
    const price: Partial<ModelPrice> = {};
    for (const field of ["inputPerMillion", "outputPerMillion"] as const) {
      const value = entry[field];
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new PriceTableError(
          `${source}: ${model}.${field} must be a non-negative number of USD per million tokens`,
        );
      }
      price[field] = value;
    }
    const unknown = Object.keys(entry).filter(
      (k) => k !== "inputPerMillion" && k !== "outputPerMillion",
    );
    if (unknown.length > 0) {
      throw new PriceTableError(
        `${source}: ${model} has unknown field ${unknown.join(", ")}; use inputPerMillion and outputPerMillion`,
      );
    }
    out[model] = price as ModelPrice;
  }
  return out;
}

/** `base` with `override` applied: entries replace, null entries delete. */
export function mergePriceTables(
  base: PriceTable,
  override: Readonly<Record<string, ModelPrice | null>>,
): PriceTable {
  const merged = new Map<string, ModelPrice>(Object.entries(base));
  for (const [model, price] of Object.entries(override)) {
    if (price === null) merged.delete(model);
    else merged.set(model, { ...price });
  }
  return Object.fromEntries(merged);
}

// Dated snapshots and aliases share the base model's price: gpt-4o-2024-08-06, claude-3-5-haiku-20241022, …-latest.
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{2}-\d{2}|latest|preview)$/;

/**
 * The price of `model`: exact id, then without a provider prefix (`openai/gpt-4o` on OpenRouter),
 * then the base model of a dated snapshot. Other near-misses (`o3-pro` vs `o3`) stay unknown on
 * purpose: a wrong price is worse than none.
 */
export function lookupPrice(table: PriceTable, model: string): ModelPrice | null {
  const candidates = [model];
  const slash = model.lastIndexOf("/");
  if (slash >= 0) candidates.push(model.slice(slash + 1));
  for (const id of candidates) {
    const exact = table[id];
    if (exact !== undefined) return exact;
  }
  for (const id of candidates) {
    let best: string | null = null;
    for (const key of Object.keys(table)) {
      if (id.startsWith(key) && SNAPSHOT_SUFFIX.test(id.slice(key.length))) {
        if (best === null || key.length > best.length) best = key;
      }
    }
    if (best !== null) return table[best] ?? null;
  }
  return null;
}

/** USD for `usage` on `model`; null when the model has no price or the usage is unknown. */
export function costOf(table: PriceTable, model: string, usage: TokenUsage | null): number | null {
  if (usage === null) return null;
  const price = lookupPrice(table, model);
  if (price === null) return null;
  return (
    (usage.inputTokens * price.inputPerMillion + usage.outputTokens * price.outputPerMillion) /
    1_000_000
  );
}
