// 64-bit fingerprints (the first bytes of a SHA-256) of the units an online experiment has seen
// and of the outcome ids it has counted: the memory that makes exposures unique and outcomes
// idempotent. A set holds them in two Uint32Arrays with open addressing (16 bytes a slot at most
// half full), a tenth of what a Set of strings costs; the stored form is 8 bytes each, big-endian.
// Collisions: with a million ids the chance that any two share a fingerprint is about 3 · 10⁻⁸.

/** A fingerprint as two 32-bit halves. (0, 0) is reserved for an empty slot and never produced. */
export interface Fingerprint {
  hi: number;
  lo: number;
}

/** The fingerprint in bytes `offset`…`offset + 8` of `digest`. */
export function fingerprintAt(digest: Uint8Array, offset: number): Fingerprint {
  const view = new DataView(digest.buffer, digest.byteOffset + offset, 8);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  return hi === 0 && lo === 0 ? { hi: 0, lo: 1 } : { hi, lo };
}

export class FingerprintSet {
  #hi: Uint32Array;
  #lo: Uint32Array;
  #size = 0;

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  has(f: Fingerprint): boolean {
    const mask = this.#hi.length - 1;
    for (let i = (f.lo ^ f.hi) & mask; ; i = (i + 1) & mask) {
      const hi = this.#hi[i] ?? 0;
      const lo = this.#lo[i] ?? 0;
      if (hi === 0 && lo === 0) return false;
      if (hi === f.hi && lo === f.lo) return true;
    }
  }

  /** Adds `f`; false when it was there already. */
  add(f: Fingerprint): boolean {
    if ((this.#size + 1) * 2 > this.#hi.length) this.#grow();
    const mask = this.#hi.length - 1;
    for (let i = (f.lo ^ f.hi) & mask; ; i = (i + 1) & mask) {
      const hi = this.#hi[i] ?? 0;
      const lo = this.#lo[i] ?? 0;
      if (hi === f.hi && lo === f.lo) return false;
      if (hi === 0 && lo === 0) {
        this.#hi[i] = f.hi;
        this.#lo[i] = f.lo;
        this.#size += 1;
        return true;
      }
    }
  }

  #grow(): void {
    const oldHi = this.#hi;
    const oldLo = this.#lo;
    this.#hi = new Uint32Array(oldHi.length * 2);
    this.#lo = new Uint32Array(oldLo.length * 2);
    this.#size = 0;
    for (let i = 0; i < oldHi.length; i++) {
      const hi = oldHi[i] ?? 0;
      const lo = oldLo[i] ?? 0;
      if (hi !== 0 || lo !== 0) this.add({ hi, lo });
    }
  }
}

/** `fingerprints` as stored: 8 bytes each, big-endian, base64 (ConfigMap binaryData). */
export function encodeFingerprints(fingerprints: readonly Fingerprint[]): string {
  const bytes = Buffer.alloc(fingerprints.length * 8);
  fingerprints.forEach((f, i) => {
    bytes.writeUInt32BE(f.hi, i * 8);
    bytes.writeUInt32BE(f.lo, i * 8 + 4);
  });
  return bytes.toString("base64");
}

/** The fingerprints in `base64` (a trailing partial entry is ignored). */
export function decodeFingerprints(base64: string | undefined): Fingerprint[] {
  if (base64 === undefined || base64 === "") return [];
  const bytes = Buffer.from(base64, "base64");
  const out: Fingerprint[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    out.push({ hi: bytes.readUInt32BE(i), lo: bytes.readUInt32BE(i + 4) });
  }
  return out;
}
