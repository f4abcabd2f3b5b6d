import { describe, expect, it } from "vitest";
import { loadReference } from "../../test/fixtures/stats/reference.js";
import { sampleSizeTwoMeans, sampleSizeTwoProportions } from "./sample-size.js";

const ref = loadReference().sampleSize;

describe("required sample size against the scipy-computed formula", () => {
  it.each(ref.twoProportions)(
    "two proportions: $baseline → +$effect at α=$alpha, power $power",
    ({ baseline, effect, alpha, power, want }) => {
      expect(sampleSizeTwoProportions(baseline, effect, { alpha, power })).toBe(want);
    },
  );

  it.each(ref.twoMeans)(
    "two means: σ=$sd, δ=$effect at α=$alpha, power $power",
    ({ sd, effect, alpha, power, want }) => {
      expect(sampleSizeTwoMeans(sd, effect, { alpha, power })).toBe(want);
    },
  );
});

describe("sample size edge cases", () => {
  it("needs infinitely many items to detect no effect", () => {
    expect(sampleSizeTwoProportions(0.5, 0)).toBe(Infinity);
    expect(sampleSizeTwoMeans(1, 0)).toBe(Infinity);
  });

  it("rejects a target proportion outside [0, 1]", () => {
    expect(() => sampleSizeTwoProportions(0.97, 0.05)).toThrow(RangeError);
  });

  it("never asks for fewer than two items", () => {
    expect(sampleSizeTwoMeans(0, 1)).toBe(2);
  });
});
