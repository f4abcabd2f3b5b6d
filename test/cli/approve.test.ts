// `llmops approve trainingjob/<name>` against the real control plane and a real git repository:
// the TrainingJob is applied to the cluster and its status (phase, runId, estimate) written
// through the status subresource, as the controller would; the approval is a commit in a clone
// that pushes to a bare repository.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TrainingJob, TrainingJobStatus } from "../../controller/api/generated/index.js";
import { TrainingJobType } from "../../controller/api/kinds.js";
import { approvedRunAnnotation, pathAnnotation } from "../../controller/api/well-known.js";
import { applyApprovalEdit } from "../../controller/cli/approve.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { createGitFixture, type GitFixture } from "../gitsync/git-fixtures.js";
import { newClient } from "../runtime/helpers.js";
import { runLlmops } from "../support/cli.js";
import { testCluster, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { installCrds } from "../validate/install-crds.js";

const file = "specs/models/coder-7b-lora.yaml";
const runId = "0123456789abcdef";
const spec: TrainingJob["spec"] = {
  baseModel: { repo: "Qwen/Qwen2.5-Coder-7B-Instruct", parametersBillions: 7.6 },
  dataset: { configMap: { name: "code-review" } },
  lora: { rank: 16 },
  output: { volume: { claimName: "models" } },
  budget: { maxCostUSD: 150, approvalThresholdUSD: 50 },
};

/** The manifest as people write it: comments, flush sequences, a second document after it. */
const manifest = [
  "# LoRA fine-tuning of the 7B coder. Runs above $50 wait for `llmops approve`.",
  "apiVersion: llmops.dev/v1alpha1",
  "kind: TrainingJob",
  "metadata:",
  "  name: coder-7b-lora # the run's name",
  "spec:",
  "  baseModel:",
  "    repo: Qwen/Qwen2.5-Coder-7B-Instruct",
  "    parametersBillions: 7.6",
  "  dataset:",
  "    configMap:",
  "      name: code-review",
  "  lora:",
  "    rank: 16",
  "    targetModules:",
  "    - q_proj",
  "    - v_proj",
  "  output:",
  "    volume:",
  "      claimName: models",
  "  budget:",
  "    maxCostUSD: 150",
  "    approvalThresholdUSD: 50 # above this, approval",
  "---",
  "# Another object in the same file stays byte for byte.",
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata: {name: code-review}",
  "data: {dataset.jsonl: ''}",
  "",
].join("\n");

const awaiting: TrainingJobStatus = {
  phase: "AwaitingApproval",
  runId,
  estimate: { gpuType: "nvidia-h100-80gb", gpuCount: 8, hours: 3.5, costUSD: 192.64 },
};

describe("llmops approve", () => {
  const ns = useTestNamespace("approve");
  let client: KubeClient;
  let kubeconfig = "";
  let repo: GitFixture;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
    kubeconfig = testCluster().kubeconfigPath;
  });
  beforeEach(async () => {
    repo = await createGitFixture();
    await repo.write(file, manifest);
    await repo.write(
      "specs/prompts/other.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    await repo.commit("the training job");
  });
  afterEach(async () => {
    await repo.cleanup();
  });

  /** The TrainingJob in the cluster (as git sync applies it), with the controller's status. */
  async function live(
    status: TrainingJobStatus | undefined,
    annotations: Record<string, string> = {},
  ): Promise<void> {
    const created = await client.apply(TrainingJobType, {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      metadata: {
        name: "coder-7b-lora",
        namespace: ns.name,
        annotations: { [pathAnnotation]: file, ...annotations },
      },
      spec,
    });
    if (status === undefined) return;
    await client.mergePatchStatus(
      TrainingJobType,
      { namespace: ns.name, name: "coder-7b-lora" },
      { observedGeneration: created.metadata.generation, ...status },
    );
  }
  const approve = (...extra: string[]) =>
    runLlmops([
      "approve",
      "trainingjob/coder-7b-lora",
      "-n",
      ns.name,
      "--kubeconfig",
      kubeconfig,
      "--dir",
      repo.work,
      ...extra,
    ]);
  const head = async () => (await repo.git.revparse(["HEAD"])).trim();
  const text = () => readFile(join(repo.work, file), "utf8");
  const annotationsInFile = async () =>
    (
      parseAllDocuments(await text())[0]?.toJS() as {
        metadata: { annotations?: Record<string, string> };
      }
    ).metadata.annotations;

  it("commits the annotation for the live runId, pushes; a second approve commits nothing", async () => {
    await live(awaiting);
    const before = await head();

    const run = await approve("--push", "-o", "json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    const commit = await head();
    expect(commit).not.toBe(before);
    expect(report).toEqual({
      trainingJob: "coder-7b-lora",
      namespace: ns.name,
      runId,
      file,
      commit,
      changed: true,
      pushed: true,
      dryRun: false,
      estimate: awaiting.estimate,
    });
    expect(await repo.git.raw(["rev-parse", "origin/main"])).toContain(commit);

    // The commit: this one file, the annotation added, everything else as it was.
    expect((await repo.git.raw(["diff", "--name-only", before, commit])).trim()).toBe(file);
    expect(await annotationsInFile()).toEqual({ [approvedRunAnnotation]: runId });
    const after = await text();
    expect(after).toBe(
      manifest.replace(
        "  name: coder-7b-lora # the run's name\n",
        `  name: coder-7b-lora # the run's name\n  annotations:\n    ${approvedRunAnnotation}: ${runId}\n`,
      ),
    );
    const message = await repo.git.raw(["log", "-1", "--format=%B"]);
    expect(message).toBe(
      `approve: TrainingJob coder-7b-lora run ${runId}\n\n` +
        `Approves run ${runId} of TrainingJob ${ns.name}/coder-7b-lora, estimated at $192.64 on 8 × nvidia-h100-80gb, 3.5 h, above spec.budget.approvalThresholdUSD $50.00.\n\n` +
        "The run starts once the controller applies this commit. The approval binds to this run only: a change to the training spec is a new run that needs its own.\n\n" +
        `Llmops-TrainingJob: ${ns.name}/coder-7b-lora\nLlmops-Approved-Run: ${runId}\n\n`,
    );
    expect((await repo.git.raw(["log", "-1", "--format=%an"])).trim()).toBe("llmops test");

    // The cluster has not applied it yet: the file already says it, nothing to commit.
    const again = await approve();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(
      `nothing to do: ${file} already approves run ${runId} of TrainingJob ${ns.name}/coder-7b-lora (the cluster has not applied it yet, or is applying it now)\n`,
    );
    expect(await head()).toBe(commit);

    // The cluster applied it and the run started: still nothing to do.
    await live({ ...awaiting, phase: "Running" }, { [approvedRunAnnotation]: runId });
    const running = await approve();
    expect(running.code, running.stderr).toBe(0);
    expect(running.stdout).toBe(
      `nothing to do: run ${runId} of TrainingJob ${ns.name}/coder-7b-lora is already approved (phase Running)\n`,
    );
    expect(await head()).toBe(commit);
  });

  it("--dry-run prints the diff and changes nothing", async () => {
    await live(awaiting);
    const before = await head();
    const run = await approve("--dry-run");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`--- a/${file}\n+++ b/${file}\n@@`);
    expect(run.stdout).toMatch(/^\+ {2}annotations:$/m);
    expect(run.stdout).toMatch(new RegExp(`^\\+ {4}llmops\\.dev/approved-run: ${runId}$`, "m"));
    expect(run.stdout).toContain(
      `would approve run ${runId} of TrainingJob ${ns.name}/coder-7b-lora: ${approvedRunAnnotation} in ${file}; nothing committed (--dry-run)`,
    );
    expect(await head()).toBe(before);
    expect(await text()).toBe(manifest);
    expect((await repo.git.raw(["status", "--porcelain"])).trim()).toBe("");
  });

  it("a new run replaces the approval of the old one", async () => {
    await repo.write(
      file,
      manifest.replace(
        "  name: coder-7b-lora # the run's name\n",
        `  name: coder-7b-lora # the run's name\n  annotations:\n    team: ml # owners\n    ${approvedRunAnnotation}: "fedcba9876543210"\n`,
      ),
    );
    await repo.commit("approved the first run");
    await live(awaiting, { [approvedRunAnnotation]: "fedcba9876543210" });
    const run = await approve();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^approved run ${runId} of TrainingJob ${ns.name}/coder-7b-lora: ${approvedRunAnnotation} in ${file.replace(/\./g, "\\.")} \\(replacing the approval of run fedcba9876543210\\); commit [0-9a-f]{7}; push it \\(or use --push\\) for the cluster to follow\\n$`,
      ),
    );
    expect(await annotationsInFile()).toEqual({ team: "ml", [approvedRunAnnotation]: runId });
    expect(await text()).toContain("    team: ml # owners\n");
    expect(await repo.git.raw(["log", "-1", "--format=%B"])).toContain(
      "It replaces the approval of run fedcba9876543210.",
    );
  });

  it("--run-id approves a run without reading the cluster", async () => {
    const run = await runLlmops([
      "approve",
      "tj/coder-7b-lora",
      "--run-id",
      "aaaabbbbccccdddd",
      "-n",
      ns.name,
      "--kubeconfig",
      join(repo.root, "no-such-kubeconfig"),
      "--dir",
      join(repo.work, "specs"),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(await annotationsInFile()).toEqual({ [approvedRunAnnotation]: "aaaabbbbccccdddd" });
    expect(await repo.git.raw(["log", "-1", "--format=%s"])).toBe(
      "approve: TrainingJob coder-7b-lora run aaaabbbbccccdddd\n",
    );
  });

  it.each([
    {
      name: "no TrainingJob in the cluster",
      status: null,
      stderr: "not found in the cluster; check the name and -n, or give --run-id",
    },
    {
      name: "no runId yet",
      status: { phase: "Pending" as const },
      stderr: "has no status.runId yet (phase Pending): the controller has not planned its run",
    },
    {
      name: "a Pending run (under the threshold)",
      status: { phase: "Pending" as const, runId },
      stderr: `is not waiting for approval (phase Pending): its estimate is within spec.budget.approvalThresholdUSD, or not made yet; run the command again once the phase is AwaitingApproval, or give --run-id ${runId} to approve that run ahead`,
    },
    {
      name: "a Running run",
      status: { phase: "Running" as const, runId },
      stderr: `is not waiting for approval (phase Running): run ${runId} is already running and needs no approval`,
    },
    {
      name: "a finished run",
      status: { phase: "Succeeded" as const, runId },
      stderr: `run ${runId} has finished; a changed training spec is a new run`,
    },
  ])("refuses $name: exit 1, no commit", async ({ status, stderr }) => {
    if (status !== null) await live(status);
    const before = await head();
    const run = await approve();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`llmops approve: TrainingJob ${ns.name}/coder-7b-lora `);
    expect(run.stderr).toContain(stderr);
    expect(run.stdout).toBe("");
    expect(await head()).toBe(before);
    expect(await text()).toBe(manifest);
  });

  it("uncommitted changes to the file: an error, no commit", async () => {
    await live(awaiting);
    const before = await head();
    const edited = `${manifest}# a local note\n`;
    await writeFile(join(repo.work, file), edited);
    const run = await approve();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file} has uncommitted changes`);
    expect(await head()).toBe(before);
    expect(await text()).toBe(edited);
  });

  it("a TrainingJob the checkout does not define, or defines twice", async () => {
    await live(awaiting);
    const missing = await runLlmops([
      "approve",
      "trainingjob/elsewhere",
      "--run-id",
      runId,
      "-n",
      ns.name,
      "--dir",
      repo.work,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `no committed manifest under . defines TrainingJob ${ns.name}/elsewhere`,
    );

    await repo.write("specs/models/copy.yaml", manifest);
    await repo.commit("a copy");
    // The live object's llmops.dev/path says which one.
    const run = await approve();
    expect(run.code, run.stderr).toBe(0);
    expect(await annotationsInFile()).toEqual({ [approvedRunAnnotation]: runId });
    // Without the cluster, the checkout alone is ambiguous.
    const ambiguous = await runLlmops([
      "approve",
      "trainingjob/coder-7b-lora",
      "--run-id",
      "aaaabbbbccccdddd",
      "-n",
      ns.name,
      "--dir",
      repo.work,
    ]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain(
      `TrainingJob coder-7b-lora is defined in ${file}, specs/models/copy.yaml; give the manifests a metadata.namespace`,
    );
  });

  it("usage errors exit 2; an unreachable cluster exits 4", async () => {
    expect((await runLlmops(["approve", "experiment/x"])).code).toBe(2);
    expect((await runLlmops(["approve", "trainingjob/"])).code).toBe(2);
    expect((await approve("--push", "--dry-run")).code).toBe(2);
    expect((await approve("--run-id", "not a run id!")).code).toBe(2);
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
    const run = await runLlmops([
      "approve",
      "trainingjob/coder-7b-lora",
      "--kubeconfig",
      unreachable,
      "--dir",
      repo.work,
    ]);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain("cannot read TrainingJob team/coder-7b-lora from the cluster");
  });
});

describe("applyApprovalEdit", () => {
  const edit = (text: string) =>
    applyApprovalEdit({ file: "f.yaml", text, name: "coder-7b-lora", namespace: "team", runId });

  it("keeps another namespace's TrainingJob of the same name untouched", () => {
    const other = manifest.replace("metadata:\n", "metadata:\n  namespace: elsewhere\n");
    expect(() => edit(other)).toThrow("f.yaml: no document defines TrainingJob team/coder-7b-lora");
  });

  it("refuses a TrainingJob inside a List, and annotations that are not a map", () => {
    expect(() =>
      edit("kind: List\nitems:\n- {kind: TrainingJob, metadata: {name: coder-7b-lora}}\n"),
    ).toThrow(/is inside a kind: List; move it to its own document, or annotate it by hand/);
    expect(() =>
      edit("kind: TrainingJob\nmetadata:\n  name: coder-7b-lora\n  annotations: [a]\n"),
    ).toThrow(/metadata\.annotations of TrainingJob team\/coder-7b-lora is not a mapping/);
  });

  it("a file without a trailing newline keeps it that way", () => {
    const result = edit("kind: TrainingJob\nmetadata:\n  name: coder-7b-lora");
    expect(result.text).toBe(
      `kind: TrainingJob\nmetadata:\n  name: coder-7b-lora\n  annotations:\n    ${approvedRunAnnotation}: ${runId}`,
    );
  });
});
