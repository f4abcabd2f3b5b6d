import { describe, expect, it } from "vitest";
import { assignVariant, variantAt } from "./assignment.js";
import { FingerprintSet, decodeFingerprints, encodeFingerprints } from "./fingerprints.js";

const uid = "0b7e4c1e-6a55-4d1f-9a3c-2f1d8e9b7a10";
const fifty = [
  { variant: "a", weight: 50 },
  { variant: "b", weight: 50 },
];

describe("assignVariant", () => {
  // Points and fingerprints computed with Python's hashlib from the documented recipe.
  const vectors = [
    { salt: "", unit: "user-1", point: 0.41060415958054364, fingerprint: "03346b6fef3505b9" },
    { salt: "", unit: "user-2", point: 0.5289603066630661, fingerprint: "2cc3cbf9d94eaa1c" },
    { salt: "s1", unit: "user-1", point: 0.5502798235975206, fingerprint: "d580a4abcd61dc7a" },
    { salt: "", unit: "ü-ñ", point: 0.8215173010248691, fingerprint: "17126fd7c7ae951b" },
  ];
  for (const v of vectors) {
    it(`matches an independent computation for unit ${v.unit} salt "${v.salt}"`, () => {
      const a = assignVariant({ uid, salt: v.salt, unit: v.unit, weights: fifty });
      expect(a.point).toBe(v.point);
      const hex = a.unit.hi.toString(16).padStart(8, "0") + a.unit.lo.toString(16).padStart(8, "0");
      expect(hex).toBe(v.fingerprint);
      expect(a.variant).toBe(v.point < 0.5 ? "a" : "b");
    });
  }

  it("maps points onto cumulative weights in spec order, skipping weight 0", () => {
    const weights = [
      { variant: "a", weight: 10 },
      { variant: "z", weight: 0 },
      { variant: "b", weight: 30 },
      { variant: "c", weight: 60 },
    ];
    expect(variantAt(0, weights)).toBe("a");
    expect(variantAt(0.0999, weights)).toBe("a");
    expect(variantAt(0.1, weights)).toBe("b");
    expect(variantAt(0.3999, weights)).toBe("b");
    expect(variantAt(0.4, weights)).toBe("c");
    expect(variantAt(0.999999, weights)).toBe("c");
  });

  it("is sticky and splits 10,000 units by the weights", () => {
    const weights = [
      { variant: "a", weight: 80 },
      { variant: "b", weight: 20 },
    ];
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 10_000; i++) {
      const unit = `u${String(i)}`;
      const first = assignVariant({ uid, salt: "", unit, weights });
      expect(assignVariant({ uid, salt: "", unit, weights }).variant).toBe(first.variant);
      counts[first.variant as "a" | "b"] += 1;
    }
    // 2,000 expected, binomial SD 40: ±160 is four SDs.
    expect(Math.abs(counts.b - 2000)).toBeLessThan(160);
  });
});

describe("FingerprintSet", () => {
  it("adds, finds and grows; the stored form round-trips", () => {
    const set = new FingerprintSet(4);
    const all = Array.from({ length: 5000 }, (_, i) => ({
      hi: (i + 1) * 7919,
      lo: ((i + 1) * 104729) >>> 0,
    }));
    for (const f of all) expect(set.add(f)).toBe(true);
    expect(set.size).toBe(5000);
    for (const f of all) expect(set.add(f)).toBe(false);
    expect(set.has({ hi: 1, lo: 2 })).toBe(false);
    expect(decodeFingerprints(encodeFingerprints(all))).toEqual(all);
  });
});
