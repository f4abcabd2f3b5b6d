// Deterministic datasets and "models" with known accuracy for the local OpenAI-compatible server.
// Everything is derived from seeds, so a test knows in advance exactly which items each model
// answers correctly, and therefore the exact statistics an experiment must report.

/** One dataset item: the server recognizes it by finding `input` in the prompt. */
export interface DatasetItem {
  id: string;
  input: string;
  expected: string;
}

/** 32-bit FNV-1a, to turn names into seeds. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` distinct arithmetic questions ("What is 17 + 25?" → "42"), ids `q-0000`…; the same `seed`
 * gives the same dataset. The trailing "?" keeps every question from being a substring of another.
 */
export function arithmeticDataset(n: number, seed = 1): DatasetItem[] {
  const random = seededRandom(seed);
  const seen = new Set<string>();
  const items: DatasetItem[] = [];
  while (items.length < n) {
    const a = Math.floor(random() * 900) + 10;
    const b = Math.floor(random() * 900) + 10;
    const input = `What is ${a} + ${b}?`;
    if (seen.has(input)) continue;
    seen.add(input);
    items.push({
      id: `q-${String(items.length).padStart(4, "0")}`,
      input,
      expected: String(a + b),
    });
  }
  return items;
}

/**
 * Ids of the items `modelId` answers correctly: exactly round(accuracy · n) of them, chosen by a
 * shuffle seeded from the model id, so "acc-90" is right on a fixed 90% of any dataset.
 */
export function correctItemIds(
  modelId: string,
  accuracy: number,
  items: readonly DatasetItem[],
  seed = 0,
): Set<string> {
  const random = seededRandom(hashString(`${String(seed)}:${modelId}`));
  const order = items.map((item) => item.id);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = order[i] ?? "";
    order[i] = order[j] ?? "";
    order[j] = tmp;
  }
  return new Set(order.slice(0, Math.round(accuracy * items.length)));
}

/** A wrong answer that is wrong the same way every time (off by one for numbers). */
export function wrongAnswer(expected: string): string {
  const n = Number(expected);
  return Number.isFinite(n) && expected.trim() !== "" ? String(n + 1) : `not ${expected}`;
}

/** The item whose input occurs in `prompt`; the longest match wins if several do. */
export function findItem(items: readonly DatasetItem[], prompt: string): DatasetItem | undefined {
  let best: DatasetItem | undefined;
  for (const item of items) {
    if (
      prompt.includes(item.input) &&
      (best === undefined || item.input.length > best.input.length)
    ) {
      best = item;
    }
  }
  return best;
}
