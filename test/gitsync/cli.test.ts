// `llmops diff`, `llmops status` and `llmops sync` against the real control plane, with real git.
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadCrds } from "../../controller/api/crds.js";
import type { DiffReport } from "../../controller/cli/diff.js";
import { runLlmops } from "../support/cli.js";
import type { StatusReport } from "../../controller/cli/status.js";
import {
  DirectorySync,
  watchDirectory,
  type DirectorySyncResult,
} from "../../controller/cli/sync.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { KubeObject } from "../../controller/kube/resources.js";
import { PromptType } from "../../controller/api/kinds.js";
import { readSyncState } from "../../controller/gitsync/sync-status.js";
import { testCluster, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { createGitFixture, promptYaml, type GitFixture } from "./git-fixtures.js";
import { createSyncer, type SyncerHarness } from "./harness.js";

type PromptObject = KubeObject & { spec: { template: { messages: { content: string }[] } } };

const cli = runLlmops;

describe("llmops diff, status and sync", () => {
  const ns = useTestNamespace("gitsync-cli");
  let client: KubeClient;
  let repo: GitFixture;
  let harness: SyncerHarness | undefined;
  let kubeconfig = "";

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
    kubeconfig = testCluster().kubeconfigPath;
  });
  beforeEach(async () => {
    repo = await createGitFixture();
  });
  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
    await repo.cleanup();
  });

  const systemText = async (name: string) =>
    (await client.tryGet<PromptObject>(PromptType, { namespace: ns.name, name }))?.spec.template
      .messages[0]?.content;

  it("diff --ref lists create, update (field level), prune and unchanged; exit 3, then 0 once applied", async () => {
    await repo.write("specs/keep.yaml", promptYaml("keep"));
    await repo.write("specs/change.yaml", promptYaml("change", { system: "before" }));
    await repo.write("specs/drop.yaml", promptYaml("drop"));
    await repo.commit("initial");
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "cli", url: repo.bare },
    });
    expect((await harness.syncer.syncNow("cli")).state).toBe("applied");

    const base = [
      "diff",
      "-C",
      repo.work,
      "--source",
      "cli",
      "--namespace",
      ns.name,
      "--status-namespace",
      ns.name,
      "--kubeconfig",
      kubeconfig,
    ];
    const clean = await cli([...base, "--ref", "HEAD"]);
    expect(clean.code, clean.stderr + clean.stdout).toBe(0);
    expect(clean.stdout).toContain("0 to create, 0 to update, 0 to prune, 3 unchanged");

    await repo.write("specs/change.yaml", promptYaml("change", { system: "after" }));
    await repo.write("specs/new.yaml", promptYaml("new"));
    await repo.remove("specs/drop.yaml");
    await repo.commit("pull request", { push: false });

    const json = await cli([...base, "--ref", "HEAD", "-o", "json"]);
    expect(json.code, json.stderr).toBe(3);
    const report = JSON.parse(json.stdout) as DiffReport;
    const byName = Object.fromEntries(report.changes.map((c) => [c.name, c]));
    expect(byName.new?.action).toBe("create");
    expect(byName.drop?.action).toBe("prune");
    expect(byName.keep?.action).toBe("unchanged");
    expect(byName.change).toMatchObject({
      action: "update",
      file: "specs/change.yaml",
      fields: [
        {
          path: "spec.template.messages[0].content",
          op: "change",
          from: "before",
          to: "after",
        },
      ],
    });
    // Dry run only: the cluster did not change.
    expect(await systemText("change")).toBe("before");

    const markdown = await cli([...base, "--ref", "HEAD", "--output", "markdown"]);
    expect(markdown.code).toBe(3);
    expect(markdown.stdout).toContain("### llmops diff");
    expect(markdown.stdout).toContain("| update | Prompt |");
    expect(markdown.stdout).toContain('+ spec.template.messages[0].content: "after"');

    // The working tree (--dir) of the same change gives the same answer.
    const dir = await cli([...base, "--dir", join(repo.work, "specs")]);
    expect(dir.code, dir.stderr).toBe(3);
    expect(dir.stdout).toContain("update Prompt");

    await repo.write(
      "specs/new.yaml",
      promptYaml("new").replace("temperature: 0", "temperature: hot"),
    );
    const invalid = await cli([...base, "--dir", join(repo.work, "specs")]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/new\.yaml:\d+:\d+: spec\.model\.parameters\.temperature/);
  });

  it("status shows managed objects with their revision and the sync state of each source", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage"));
    const sha = await repo.commit("triage");
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "stat", url: repo.bare },
    });
    expect((await harness.syncer.syncNow("stat")).state).toBe("applied");

    const json = await cli(["status", "-n", ns.name, "--kubeconfig", kubeconfig, "-o", "json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport;
    expect(report.objects).toEqual([
      expect.objectContaining({ kind: "Prompt", name: "triage", source: "stat", revision: sha }),
    ]);
    expect(report.sources).toEqual([
      expect.objectContaining({
        source: "stat",
        ready: "True",
        lastAppliedRevision: sha,
        objects: 1,
      }),
    ]);
    const text = await cli(["status", "-n", ns.name, "--kubeconfig", kubeconfig]);
    expect(text.stdout).toMatch(/SOURCE\s+READY\s+APPLIED/);
    expect(text.stdout).toMatch(
      new RegExp(`Prompt\\s+${ns.name}\\s+triage\\s+\\S+\\s+.*stat\\s+${sha.slice(0, 7)}`),
    );
  });

  it("diff right after sync, both without --source, finds nothing to change (exit 0)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llmops-sync-diff-"));
    try {
      await mkdir(join(dir, "prompts"));
      await writeFile(join(dir, "prompts", "a.yaml"), promptYaml("a", { system: "a1" }));
      await writeFile(join(dir, "prompts", "b.yaml"), promptYaml("b", { system: "b1" }));
      const common = ["--dir", dir, "--namespace", ns.name, "--kubeconfig", kubeconfig];
      const synced = await cli(["sync", ...common]);
      expect(synced.code, synced.stderr).toBe(0);
      const diff = await cli(["diff", ...common, "-o", "json"]);
      const report = JSON.parse(diff.stdout) as DiffReport;
      expect(
        report.changes
          .map((c) => ({ name: c.name, action: c.action }))
          .sort((x, y) => x.name.localeCompare(y.name)),
        diff.stdout,
      ).toEqual([
        { name: "a", action: "unchanged" },
        { name: "b", action: "unchanged" },
      ]);
      expect(diff.code, diff.stderr).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("sync --dir applies a directory as a whole, refuses a broken one, prunes; --watch follows changes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llmops-sync-dir-"));
    try {
      await mkdir(join(dir, "prompts"));
      await writeFile(join(dir, "prompts", "a.yaml"), promptYaml("a", { system: "a1" }));
      await writeFile(join(dir, "prompts", "b.yaml"), promptYaml("b", { system: "b1" }));
      const args = ["sync", "--dir", dir, "--namespace", ns.name, "--kubeconfig", kubeconfig];
      const first = await cli(args);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain("created 2");
      expect(await systemText("a")).toBe("a1");

      await writeFile(join(dir, "prompts", "a.yaml"), promptYaml("a", { system: "a2" }));
      await writeFile(
        join(dir, "prompts", "b.yaml"),
        promptYaml("b", { system: "b2" }).replace("temperature: 0", "temperature: hot"),
      );
      const broken = await cli(args);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain("b.yaml:");
      expect(await systemText("a")).toBe("a1");
      const state = await readSyncState(client, ns.name, "local");
      expect(state?.status.conditions.find((c) => c.type === "Ready")?.reason).toBe(
        "ValidationFailed",
      );

      await rm(join(dir, "prompts", "b.yaml"));
      const pruned = await cli(args);
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(await systemText("a")).toBe("a2");
      expect(await systemText("b")).toBeUndefined();

      // --watch: a change to the directory is applied without running the command again.
      const sync = new DirectorySync(client, await loadCrds(), {
        dir,
        cwd: dir,
        source: "local",
        namespace: ns.name,
        statusNamespace: ns.name,
        prune: true,
      });
      const results: DirectorySyncResult[] = [];
      const stop = new AbortController();
      const watching = watchDirectory(sync, {
        dir,
        debounceMs: 100,
        signal: stop.signal,
        onResult: (r) => results.push(r),
      });
      await eventually("initial sync", () => (results.length >= 1 ? true : undefined));
      await writeFile(join(dir, "prompts", "a.yaml"), promptYaml("a", { system: "a3" }));
      await eventually("watched change applied", async () =>
        (await systemText("a")) === "a3" ? true : undefined,
      );
      stop.abort();
      await watching;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
