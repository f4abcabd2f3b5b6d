// The online analysis under continuous monitoring, by simulation (issue 15): the false-positive
// rate of the mSPRT over many A/A experiments looked at after every batch of outcomes, beside a
// fixed-horizon z-test wrongly re-run at every look, and the power and stopping time on an A/B with
// a known effect. The unit tests (controller/analysis/sequential.test.ts) assert the bounds on
// 1,000 runs; this prints the figures. Prints JSON; never fails.
// `npm run bench:sequential [-- --runs 2000]`.
import {
  addValue,
  alwaysValidPValue,
  emptyMoments,
  momentsVariance,
  msprt,
  twoSidedNormalP,
  type Moments,
} from "../controller/analysis/index.js";

const i = process.argv.indexOf("--runs");
const runs = i >= 0 ? Number(process.argv[i + 1]) : 2000;
const alpha = 0.05;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function experiment(
  control: () => number,
  candidate: () => number,
  look: number,
  min: number,
  max: number,
): { msprt: number | null; naive: boolean } {
  let a: Moments = emptyMoments;
  let b: Moments = emptyMoments;
  let p: number | undefined;
  let naive = false;
  let stopped: number | null = null;
  while (a.n < max && (stopped === null || !naive)) {
    for (let k = 0; k < look; k++) {
      a = addValue(a, control());
      b = addValue(b, candidate());
    }
    if (a.n < min) continue;
    const se = Math.sqrt(momentsVariance(a) / a.n + momentsVariance(b) / b.n);
    if (se > 0 && twoSidedNormalP((b.mean - a.mean) / se) <= alpha) naive = true;
    if (stopped === null) {
      p = alwaysValidPValue(p, msprt(b, a, { alpha, effectSize: 0.1 }).pValue);
      if (p <= alpha) stopped = a.n;
    }
  }
  return { msprt: stopped, naive };
}

const random = rng(7);
const bernoulli = (q: number) => () => (random() < q ? 1 : 0);
let aaMsprt = 0;
let aaNaive = 0;
for (let r = 0; r < runs; r++) {
  const e = experiment(bernoulli(0.2), bernoulli(0.2), 50, 100, 5000);
  if (e.msprt !== null) aaMsprt++;
  if (e.naive) aaNaive++;
}
const stops: number[] = [];
const abRuns = Math.max(100, Math.round(runs / 4));
for (let r = 0; r < abRuns; r++) {
  const e = experiment(bernoulli(0.1), bernoulli(0.13), 100, 100, 20_000);
  if (e.msprt !== null) stops.push(e.msprt);
}
stops.sort((x, y) => x - y);
console.log(
  JSON.stringify(
    {
      alpha,
      aa: {
        runs,
        design: "conversion 20% vs 20%, a look every 50 outcomes per arm from 100 to 5,000",
        msprtFalsePositiveRate: aaMsprt / runs,
        peekedZTestFalsePositiveRate: aaNaive / runs,
      },
      ab: {
        runs: abRuns,
        design: "conversion 10% vs 13%, a look every 100 per arm up to 20,000",
        power: stops.length / abRuns,
        medianStopPerArm: stops[Math.floor(stops.length / 2)] ?? null,
        p90StopPerArm: stops[Math.floor(stops.length * 0.9)] ?? null,
      },
    },
    null,
    2,
  ),
);
