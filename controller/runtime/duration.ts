// Go-style durations (`30s`, `1m30s`, `500ms`, `2h`), as Kubernetes users write them in specs.
const durationPart = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `value`; throws RangeError naming the expected form. Pure. */
export function parseDuration(value: string): number {
  const text = value.trim();
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(durationPart)) {
    if (match.index !== consumed) break;
    total += Number(match[1]) * (unitMs[match[2] ?? ""] ?? 0);
    consumed += match[0].length;
  }
  if (text === "" || consumed !== text.length) {
    throw new RangeError(`"${value}" is not a duration; write it like 30s, 5m or 1m30s`);
  }
  return total;
}
