// Which variant a unit gets in an online experiment: deterministic, weighted and sticky, from a
// hash an application can compute itself (so it may assign offline and only report outcomes):
//
//   digest = SHA-256( UTF-8( "<experiment uid>:<salt>:<unit>" ) )
//   point  = (first 4 bytes of digest, big-endian unsigned) / 2³²            in [0, 1)
//   variant = the first entry of traffic.weights, in spec order, whose cumulative weight / 100
//             exceeds point (weights of 0 never match)
//
// The same unit keeps its variant as long as the uid, the salt and the weights stay; changing
// spec.traffic.salt reshuffles every unit (and starts a new run). Bytes 8–15 of the same digest
// are the unit's fingerprint, which counts it once as an exposure. Pure.
import { hash } from "node:crypto";
import { fingerprintAt, type Fingerprint } from "./fingerprints.js";

export interface TrafficWeight {
  variant: string;
  weight: number;
}

export interface Assignment {
  variant: string;
  /** Where the unit's hash fell in [0, 1). */
  point: number;
  /** The unit's fingerprint in this run (bytes 8–15 of the digest). */
  unit: Fingerprint;
}

/** The digest the assignment is computed from. */
export function assignmentDigest(uid: string, salt: string, unit: string): Buffer {
  // The one-shot hash: several times faster than createHash() for short inputs.
  return hash("sha256", `${uid}:${salt}:${unit}`, "buffer");
}

/** The variant `unit` gets under `weights` (percentages that add up to 100). */
export function assignVariant(options: {
  uid: string;
  salt: string;
  unit: string;
  weights: readonly TrafficWeight[];
}): Assignment {
  const digest = assignmentDigest(options.uid, options.salt, options.unit);
  const point = digest.readUInt32BE(0) / 2 ** 32;
  return { variant: variantAt(point, options.weights), point, unit: fingerprintAt(digest, 8) };
}

/** The variant whose cumulative weight band contains `point`. */
export function variantAt(point: number, weights: readonly TrafficWeight[]): string {
  const total = weights.reduce((sum, w) => sum + w.weight, 0);
  let cumulative = 0;
  let last = "";
  for (const w of weights) {
    if (w.weight <= 0) continue;
    cumulative += w.weight;
    last = w.variant;
    if (point < cumulative / total) return w.variant;
  }
  return last; // only reached through rounding at the very top of the range
}

/** The fingerprint of an outcome id (bytes 0–7 of its SHA-256). */
export function outcomeFingerprint(id: string): Fingerprint {
  return fingerprintAt(hash("sha256", id, "buffer"), 0);
}
