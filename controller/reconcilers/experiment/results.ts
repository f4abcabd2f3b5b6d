// Per-item results, kept durably in owned ConfigMaps (`<experiment>-results-<n>`, JSON Lines under
// one key), so a restarted controller resumes without paying for a call twice. Pure: encoding,
// decoding and packing; the reconciler does the reads and writes.

/** The verdict of one evaluator, compactly. */
export interface ScoreRecord {
  score: number | null;
  passed: boolean | null;
  error?: string;
}

/** One scored (or definitively failed) model call. */
export interface ResultRecord {
  /** `variant/item/repetition`: the idempotency key. */
  key: string;
  variant: string;
  item: string;
  repetition: number;
  /** Model output, truncated to keep chunks small. */
  output?: string | null;
  latencyMs: number | null;
  costUSD: number | null;
  /** Token usage the provider reported. */
  usage?: { inputTokens: number; outputTokens: number };
  /** When the answer arrived (epoch ms), for tracking timelines. */
  at?: number;
  /** Calls billed (1, or 0 when the model refused the request). */
  calls: number;
  /** Set when the call failed for good (e.g. a 400): the item is not retried and not scored. */
  error?: string;
  /** The call was in flight when the controller was killed: never sent again, not scored. */
  interrupted?: true;
  scores: Record<string, ScoreRecord>;
}

/** Stays under the 1 MiB object limit with room for metadata. */
export const chunkLimitBytes = 900 * 1024;
export const chunkKey = "results.jsonl";
export const outputLimit = 2000;

/** The idempotency key of one unit of work. */
export function resultKey(variant: string, item: string, repetition: number): string {
  return `${variant}/${item}/${String(repetition)}`;
}

/** Name of chunk `index` of `experiment`'s results. */
export function chunkName(experiment: string, index: number): string {
  return `${experiment}-results-${String(index)}`;
}

/** Records in a chunk's text; a line that does not parse is skipped (and the item redone). */
export function decodeChunk(text: string | undefined): ResultRecord[] {
  const out: ResultRecord[] = [];
  for (const line of (text ?? "").split("\n")) {
    if (line.trim() === "") continue;
    try {
      const record = JSON.parse(line) as ResultRecord;
      if (typeof record.key === "string") out.push(record);
    } catch {
      // A torn write cannot happen with server-side apply; stay safe anyway.
    }
  }
  return out;
}

export function encodeRecord(record: ResultRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** A chunk as stored: its index and its text. */
export interface Chunk {
  index: number;
  text: string;
}

/**
 * Appends `records` to the chunks: to the last one while it stays under `limit` bytes, then to new
 * ones. Returns only the chunks that changed (to be written).
 */
export function appendRecords(
  chunks: readonly Chunk[],
  records: readonly ResultRecord[],
  limit = chunkLimitBytes,
): Chunk[] {
  const sorted = [...chunks].sort((a, b) => a.index - b.index);
  const last = sorted[sorted.length - 1];
  let current: Chunk = last ? { ...last } : { index: 0, text: "" };
  // Sizes are counted as lines are added: measuring the whole text each time is quadratic.
  let bytes = Buffer.byteLength(current.text);
  const changed = new Map<number, Chunk>();
  for (const record of records) {
    const line = encodeRecord(record);
    const lineBytes = Buffer.byteLength(line);
    if (current.text !== "" && bytes + lineBytes > limit) {
      current = { index: current.index + 1, text: "" };
      bytes = 0;
    }
    current.text += line;
    bytes += lineBytes;
    changed.set(current.index, current);
  }
  return [...changed.values()];
}
