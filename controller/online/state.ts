// The durable form of an online experiment's run: one "head" ConfigMap per Experiment holding the
// per-variant sufficient statistics (exposures; n, mean and M2 per metric), the list of sealed
// fingerprint segments, and the newest fingerprints (the tails) of units and outcome ids. When a
// tail grows past `sealAt` it is moved into an immutable segment ConfigMap of its own, so the head
// stays small (under 100 KiB) and no object is written per event. Pure.
import { emptyMoments, type Moments } from "../analysis/moments.js";
import type { ConfigMap } from "../kube/resources.js";
import { decodeFingerprints, encodeFingerprints, type Fingerprint } from "./fingerprints.js";

export const stateKey = "state.json";
export const unitsKey = "units";
export const outcomesKey = "outcomes";

/** Fingerprints per tail before it is sealed into a segment (32 KiB raw, ~44 KiB base64). */
export const defaultSealAt = 4096;

export interface VariantStats {
  /** Distinct units exposed. */
  exposures: number;
  /** Sufficient statistics per metric. */
  metrics: Record<string, Moments>;
}

export interface SegmentRef {
  name: string;
  kind: "units" | "outcomes";
  count: number;
}

/** What state.json holds. */
export interface RunState {
  version: 1;
  runId: string;
  /** When the run started (status.online.startedAt): an older run never overwrites a newer one. */
  startedAt: string;
  variants: Record<string, VariantStats>;
  /** Outcomes counted (duplicates excluded). */
  outcomes: number;
  segments: SegmentRef[];
  /** Where the Langfuse import continues from (ISO timestamp of the newest score read). */
  langfuseCursor?: string;
}

/** The decoded head: state and tails. */
export interface RunHead {
  state: RunState;
  units: Fingerprint[];
  outcomeIds: Fingerprint[];
}

export function emptyRunState(runId: string, startedAt: string): RunState {
  return { version: 1, runId, startedAt, variants: {}, outcomes: 0, segments: [] };
}

/** Name of the head ConfigMap of Experiment `experiment`. */
export function headName(experiment: string): string {
  return `${experiment}-online`;
}

/** Name of a sealed segment: the run, the kind and a suffix unique to the writer. */
export function segmentName(experiment: string, kind: SegmentRef["kind"], suffix: string): string {
  return `${experiment}-online-${kind === "units" ? "u" : "o"}-${suffix}`;
}

/** The stats of `variant`, created empty when missing (mutates `state`). */
export function variantStats(state: RunState, variant: string): VariantStats {
  const existing = state.variants[variant];
  if (existing !== undefined) return existing;
  const created: VariantStats = { exposures: 0, metrics: {} };
  state.variants[variant] = created;
  return created;
}

/** The moments of `metric` in `variant` (empty when nothing was reported). */
export function metricMoments(state: RunState, variant: string, metric: string): Moments {
  return state.variants[variant]?.metrics[metric] ?? emptyMoments;
}

function isMoments(value: unknown): value is Moments {
  const m = value as Partial<Moments> | null;
  return (
    typeof m === "object" &&
    m !== null &&
    Number.isInteger(m.n) &&
    typeof m.mean === "number" &&
    typeof m.m2 === "number"
  );
}

/** The state in a head ConfigMap, or undefined when it is missing or does not parse. */
export function decodeRunState(configMap: ConfigMap | undefined): RunState | undefined {
  const text = configMap?.data?.[stateKey];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const s = parsed as Partial<RunState> | null;
  if (
    typeof s !== "object" ||
    s === null ||
    s.version !== 1 ||
    typeof s.runId !== "string" ||
    typeof s.startedAt !== "string" ||
    typeof (s.variants as unknown) !== "object" ||
    (s.variants as unknown) === null ||
    !Array.isArray(s.segments)
  ) {
    return undefined;
  }
  const variants = s.variants as Record<string, VariantStats>;
  for (const v of Object.values(variants)) {
    if (!Number.isInteger(v.exposures) || typeof v.metrics !== "object") return undefined;
    if (!Object.values(v.metrics).every(isMoments)) return undefined;
  }
  return {
    version: 1,
    runId: s.runId,
    startedAt: s.startedAt,
    variants,
    outcomes: typeof s.outcomes === "number" ? s.outcomes : 0,
    segments: s.segments,
    ...(typeof s.langfuseCursor === "string" ? { langfuseCursor: s.langfuseCursor } : {}),
  };
}

/** The head as stored: state and tails. */
export function decodeRunHead(configMap: ConfigMap | undefined): RunHead | undefined {
  const state = decodeRunState(configMap);
  if (state === undefined) return undefined;
  return {
    state,
    units: decodeFingerprints(configMap?.binaryData?.[unitsKey]),
    outcomeIds: decodeFingerprints(configMap?.binaryData?.[outcomesKey]),
  };
}

/** The data and binaryData of a head ConfigMap. */
export function encodeRunHead(head: RunHead): Pick<ConfigMap, "data" | "binaryData"> {
  return {
    data: { [stateKey]: JSON.stringify(head.state) },
    binaryData: {
      [unitsKey]: encodeFingerprints(head.units),
      [outcomesKey]: encodeFingerprints(head.outcomeIds),
    },
  };
}

/** Which run wins when two meet in one head: the later start; equal starts break by runId. */
export function newerRun(
  a: Pick<RunState, "runId" | "startedAt">,
  b: Pick<RunState, "runId" | "startedAt">,
): boolean {
  const ta = Date.parse(a.startedAt);
  const tb = Date.parse(b.startedAt);
  if (ta !== tb) return ta > tb;
  return a.runId > b.runId;
}
