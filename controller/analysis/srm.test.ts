import { describe, expect, it } from "vitest";
import { normalCdf } from "./distributions.js";
import { sampleRatioMismatch } from "./srm.js";

describe("sampleRatioMismatch", () => {
  it("two variants: χ² with df 1, whose survival is 2Φ(−√x)", () => {
    // 5,100 vs 4,900 on 50/50: expected 5,000 each, χ² = (100² + 100²) / 5,000 = 4.
    const r = sampleRatioMismatch([
      { variant: "a", observed: 5100, weight: 50 },
      { variant: "b", observed: 4900, weight: 50 },
    ]);
    expect(r.chiSquare).toBeCloseTo(4, 12);
    expect(r.df).toBe(1);
    expect(r.pValue).toBeCloseTo(2 * normalCdf(-2), 12);
    expect(r.mismatch).toBe(false); // p ≈ 0.0455 is above 0.001
  });

  it("three variants: χ² with df 2, whose survival is exp(−x/2)", () => {
    // 80/10/10 with 1,000 units: expected 800, 100, 100.
    const r = sampleRatioMismatch([
      { variant: "a", observed: 750, weight: 80 },
      { variant: "b", observed: 140, weight: 10 },
      { variant: "c", observed: 110, weight: 10 },
    ]);
    const x = (50 * 50) / 800 + (40 * 40) / 100 + (10 * 10) / 100;
    expect(r.chiSquare).toBeCloseTo(x, 12);
    expect(r.df).toBe(2);
    expect(r.pValue).toBeCloseTo(Math.exp(-x / 2), 10);
    expect(r.mismatch).toBe(true);
    expect(r.expected).toEqual([800, 100, 100]);
  });

  it("a unit on a variant with weight 0 is a mismatch", () => {
    const r = sampleRatioMismatch([
      { variant: "a", observed: 10, weight: 100 },
      { variant: "b", observed: 1, weight: 0 },
    ]);
    expect(r.mismatch).toBe(true);
    expect(r.pValue).toBe(0);
  });

  it("no units is no mismatch", () => {
    const r = sampleRatioMismatch([
      { variant: "a", observed: 0, weight: 50 },
      { variant: "b", observed: 0, weight: 50 },
    ]);
    expect(r).toMatchObject({ mismatch: false, pValue: 1 });
  });

  it("flags a 6% loss of one variant's units at 20,000 units, not a fair split", () => {
    const fair = sampleRatioMismatch([
      { variant: "a", observed: 10_040, weight: 50 },
      { variant: "b", observed: 9_960, weight: 50 },
    ]);
    expect(fair.mismatch).toBe(false);
    const lossy = sampleRatioMismatch([
      { variant: "a", observed: 10_000, weight: 50 },
      { variant: "b", observed: 9_400, weight: 50 },
    ]);
    expect(lossy.mismatch).toBe(true);
  });
});
