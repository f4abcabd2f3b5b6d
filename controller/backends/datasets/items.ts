// Dataset items for an offline experiment, whatever their source: JSON Lines parsing, ids settled,
// the limit applied and duplicate ids rejected. Pure: the sources (a file each, beside this one)
// do the reading and pass the text or objects in.
import type { ExperimentDataset } from "../../api/generated/index.js";

/** One dataset item, with its id settled (the index when the source gives none). */
export interface DatasetItem {
  id: string;
  vars: Record<string, unknown>;
  expected?: unknown;
}

/** A dataset that cannot be used; the message names the source, the line and the fix. */
export class DatasetError extends Error {
  override name = "DatasetError";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toItem(raw: unknown, index: number, where: string): DatasetItem {
  if (!isObject(raw)) throw new DatasetError(`${where}: an item must be a JSON object`);
  const vars = raw["vars"];
  if (!isObject(vars)) {
    throw new DatasetError(`${where}: the item needs "vars", an object of prompt variables`);
  }
  const id = raw["id"];
  if (id !== undefined && typeof id !== "string" && typeof id !== "number") {
    throw new DatasetError(`${where}: "id" must be a string or a number`);
  }
  const item: DatasetItem = { id: id === undefined ? String(index) : String(id), vars };
  if (raw["expected"] !== undefined) item.expected = raw["expected"];
  return item;
}

/**
 * Parses JSON Lines (one item per non-blank line). `source` names where the text came from, e.g.
 * `configmap/qa key dataset.jsonl`; errors point at the 1-based line.
 */
export function parseJsonLines(text: string, source: string): DatasetItem[] {
  const items: DatasetItem[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source} line ${String(i + 1)}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new DatasetError(`${where}: not valid JSON (${reason})`, { cause: error });
    }
    items.push(toItem(raw, items.length, where));
  });
  return items;
}

/** The inline items of `dataset`, ids settled. */
export function inlineItems(dataset: ExperimentDataset): DatasetItem[] {
  return (dataset.inline?.items ?? []).map((raw, i) =>
    toItem(raw, i, `spec.dataset.inline.items[${String(i)}]`),
  );
}

/** Applies `limit` and rejects duplicate ids (results are keyed by id). */
export function finalizeItems(items: DatasetItem[], source: string, limit?: number): DatasetItem[] {
  const kept = limit === undefined ? items : items.slice(0, limit);
  if (kept.length === 0) throw new DatasetError(`${source}: the dataset has no items`);
  const seen = new Set<string>();
  for (const item of kept) {
    if (seen.has(item.id)) {
      throw new DatasetError(
        `${source}: item id "${item.id}" occurs twice; ids must be unique (results are keyed by id)`,
      );
    }
    seen.add(item.id);
  }
  return kept;
}

/** `configmap/<name> key <key>`, how errors name a ConfigMap dataset. */
export function configMapSource(name: string, key: string): string {
  return `configmap/${name} key ${key}`;
}
