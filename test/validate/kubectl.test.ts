// What platform engineers type against the installed CRDs: `kubectl explain`, `kubectl get
// llmops` (the category), short names, and the printer columns once the controller writes status.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { kubectl, useTestNamespace } from "../support/cluster.js";
import { repositoryRoot } from "./fixtures.js";
import { installCrds } from "./install-crds.js";

beforeAll(async () => {
  await installCrds();
});

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input === undefined ? undefined : { input });
  expect(result.code, `kubectl ${args.join(" ")}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe("kubectl explain", () => {
  it("documents prompt.spec.template and its fields", async () => {
    const out = await ok(["explain", "prompt.spec.template"]);
    expect(out).toContain("KIND:       Prompt");
    expect(out).toMatch(/Set exactly one of text \(a single completion-style prompt\)/);
    expect(out).toMatch(/messages\s+<\[\]Object>/);
    expect(out).toMatch(/text\s+<string>/);
  });

  it.each([
    ["prompt.spec.variables.default", /Value used when the caller passes none/],
    ["experiment.spec.variants.control", /Marks the baseline variant/],
    ["experiment.spec.evaluators.llmJudge.rubric", /Grading instructions for the judge/],
    ["trainingjob.spec.resources.gpu.count", /GPUs per run, 1 to 64, or auto/],
    ["trainingjob.status.phase", /AwaitingApproval/],
    [
      "modeldeployment.spec.strategy.canary.steps.setWeight",
      /Percentage of traffic for the canary/,
    ],
    ["modeldeployment.status.canaryWeight", /Percentage of traffic on the canary revision now/],
  ])("%s", async (field, description) => {
    expect(await ok(["explain", field])).toMatch(description);
  });
});

describe("kubectl get", () => {
  const ns = useTestNamespace("kubectl-get");

  it("lists all four kinds under the llmops category, by short name too", async () => {
    await ok([
      "apply",
      "--server-side",
      "--field-manager=llmops-tests",
      "-n",
      ns.name,
      "-R",
      "-f",
      join(repositoryRoot, "specs"),
    ]);
    const names = (await ok(["get", "llmops", "-n", ns.name, "-o", "name"]))
      .trim()
      .split("\n")
      .sort();
    expect(names).toEqual([
      "experiment.llmops.dev/support-triage-staging-vs-production",
      "experiment.llmops.dev/support-triage-v1-vs-v2",
      "modeldeployment.llmops.dev/coder-7b",
      "prompt.llmops.dev/support-triage",
      "trainingjob.llmops.dev/coder-7b-lora",
      "trainingjob.llmops.dev/ticket-triage-tiny",
    ]);
    const short = await ok(["get", "prm,exp,tj,md", "-n", ns.name, "-o", "name"]);
    expect(short.trim().split("\n")).toHaveLength(6);
  });

  it("prints Ready, the key figure and Age from status", async () => {
    await ok(
      ["apply", "--server-side", "--field-manager=llmops-tests", "-n", ns.name, "-f", "-"],
      JSON.stringify({
        apiVersion: "llmops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: "columns" },
        spec: { model: { huggingFace: { repo: "Qwen/Qwen2.5-0.5B-Instruct" } } },
      }),
    );
    const status = {
      status: {
        phase: "Progressing",
        canaryWeight: 50,
        stableRevision: "columns-1a2b3c",
        observedGeneration: 1,
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "RolloutInProgress",
            message: "canary at step 3 of 7",
            lastTransitionTime: "2026-01-01T00:00:00Z",
            observedGeneration: 1,
          },
        ],
      },
    };
    await ok([
      "patch",
      "modeldeployment/columns",
      "-n",
      ns.name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify(status),
    ]);
    const table = await ok(["get", "modeldeployment/columns", "-n", ns.name]);
    const [header, row] = table.trim().split("\n");
    expect(header?.split(/\s+/)).toEqual(["NAME", "READY", "PHASE", "WEIGHT", "AGE"]);
    expect(row?.split(/\s+/).slice(0, 4)).toEqual(["columns", "False", "Progressing", "50"]);
    const wide = await ok(["get", "modeldeployment/columns", "-n", ns.name, "-o", "wide"]);
    expect(wide).toContain("columns-1a2b3c");
  });

  it("keeps conditions as a map keyed by type", async () => {
    await ok(
      ["apply", "--server-side", "--field-manager=llmops-tests", "-n", ns.name, "-f", "-"],
      JSON.stringify({
        apiVersion: "llmops.dev/v1alpha1",
        kind: "Prompt",
        metadata: { name: "conditions" },
        spec: { template: { text: "hi" }, model: { name: "m" } },
      }),
    );
    const condition = (type: string) => ({
      type,
      status: "True",
      reason: "Test",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
    const patch = JSON.stringify({
      status: { conditions: [condition("Ready"), condition("Ready")] },
    });
    const duplicate = await kubectl([
      "patch",
      "prompt/conditions",
      "-n",
      ns.name,
      "--subresource=status",
      "--type=merge",
      "-p",
      patch,
    ]);
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr).toMatch(/Duplicate value/);
  });
});
