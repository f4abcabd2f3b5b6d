// The example set `llmops up --dir examples/local` runs: valid as a whole without warnings, applied
// for real by `llmops sync` (the path up uses), the Experiment's items exactly the held-out
// tickets, and the base model .llmops-up.yaml asks for the one the manifests start from. The loop
// itself is test/up/loop.test.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import type {
  Experiment,
  ModelDeployment,
  TrainingJob,
} from "../../controller/api/generated/index.js";
import { parsePrepareFile } from "../../controller/cli/up-prepare.js";
import { runLlmops } from "../support/cli.js";
import { kubectl, testCluster, useTestNamespace } from "../support/cluster.js";
import { repositoryRoot } from "../validate/fixtures.js";
import { installCrds } from "../validate/install-crds.js";

const dir = join(repositoryRoot, "examples", "local");
const read = (file: string): unknown => parse(readFileSync(join(dir, file), "utf8"));

describe("examples/local", () => {
  const ns = useTestNamespace("examples");

  it("validates with no problems: a Prompt, an Experiment, a TrainingJob and a ModelDeployment", async () => {
    const result = await runLlmops(["validate", "-o", "json", "examples/local"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      problems: unknown[];
      objects: { object: { kind: string } }[];
    };
    expect(report.problems).toEqual([]);
    expect(report.objects.map((o) => o.object.kind).sort()).toEqual([
      "Experiment",
      "ModelDeployment",
      "Prompt",
      "TrainingJob",
    ]);
  });

  it("is applied as a whole by llmops sync, as llmops up applies it", async () => {
    await installCrds();
    const result = await runLlmops([
      "sync",
      "--dir",
      "examples/local",
      "--namespace",
      ns.name,
      "--source",
      `examples-${ns.name}`,
      "--kubeconfig",
      testCluster().kubeconfigPath,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/applied worktree-[0-9a-f]+: created 4/);
    const listed = await kubectl([
      "get",
      "prompts,experiments,trainingjobs,modeldeployments",
      "-n",
      ns.name,
      "-o",
      "name",
    ]);
    expect(listed.stdout.trim().split("\n").sort()).toEqual([
      "experiment.llmops.dev/ticket-triage-finetuned-vs-base",
      "modeldeployment.llmops.dev/ticket-triage",
      "prompt.llmops.dev/ticket-triage",
      "trainingjob.llmops.dev/ticket-triage",
    ]);
  });

  it("evaluates on exactly the held-out tickets of data/tickets-eval.jsonl", () => {
    const rows = readFileSync(join(dir, "data", "tickets-eval.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const experiment = read("experiment.yaml") as Experiment;
    const items = experiment.spec.dataset?.inline?.items ?? [];
    expect(items.map((i) => ({ ticket: i.vars.ticket, expected: i.expected }))).toEqual(
      rows.map((r) => ({ ticket: r.messages[1]?.content, expected: r.messages[2]?.content })),
    );
    // The prompt's system message is the one the model was trained on.
    const prompt = parseAllDocuments(readFileSync(join(dir, "prompt.yaml"), "utf8"))[0]?.toJS() as {
      spec: { template: { messages: { content: string }[] } };
    };
    expect(prompt.spec.template.messages[0]?.content).toBe(rows[0]?.messages[0]?.content);
    const training = readFileSync(join(dir, "data", "tickets-train.jsonl"), "utf8");
    for (const item of items) expect(training).not.toContain(JSON.stringify(item.vars.ticket));
  });

  it("creates the base model the TrainingJob and the ModelDeployment start from", () => {
    const plan = parsePrepareFile(
      readFileSync(join(dir, ".llmops-up.yaml"), "utf8"),
      ".llmops-up.yaml",
    );
    const tj = read("training-job.yaml") as TrainingJob;
    const md = read("model-deployment.yaml") as ModelDeployment & {
      spec: { model: { path?: string } };
    };
    expect(plan.models.map((m) => m.path)).toEqual([tj.spec.baseModel.path]);
    expect(md.spec.model.path).toBe(tj.spec.baseModel.path);
    expect(plan.models[0]?.data).toBe(tj.spec.dataset.path);
  });
});
