// Offline validation against the fixture tables: every invalid manifest is rejected with the
// error at the file:line its marker names; every valid one passes. (The same fixtures go to the
// real apiserver in parity.test.ts.)
import { beforeAll, describe, expect, it } from "vitest";
import { loadCrds } from "../../controller/api/crds.js";
import {
  validateManifests,
  type ManifestProblem,
  type ManifestReport,
} from "../../controller/api/manifests/validate-manifests.js";
import {
  createObjectValidator,
  type ObjectValidator,
} from "../../controller/api/validation/object-validator.js";
import {
  fixtureSets,
  invalidFixtures,
  specFixtures,
  validFixtures,
  type Expectation,
  type Fixture,
} from "./fixtures.js";

let validator: ObjectValidator;

beforeAll(async () => {
  validator = createObjectValidator(await loadCrds());
});

function run(files: Fixture[]): ManifestReport {
  return validateManifests(
    files.map((f) => ({ file: f.file, text: f.text })),
    validator,
  );
}

function show(problems: ManifestProblem[]): string {
  return problems
    .map(
      (p) => `  ${p.severity} ${p.file}:${String(p.line)}:${String(p.col)} ${p.path}: ${p.message}`,
    )
    .join("\n");
}

function expectFound(report: ManifestReport, file: string, expected: Expectation): void {
  const found = report.problems.some(
    (p) =>
      p.file === file &&
      p.severity === expected.severity &&
      p.line === expected.line &&
      (expected.path === undefined || p.path === expected.path),
  );
  expect(
    found,
    `expected ${expected.severity} ${expected.path ?? "(no field)"} at ${file}:${String(expected.line)}; got:\n${show(report.problems)}`,
  ).toBe(true);
}

const invalid = invalidFixtures();
const valid = validFixtures();

describe("invalid manifests", () => {
  it("cover every kind, with at least 40 fixtures", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(40);
    for (const kind of ["Prompt", "Experiment", "TrainingJob", "ModelDeployment"]) {
      const count = invalid.filter((f) => f.text.includes(`kind: ${kind}\n`)).length;
      expect(count, kind).toBeGreaterThanOrEqual(8);
    }
  });

  it.each(invalid.map((f) => [f.file, f] as const))("%s", (_name, fixture) => {
    expect(fixture.expectations.length, "the fixture marks where its error is").toBeGreaterThan(0);
    const report = run([fixture]);
    expect(report.valid, show(report.problems)).toBe(false);
    for (const expected of fixture.expectations) expectFound(report, fixture.file, expected);
  });
});

describe("valid manifests", () => {
  it.each(valid.map((f) => [f.file, f] as const))("%s", (_name, fixture) => {
    const report = run([fixture]);
    expect(report.errors, show(report.problems)).toBe(0);
    expect(report.valid).toBe(true);
    for (const expected of fixture.expectations) expectFound(report, fixture.file, expected);
  });
});

describe("specs/ examples", () => {
  it("are valid together, without warnings", () => {
    const specs = specFixtures();
    const kinds = specs.map((f) => /^kind: (\w+)$/m.exec(f.text)?.[1]).sort();
    expect(kinds).toEqual([
      "Experiment",
      "Experiment",
      "ModelDeployment",
      "Prompt",
      "TrainingJob",
      "TrainingJob",
    ]);
    const report = run(specs);
    expect(report.problems, show(report.problems)).toEqual([]);
  });
});

describe("sets of files", () => {
  it.each(fixtureSets().map((s) => [s.name, s] as const))("%s", (_name, set) => {
    const report = run(set.files);
    for (const f of set.files) {
      for (const expected of f.expectations) expectFound(report, f.file, expected);
    }
    const expectedErrors = set.files
      .flatMap((f) => f.expectations)
      .filter((e) => e.severity === "error");
    expect(report.errors, show(report.problems)).toBe(expectedErrors.length);
  });
});
