// `llmops promote experiment/<name>` against the real control plane and a real git repository:
// Prompts arrive through git sync and are versioned by the real Prompt reconciler (history and
// snapshots are real); the Experiment's result is written through its status subresource.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type {
  Experiment,
  ExperimentStatus,
  Prompt,
  PromptSpec,
} from "../../controller/api/generated/index.js";
import { runLlmops } from "../support/cli.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { KubeObject } from "../../controller/kube/resources.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import { PromptType, promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { testCluster, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { createGitFixture, promptYaml, type GitFixture } from "../gitsync/git-fixtures.js";
import { createSyncer, type SyncerHarness } from "../gitsync/harness.js";

type PromptObject = Prompt & KubeObject;
const file = "specs/prompts/triage.yaml";

const cli = runLlmops;

describe("llmops promote", () => {
  const ns = useTestNamespace("promote");
  let client: KubeClient;
  let kubeconfig = "";
  let repo: GitFixture;
  let harness: SyncerHarness | undefined;
  let stopManager: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
    kubeconfig = testCluster().kubeconfigPath;
  });
  beforeEach(async () => {
    repo = await createGitFixture();
  });
  afterEach(async () => {
    await stopManager?.();
    stopManager = undefined;
    await harness?.cleanup();
    harness = undefined;
    await repo.cleanup();
  });

  const getPrompt = () =>
    client.get<PromptObject>(PromptType, { namespace: ns.name, name: "triage" });
  const atVersion = (version: number, labels: string[]) =>
    eventually(
      `Prompt triage at version ${String(version)} with [${labels.join(", ")}]`,
      async () => {
        const p = await getPrompt();
        const ready = p.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        return ready &&
          p.status?.version === version &&
          p.status.observedGeneration === p.metadata.generation &&
          JSON.stringify(p.spec.labels) === JSON.stringify(labels)
          ? p
          : undefined;
      },
    );
  const head = async () => (await repo.git.revparse(["HEAD"])).trim();
  const fileSpec = async () =>
    (parse(await readFile(join(repo.work, file), "utf8")) as { spec: PromptSpec }).spec;

  /** triage v1 ("v1 wording"), then v2 ("v2 wording"), both labelled production in git; synced. */
  async function promptWithTwoVersions(): Promise<void> {
    const { logger } = memoryLogger("info");
    const manager = new Manager({ client, logger, namespaces: [ns.name] });
    manager.add(promptController());
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    stopManager = async () => {
      stop.abort();
      await done;
    };
    await repo.write(file, `# Support triage.\n${promptYaml("triage", { system: "v1 wording" })}`);
    await repo.write("specs/prompts/other.yaml", promptYaml("other"));
    await repo.commit("triage v1");
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "main", url: repo.bare },
    });
    expect((await harness.syncer.syncNow("main")).state).toBe("applied");
    await atVersion(1, ["production"]);
    await repo.write(file, `# Support triage.\n${promptYaml("triage", { system: "v2 wording" })}`);
    await repo.commit("triage v2");
    expect((await harness.syncer.syncNow("main")).state).toBe("applied");
    await atVersion(2, ["production"]);
  }

  /** An Experiment comparing v1 (control) with v2, and its result written as the controller would. */
  async function experiment(status: ExperimentStatus, label = "canary"): Promise<void> {
    const manifest: Experiment = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "v1-vs-v2", namespace: ns.name },
      spec: {
        variants: [
          { name: "v1", control: true, prompt: { name: "triage", version: 1 } },
          { name: "v2", prompt: { name: "triage", version: 2 } },
        ],
        dataset: { inline: { items: [{ id: "a", vars: { ticket: "x" }, expected: "y" }] } },
        evaluators: [{ name: "correctness", type: "exactMatch" }],
        promotion: { policy: "manual", label },
      },
    };
    const created = await client.apply(ExperimentType, manifest);
    await client.mergePatchStatus(
      ExperimentType,
      { namespace: ns.name, name: "v1-vs-v2" },
      { observedGeneration: created.metadata.generation, ...status },
    );
  }
  const completed = (winner: "v1" | "v2"): ExperimentStatus => ({
    phase: "Completed",
    winner,
    recommendation: `${winner} beats the other on correctness by +8.1 pts, p = 0.003`,
    results: [
      { variant: "v1", promptVersion: 1 },
      { variant: "v2", promptVersion: 2 },
    ],
  });
  const promote = (...extra: string[]) =>
    cli([
      "promote",
      "experiment/v1-vs-v2",
      "-n",
      ns.name,
      "--kubeconfig",
      kubeconfig,
      "--dir",
      repo.work,
      ...extra,
    ]);

  it("a live winner: a commit that adds the label, -o json; the cluster follows; then nothing to do", async () => {
    await promptWithTwoVersions();
    await experiment(completed("v2"));
    const before = await head();

    const run = await promote("--push", "-o", "json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      prompt: "triage",
      version: 2,
      label: "canary",
      changed: true,
      pushed: true,
      file,
    });
    const commit = await head();
    expect(report.commit).toBe(commit);
    expect(commit).not.toBe(before);
    expect(await repo.git.raw(["rev-parse", "origin/main"])).toContain(commit);
    const message = await repo.git.raw(["log", "-1", "--format=%B"]);
    expect(message).toMatch(
      /^promote: Prompt triage version 2 gets label canary \(Experiment v1-vs-v2: v2 beats the other/,
    );
    expect(message).toContain(`Llmops-Experiment: ${ns.name}/v1-vs-v2`);
    expect((await fileSpec()).labels).toEqual(["production", "canary"]);
    expect(await readFile(join(repo.work, file), "utf8")).toMatch(/^# Support triage\.\n/);
    const changed = await repo.git.raw(["diff", "--name-only", before, commit]);
    expect(changed.trim()).toBe(file);

    expect((await harness?.syncer.syncNow("main"))?.state).toBe("applied");
    await atVersion(2, ["production", "canary"]);

    const again = await promote();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /^nothing to do: Prompt triage version 2 is live and already has label canary/,
    );
    expect(await head()).toBe(commit);
  });

  it("a winner that is not live: the file gets that version's content and the label; the Prompt gets version 1 back", async () => {
    await promptWithTwoVersions();
    await experiment(completed("v1"));

    const run = await promote("--push");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^promoted Prompt triage version 1: label canary in specs\/prompts\/triage\.yaml/,
    );
    const spec = await fileSpec();
    expect(spec.template.messages?.[0]?.content).toBe("v1 wording");
    expect(spec.labels).toEqual(["production", "canary"]);
    expect(await repo.git.raw(["log", "-1", "--format=%B"])).toContain(
      "writes its content back to specs/prompts/triage.yaml",
    );

    expect((await harness?.syncer.syncNow("main"))?.state).toBe("applied");
    const restored = await atVersion(1, ["production", "canary"]);
    expect(restored.status?.history?.map((h) => h.version)).toEqual([1, 2]);
  });

  it("no winner: exit 1 with what status says, no commit", async () => {
    await promptWithTwoVersions();
    await experiment({
      phase: "Completed",
      recommendation: "no significant difference with n = 40 (best: v2 +1.2 pts, p = 0.41)",
      results: [
        { variant: "v1", promptVersion: 1 },
        { variant: "v2", promptVersion: 2 },
      ],
    });
    const before = await head();
    const run = await promote();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "has no winner (phase Completed: no significant difference with n = 40",
    );
    expect(await head()).toBe(before);

    await client.mergePatchStatus(
      ExperimentType,
      { namespace: ns.name, name: "v1-vs-v2" },
      { phase: "Running", recommendation: null },
    );
    const running = await promote();
    expect(running.code).toBe(1);
    expect(running.stderr).toContain("is not Completed (phase Running)");
  });

  it("uncommitted changes to the file: an error, no commit", async () => {
    await promptWithTwoVersions();
    await experiment(completed("v2"));
    const before = await head();
    const path = join(repo.work, file);
    const edited = `${await readFile(path, "utf8")}# a local note\n`;
    await writeFile(path, edited);
    const run = await promote();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file} has uncommitted changes`);
    expect(await head()).toBe(before);
    expect(await readFile(path, "utf8")).toBe(edited);
  });

  it("--dry-run prints the diff and the new labels, commits nothing", async () => {
    await promptWithTwoVersions();
    await experiment(completed("v2"));
    const before = await head();
    const text = await readFile(join(repo.work, file), "utf8");
    const run = await promote("--dry-run");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`--- a/${file}`);
    expect(run.stdout).toMatch(/^\+ +- canary$/m);
    expect(run.stdout).toContain("would promote Prompt triage version 2: label canary");
    expect(run.stdout).toContain("spec.labels [production, canary]");
    expect(await head()).toBe(before);
    expect(await readFile(join(repo.work, file), "utf8")).toBe(text);
    expect((await repo.git.raw(["status", "--porcelain"])).trim()).toBe("");
  });

  it("usage errors exit 2; an unreachable cluster exits 4", async () => {
    expect((await cli(["promote", "prompt/triage"])).code).toBe(2);
    expect((await cli(["promote", "experiment/"])).code).toBe(2);
    const unreachable = join(repo.root, "kubeconfig");
    await writeFile(
      unreachable,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]",
        "current-context: x",
      ].join("\n"),
    );
    const run = await cli([
      "promote",
      "experiment/v1-vs-v2",
      "--kubeconfig",
      unreachable,
      "--dir",
      repo.work,
    ]);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain("cannot read Experiment team/v1-vs-v2 from the cluster");
  });
});
