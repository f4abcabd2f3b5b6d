// `llmops rollback` refusing what it cannot do safely: a file with uncommitted edits (which the
// rollback would overwrite or commit under its own message) and an object git does not hold. Real
// git, the in-process CLI; the rollback itself reaching the cluster is in webhook-rollback.test.ts.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runLlmops } from "../support/cli.js";
import { createGitFixture, promptYaml, type GitFixture } from "./git-fixtures.js";

describe("llmops rollback in a working tree", () => {
  let repo: GitFixture;
  const file = "specs/prompts/triage.yaml";
  beforeEach(async () => {
    repo = await createGitFixture();
    await repo.write(file, promptYaml("triage", { system: "first wording" }));
    await repo.commit("triage v1", { push: false });
    await repo.write(file, promptYaml("triage", { system: "second wording" }));
    await repo.commit("triage v2", { push: false });
  });
  afterEach(async () => {
    await repo.cleanup();
  });

  const head = async () => (await repo.git.revparse(["HEAD"])).trim();
  const onDisk = () => readFile(join(repo.work, file), "utf8");

  it.each([
    { name: "unstaged", stage: false },
    { name: "staged", stage: true },
  ])("a file with $name edits: exit 1, the edits kept, nothing committed", async ({ stage }) => {
    const edited = promptYaml("triage", { system: "work in progress, not committed" });
    await repo.write(file, edited);
    if (stage) await repo.git.add([file]);
    const before = await head();

    const run = await runLlmops(["rollback", "prompt/triage", "-C", repo.work]);

    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(
      `llmops rollback: ${file} has uncommitted changes; commit or stash them, then run the rollback again`,
    );
    expect(await onDisk()).toBe(edited);
    expect(await head()).toBe(before);
  });

  it("an object that is not in git: exit 1 (a failure, not a usage error)", async () => {
    const run = await runLlmops(["rollback", "prompt/nope", "-C", repo.work]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain("Prompt nope is not defined under specs/ at HEAD");
  });

  it("a clean file still rolls back (exit 0), and a bad selector is still a usage error (2)", async () => {
    expect((await runLlmops(["rollback", "triage", "-C", repo.work])).code).toBe(2);
    const run = await runLlmops(["rollback", "prompt/triage", "-C", repo.work]);
    expect(run.code, run.stderr).toBe(0);
    expect(await onDisk()).toContain("first wording");
    expect((await repo.git.raw(["status", "--porcelain"])).trim()).toBe("");
  });
});
