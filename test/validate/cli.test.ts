// `llmops validate` as CI runs it: exit codes, the three output formats, directories, defaults.
import { mkdtemp, mkdir, writeFile, rm, cp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLlmops } from "../support/cli.js";
import { ExitCode } from "../../controller/cli/exit-codes.js";
import { fixturesDirectory, repositoryRoot } from "./fixtures.js";

const llmops = (...args: string[]) => runLlmops(args);

const invalid = (name: string) => join(fixturesDirectory, "invalid", name);
const rel = (name: string) => `test/validate/fixtures/invalid/${name}`;

let workdir = "";
const originalCwd = process.cwd();

beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), "llmops-validate-"));
});

afterAll(async () => {
  process.chdir(originalCwd);
  await rm(workdir, { recursive: true, force: true });
});

describe("llmops validate", () => {
  it("exits 0 on the specs/ examples and says so on stderr", async () => {
    const run = await llmops("validate", join(repositoryRoot, "specs"));
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("llmops validate: 6 files, 6 llmops objects: valid\n");
  });

  it("exits 1 and prints file:line:col: field: message for each problem", async () => {
    process.chdir(repositoryRoot);
    try {
      const run = await llmops("validate", invalid("prompt-template-both.yaml"));
      expect(run.code).toBe(ExitCode.Failure);
      const message =
        "set exactly one of template.text (a single text prompt) or template.messages (a chat prompt)";
      expect(run.stdout).toBe(
        `${rel("prompt-template-both.yaml")}:7:3: spec.template: ${message}\n` +
          // The same error, at the entry to remove (not counted twice).
          `${rel("prompt-template-both.yaml")}:9:5: spec.template.messages: ${message}: ` +
          "text is set as well; keep one of text, messages\n",
      );
      expect(run.stderr).toBe("llmops validate: 1 file, 1 llmops object: 1 error, 0 warnings\n");
    } finally {
      process.chdir(originalCwd);
    }
  });

  it("--output github writes workflow commands with escaped properties", async () => {
    process.chdir(repositoryRoot);
    try {
      const run = await llmops("validate", "-o", "github", invalid("prompt-unknown-field.yaml"));
      expect(run.code).toBe(ExitCode.Failure);
      expect(run.stdout).toBe(
        `::error file=${rel("prompt-unknown-field.yaml")},line=14,col=7,` +
          "title=llmops validate%3A spec.model.parameters.temprature::" +
          'spec.model.parameters.temprature: unknown field "temprature"; did you mean "temperature"?\n',
      );
    } finally {
      process.chdir(originalCwd);
    }
  });

  it("--output json reports every object and problem", async () => {
    const run = await llmops(
      "validate",
      "--output",
      "json",
      invalid("experiment-traffic-sum.yaml"),
      join(fixturesDirectory, "valid", "list-and-foreign.yaml"),
    );
    expect(run.code).toBe(ExitCode.Failure);
    const json = JSON.parse(run.stdout) as {
      valid: boolean;
      summary: Record<string, number>;
      problems: { severity: string; line: number; path: string; source: string; rule?: string }[];
      objects: { status: string; valid: boolean; object: { kind?: string } }[];
    };
    expect(json.valid).toBe(false);
    expect(json.summary).toEqual({
      files: 2,
      objects: 4,
      llmopsObjects: 2,
      skipped: 2,
      errors: 1,
      warnings: 1,
    });
    expect(json.problems.filter((p) => p.severity === "error")).toEqual([
      expect.objectContaining({
        line: 17,
        path: "spec.traffic.weights",
        source: "cel",
        rule: "self.weights.map(w, w.weight).sum() == 100",
      }),
    ]);
    expect(
      json.objects.map((o) => `${o.object.kind ?? ""} ${o.status} ${String(o.valid)}`),
    ).toEqual([
      "Experiment checked false",
      "Prompt checked true",
      "ConfigMap foreign true",
      "Deployment foreign true",
    ]);
  });

  it("walks directories, skipping dot-directories and non-manifest files", async () => {
    const dir = join(workdir, "walk");
    await mkdir(join(dir, "nested"), { recursive: true });
    await mkdir(join(dir, ".hidden"), { recursive: true });
    await cp(invalid("kind-unknown.yaml"), join(dir, ".hidden", "bad.yaml"));
    await cp(invalid("kind-unknown.yaml"), join(dir, "README.md"));
    await cp(join(fixturesDirectory, "valid", "prompt-minimal.yaml"), join(dir, "nested", "p.yml"));
    await cp(join(fixturesDirectory, "valid", "prompt-json-object.json"), join(dir, "p.json"));
    const run = await llmops("validate", dir);
    expect(run.code).toBe(ExitCode.Ok);
    expect(run.stderr).toBe("llmops validate: 2 files, 2 llmops objects: valid\n");
  });

  it("defaults to ./specs, and says so when it is missing", async () => {
    process.chdir(repositoryRoot);
    try {
      expect((await llmops("validate")).code).toBe(ExitCode.Ok);
    } finally {
      process.chdir(originalCwd);
    }
    const empty = join(workdir, "empty");
    await mkdir(empty, { recursive: true });
    process.chdir(empty);
    try {
      const run = await llmops("validate");
      expect(run.code).toBe(ExitCode.Usage);
      expect(run.stderr).toMatch(/no paths given, and \.\/specs \(the default\) does not exist/);
    } finally {
      process.chdir(originalCwd);
    }
  });

  it("exits 2 on usage errors: a missing path, an unknown format", async () => {
    const missing = await llmops("validate", join(workdir, "nope.yaml"));
    expect(missing.code).toBe(ExitCode.Usage);
    expect(missing.stderr).toMatch(/nope\.yaml: no such file or directory/);
    const format = await llmops("validate", "-o", "xml", repositoryRoot);
    expect(format.code).toBe(ExitCode.Usage);
  });

  it("reads other CRDs with --crds", async () => {
    const crds = join(workdir, "crds");
    await mkdir(crds, { recursive: true });
    await cp(join(repositoryRoot, "crds", "llmops.dev_prompts.yaml"), join(crds, "prompts.yaml"));
    const manifest = join(workdir, "experiment.yaml");
    await writeFile(
      manifest,
      "apiVersion: llmops.dev/v1alpha1\nkind: Experiment\nmetadata: {name: e}\nspec: {}\n",
    );
    const run = await llmops("validate", "--crds", crds, manifest);
    expect(run.code).toBe(ExitCode.Failure);
    expect(run.stdout).toMatch(/kind: llmops\.dev has no kind "Experiment"/);
  });
});
