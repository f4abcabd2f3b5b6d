// The manifest fixtures of test/validate/fixtures/ and the expectations written in them.
//
// An expectation is a comment at the end of the line where a finding must be reported:
//   `# expect-error: spec.template` — an error about field spec.template on this line;
//   `# expect-warning: <path>`     — a warning; `# expect-error` alone — an error without a field
//   (malformed YAML). Comments inside block scalars are text, so no marker goes there.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const fixturesDirectory = fileURLToPath(new URL("./fixtures/", import.meta.url));
export const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface Expectation {
  severity: "error" | "warning";
  line: number;
  /** Formatted field path, or undefined when the marker names none. */
  path: string | undefined;
}

export interface Fixture {
  /** Path relative to the repository root, as findings report it. */
  file: string;
  absolutePath: string;
  text: string;
  expectations: Expectation[];
}

const markerRe = /#\s*expect-(error|warning)(?::\s*(\S+))?\s*$/;

export function expectationsOf(text: string): Expectation[] {
  const out: Expectation[] = [];
  text.split("\n").forEach((line, i) => {
    const match = markerRe.exec(line);
    if (match === null) return;
    out.push({ severity: match[1] as Expectation["severity"], line: i + 1, path: match[2] });
  });
  return out;
}

function readFixture(absolutePath: string): Fixture {
  const text = readFileSync(absolutePath, "utf8");
  return {
    file: relative(repositoryRoot, absolutePath),
    absolutePath,
    text,
    expectations: expectationsOf(text),
  };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name))
    .filter((p) => statSync(p).isFile() && /\.(ya?ml|json)$/.test(p));
}

/** One file per invalid object. */
export function invalidFixtures(): Fixture[] {
  return listFiles(join(fixturesDirectory, "invalid")).map(readFixture);
}

/** Files whose objects are all valid (warnings allowed). */
export function validFixtures(): Fixture[] {
  return listFiles(join(fixturesDirectory, "valid")).map(readFixture);
}

/** The working examples in specs/. */
export function specFixtures(): Fixture[] {
  const out: Fixture[] = [];
  for (const dir of ["prompts", "experiments", "models"]) {
    out.push(...listFiles(join(repositoryRoot, "specs", dir)).map(readFixture));
  }
  return out;
}

/** Directories whose files are validated together (duplicates, references). */
export function fixtureSets(): { name: string; files: Fixture[] }[] {
  const root = join(fixturesDirectory, "sets");
  return readdirSync(root)
    .sort()
    .map((name) => ({ name, files: listFiles(join(root, name)).map(readFixture) }));
}
