import { describe, it } from "vitest";
import {
  binomialCdf,
  chiSquareSurvival,
  normalCdf,
  normalQuantile,
  studentTCdf,
  studentTQuantile,
} from "./distributions.js";
import { expectClose, loadReference } from "../../test/fixtures/stats/reference.js";

const ref = loadReference().distributions;

describe("distributions against scipy.stats", () => {
  it.each(ref.normalCdf)("norm.cdf($x)", ({ x, want }) => {
    expectClose(normalCdf(x), want, `normalCdf(${x})`);
  });
  it.each(ref.normalQuantile)("norm.ppf($p)", ({ p, want }) => {
    expectClose(normalQuantile(p), want, `normalQuantile(${p})`);
  });
  it.each(ref.tCdf)("t.cdf($x, df=$df)", ({ x, df, want }) => {
    expectClose(studentTCdf(x, df), want, `studentTCdf(${x}, ${df})`);
  });
  it.each(ref.tQuantile)("t.ppf($p, df=$df)", ({ p, df, want }) => {
    expectClose(studentTQuantile(p, df), want, `studentTQuantile(${p}, ${df})`);
  });
  it.each(ref.chiSquareSurvival)("chi2.sf($x, df=$df)", ({ x, df, want }) => {
    expectClose(chiSquareSurvival(x, df), want, `chiSquareSurvival(${x}, ${df})`);
  });
  it.each(ref.binomialCdf)("binom.cdf($k, $n, $p)", ({ k, n, p, want }) => {
    expectClose(binomialCdf(k, n, p), want, `binomialCdf(${k}, ${n}, ${p})`);
  });
});
