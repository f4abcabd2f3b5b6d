// One real training run, on CPU, through the reconciler and the local backend: the laptop example
// (specs/models/ticket-triage-tiny.yaml) as written, a tiny Llama created from a config by the
// reference trainer, the ticket data shipped in examples/local/data. The run must reach
// Succeeded with the loss falling in status.progress, and the model it produced must score
// better on the held-out tickets than the untrained one. Needs the trainer's venv
// (trainer/setup-venv.sh, which `npm run check` runs first); without it the test fails.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { TrainingJob } from "../../controller/api/generated/index.js";
import { TrainingJobType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { StoredObject } from "../../controller/kube/resources.js";
import { trainingBackends } from "../../controller/reconcilers/training-job/backends.js";
import { trainingJobController } from "../../controller/reconcilers/training-job/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { repositoryRoot } from "../validate/fixtures.js";
import { installCrds } from "../validate/install-crds.js";

const run = promisify(execFile);
const venv = process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");
const bin = (tool: string) => join(venv, "bin", tool);

describe("a real CPU training run through the local backend", () => {
  let client: KubeClient;
  let root = "";
  let namespace = "";
  let stop: () => Promise<void> = () => Promise.resolve();

  beforeAll(async () => {
    if (!existsSync(bin("llmops-train"))) {
      throw new Error(
        `the trainer's venv is missing (${venv}): run bash trainer/setup-venv.sh (npm run check does)`,
      );
    }
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    // The controller's --local-root: the example's relative paths resolve here.
    root = await mkdtemp(join(tmpdir(), "llmops-local-training-"));
    await symlink(join(repositoryRoot, "examples"), join(root, "examples"));
    await mkdir(join(root, ".llmops", "models"), { recursive: true });
    await run(bin("llmops-create-model"), [
      "--data",
      join(root, "examples/local/data/tickets-train.jsonl"),
      "--out",
      join(root, ".llmops/models/tiny-llama"),
    ]);
    namespace = await createTestNamespace("tj-local");
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(
      trainingJobController({
        localRoot: root,
        backends: trainingBackends({
          enabled: ["local"],
          trainerCommand: [bin("llmops-train")],
          localRunsDir: join(root, ".llmops", "training"),
        }),
      }),
    );
    const abort = new AbortController();
    const done = manager.run(abort.signal);
    stop = async () => {
      abort.abort();
      await done;
    };
  }, 330_000);
  afterAll(async () => {
    await stop();
    if (namespace) await deleteTestNamespace(namespace);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("trains the laptop example to Succeeded with a falling loss, and the model beats the untrained one", async () => {
    const example = parse(
      await readFile(join(repositoryRoot, "specs/models/ticket-triage-tiny.yaml"), "utf8"),
    ) as TrainingJob;
    const started = Date.now();
    await client.apply(
      TrainingJobType,
      { ...example, metadata: { ...example.metadata, namespace } },
      { force: true, fieldManager: "test" },
    );
    const losses: number[] = [];
    const done = await eventually(
      "the run to Succeed",
      async () => {
        const tj = await client.get<StoredObject<TrainingJob>>(TrainingJobType, {
          namespace,
          name: example.metadata.name ?? "",
        });
        const loss = tj.status?.progress?.loss;
        if (loss !== undefined && losses.at(-1) !== loss) losses.push(loss);
        return tj.status?.phase === "Succeeded" || tj.status?.phase === "Failed" ? tj : undefined;
      },
      480_000,
    );
    expect(done.status?.phase, JSON.stringify(done.status?.conditions)).toBe("Succeeded");
    const seconds = (Date.now() - started) / 1000;
    expect(done.status?.estimate).toMatchObject({ gpuType: "cpu", costUSD: 0 });
    expect(done.status?.progress).toMatchObject({ percent: 100, step: 200, totalSteps: 200 });
    expect(done.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    // The loss, as status reported it while the run went on, fell.
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expect(losses.at(-1) ?? Infinity).toBeLessThan((losses[0] ?? 0) * 0.5);
    const output = done.status?.output?.path ?? "";
    expect(output).toBe(join(root, ".llmops/models/ticket-triage", done.status?.runId ?? ""));

    const score = async (model: string) =>
      JSON.parse(
        (
          await run(bin("llmops-evaluate"), [
            "--model",
            model,
            "--data",
            join(root, "examples/local/data/tickets-eval.jsonl"),
          ])
        ).stdout,
      ) as { n: number; exactMatch: number };
    const before = await score(join(root, ".llmops/models/tiny-llama"));
    const after = await score(output);
    process.stderr.write(
      `[local training] ${String(seconds)} s to Succeeded; loss ${String(losses[0])} → ${String(losses.at(-1))} over ${String(losses.length)} reports; exact match on ${String(after.n)} held-out tickets ${String(before.exactMatch)} → ${String(after.exactMatch)}\n`,
    );
    expect(after.n).toBeGreaterThanOrEqual(20);
    expect(after.exactMatch - before.exactMatch).toBeGreaterThanOrEqual(0.5);
  }, 600_000);
});
