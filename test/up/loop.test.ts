// The whole loop on one machine, with real processes: examples/local committed to a git working
// tree, `llmops up --dir examples/local` as a child process (its own control plane, not the test
// run's), the TrainingJob trained for real on CPU, the ModelDeployment's canary steps moving real
// requests through the local proxy (the split checked within a binomial tolerance), the
// Experiment gate (fine-tuned against base on the held-out tickets, real statistics), 100%, a
// `git revert` back to the still-warm base revision with no retraining, Ctrl-C leaving nothing
// running, and a second `llmops up` on the same state keeping it all. Each step's time is logged
// (never asserted). Needs the trainer's venv (trainer/setup-venv.sh, which `npm run check` runs).
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import type {
  Experiment,
  ModelDeployment,
  Prompt,
  TrainingJob,
} from "../../controller/api/generated/index.js";
import {
  ExperimentType,
  ModelDeploymentType,
  PromptType,
  TrainingJobType,
} from "../../controller/api/kinds.js";
import { cliKubeClient } from "../../controller/cli/cluster-client.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { ResourceType, StoredObject } from "../../controller/kube/resources.js";
import { eventually } from "../runtime/helpers.js";
import { repositoryRoot } from "../validate/fixtures.js";
import { alive, interrupt, processesUnder, startUp, type UpProcess } from "./up-process.js";

const run = promisify(execFile);
const venv = process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");

const times: [string, number][] = [];
let mark = Date.now();
function step(name: string): void {
  const now = Date.now();
  times.push([name, (now - mark) / 1000]);
  process.stderr.write(`[loop] ${name}: ${((now - mark) / 1000).toFixed(1)} s\n`);
  mark = now;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(
    "git",
    ["-c", "user.name=llmops test", "-c", "user.email=test@llmops.dev", ...args],
    { cwd },
  );
  return stdout.trim();
}

/** One chat completion through the proxy; which revision answered (the proxy's header). */
async function ask(url: string, ticket: string): Promise<string> {
  const res = await fetch(`${url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "ticket-triage",
      max_tokens: 1,
      temperature: 0,
      messages: [
        {
          role: "system",
          content:
            "Classify the support ticket as billing, bug, account or feature. Answer with one word.",
        },
        { role: "user", content: ticket },
      ],
    }),
  });
  await res.text();
  if (res.status !== 200) throw new Error(`proxy answered ${String(res.status)}`);
  return res.headers.get("x-llmops-revision") ?? "";
}

/** `n` requests, 4 at a time; how many each revision answered. */
async function split(url: string, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        next++;
        const revision = await ask(url, `My invoice ${String(next)} was charged twice.`);
        counts.set(revision, (counts.get(revision) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

/** Binomial tolerance: the count a weight predicts, ± 4 standard deviations. */
function expectSplit(count: number, n: number, weightPercent: number): void {
  const p = weightPercent / 100;
  const sd = Math.sqrt(n * p * (1 - p));
  expect(count).toBeGreaterThanOrEqual(Math.floor(n * p - 4 * sd));
  expect(count).toBeLessThanOrEqual(Math.ceil(n * p + 4 * sd));
}

function childPids(root: string, kind: "training" | "serving"): number[] {
  const pids: number[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const full = join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (entry === "pid") pids.push(Number(readFileSync(full, "utf8").trim()));
    }
  };
  walk(join(root, ".llmops", kind));
  return pids;
}

describe("llmops up: the whole loop on one machine", () => {
  let root = "";
  let up: UpProcess | undefined;
  let client: KubeClient | undefined;
  afterAll(async () => {
    if (up && up.child.exitCode === null) {
      up.child.kill("SIGINT");
      await up.exited;
    }
    await client?.close();
    const left = root ? processesUnder(root) : [];
    for (const p of left) process.kill(p.pid, "SIGKILL");
    if (root) await rm(root, { recursive: true, force: true });
    process.stderr.write(
      `[loop] times: ${JSON.stringify(Object.fromEntries(times))}; total ${times.reduce((a, [, t]) => a + t, 0).toFixed(1)} s\n`,
    );
  });

  it("trains, serves, rolls out behind the Experiment gate, reverts instantly, stops cleanly, and keeps its state", async () => {
    if (!existsSync(join(venv, "bin", "llmops-train"))) {
      throw new Error(`the trainer's venv is missing (${venv}): run bash trainer/setup-venv.sh`);
    }
    root = await mkdtemp(join(tmpdir(), "llmops-up-loop-"));
    await cp(join(repositoryRoot, "examples", "local"), join(root, "examples", "local"), {
      recursive: true,
    });
    await git(root, "init", "-q", "-b", "main");
    await git(root, "add", "-A");
    await git(root, "commit", "-q", "-m", "the local example");
    mark = Date.now();

    // 1. up: prepare (the base model from .llmops-up.yaml), start, sync.
    up = startUp(root, ["--dir", "examples/local"]);
    const ready = await up.waitFor(
      "ready",
      (e) => e.event === "up" && e.state === "ready",
      300_000,
    );
    step("llmops up ready (base model created, control plane, CRDs, controller)");
    expect(existsSync(join(root, ".llmops/models/tiny-llama/config.json"))).toBe(true);
    const kubeconfig = String(ready.kubeconfig);
    expect(kubeconfig).toBe(join(root, ".llmops", "kubeconfig"));
    const planePids = (ready.pids as { name: string; pid: number }[]).map((p) => p.pid);
    expect((ready.pids as { name: string }[]).map((p) => p.name)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
    ]);
    const kube = cliKubeClient({ kubeconfig, fieldManager: "llmops-test" });
    client = kube;
    const get = <T extends object>(type: ResourceType, name: string) =>
      kube.get<StoredObject<T & { kind?: string }>>(type, { namespace: "default", name });
    await up.waitFor("the first sync", (e) => e.event === "sync" && e.state === "applied", 60_000);

    // 2. The TrainingJob trains for real; the ModelDeployment serves the base model meanwhile.
    const trained = await eventually(
      "the TrainingJob to finish",
      async () => {
        const tj = await get<TrainingJob>(TrainingJobType, "ticket-triage");
        return tj.status?.phase === "Succeeded" || tj.status?.phase === "Failed" ? tj : undefined;
      },
      900_000,
    );
    expect(trained.status?.phase, JSON.stringify(trained.status?.conditions)).toBe("Succeeded");
    step("TrainingJob Succeeded (real CPU training)");
    const losses = up.events
      .filter(
        (e) =>
          e.kind === "TrainingJob" && typeof e.detail === "string" && e.detail.includes("loss"),
      )
      .map((e) => Number(/loss ([\d.]+)/.exec(String(e.detail))?.[1]));
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expect(losses.at(-1) ?? Infinity).toBeLessThan(losses[0] ?? 0);
    const runId = trained.status?.runId ?? "";
    const attempts = trained.status?.attempts;

    const base = await eventually(
      "the base revision Healthy",
      async () => {
        const md = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
        return md.status?.phase === "Healthy" && md.status.url ? md : undefined;
      },
      300_000,
    );
    const baseRevision = base.status?.stableRevision ?? "";
    const url = base.status?.url ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(await split(url, 20)).toEqual(new Map([[baseRevision, 20]]));
    step("base revision serving through the proxy");

    // 3. The model change: the canary takes 20%, then 50% of real requests.
    const mdFile = join(root, "examples/local/model-deployment.yaml");
    const original = await readFile(mdFile, "utf8");
    const changed = original.replace(
      "  model:\n    path: .llmops/models/tiny-llama\n",
      "  model:\n    trainingJobRef:\n      name: ticket-triage\n",
    );
    expect(changed).not.toBe(original);
    await writeFile(mdFile, changed);
    await git(root, "commit", "-q", "-am", "serve the fine-tuned model");
    const modelChange = await git(root, "rev-parse", "HEAD");
    const at = async (weight: number) =>
      eventually(
        `the canary at ${String(weight)}%`,
        async () => {
          const md = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
          const canary = md.status?.revisions?.find((r) => r.name === md.status?.canaryRevision);
          return md.status?.canaryWeight === weight && canary?.ready === true ? md : undefined;
        },
        300_000,
      );
    const at20 = await at(20);
    const canaryRevision = at20.status?.canaryRevision ?? "";
    expect(canaryRevision).not.toBe(baseRevision);
    step("canary revision started, at 20%");
    const n20 = 100;
    const counts20 = await split(url, n20);
    const still20 = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
    // The 20% step pauses 20 s; a slower sample than that would straddle two weights.
    expect(
      still20.status?.canaryWeight,
      "the sample at 20% took longer than the step's pause",
    ).toBe(20);
    expectSplit(counts20.get(canaryRevision) ?? 0, n20, 20);
    expect((counts20.get(canaryRevision) ?? 0) + (counts20.get(baseRevision) ?? 0)).toBe(n20);

    await at(50);
    step("canary at 50% (pausing, then waiting for the Experiment gate)");
    const n50 = 100;
    const counts50 = await split(url, n50);
    const still50 = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
    // The 50% step pauses 30 s before its analysis (the Experiment may be done already).
    expect(
      still50.status?.canaryWeight,
      "the sample at 50% took longer than the step's pause",
    ).toBe(50);
    expectSplit(counts50.get(canaryRevision) ?? 0, n50, 50);
    expect((counts50.get(canaryRevision) ?? 0) + (counts50.get(baseRevision) ?? 0)).toBe(n50);
    process.stderr.write(
      `[loop] split at 20%: ${String(counts20.get(canaryRevision) ?? 0)}/${String(n20)} canary; at 50%: ${String(counts50.get(canaryRevision) ?? 0)}/${String(n50)}\n`,
    );

    // 4. The Experiment follows the canary by role (no edit): it compares the canary with the
    // base, the gate passes, and the canary gets 100%.
    const experiment = await eventually(
      "the Experiment to complete",
      async () => {
        const ex = await get<Experiment>(ExperimentType, "ticket-triage-finetuned-vs-base");
        return ex.status?.phase === "Completed" || ex.status?.phase === "Failed" ? ex : undefined;
      },
      600_000,
    );
    expect(experiment.status?.phase, JSON.stringify(experiment.status?.conditions)).toBe(
      "Completed",
    );
    step("Experiment Completed");
    const mean = (variant: string) =>
      experiment.status?.results
        ?.find((r) => r.variant === variant)
        ?.metrics?.find((m) => m.name === "exact-match")?.mean ?? Number.NaN;
    const comparison = experiment.status?.comparisons?.find(
      (c) => c.variant === "finetuned" && c.metric === "exact-match",
    );
    process.stderr.write(
      `[loop] exact match on the held-out tickets: base ${String(mean("base"))}, finetuned ${String(mean("finetuned"))}; ${comparison?.test ?? ""} p=${String(comparison?.pValue)}\n`,
    );
    expect(mean("finetuned")).toBeGreaterThanOrEqual(0.8);
    expect(mean("finetuned")).toBeGreaterThan(mean("base"));
    expect(comparison?.significant).toBe(true);
    expect(experiment.status?.winner).toBe("finetuned");
    // Each variant records the revision it ran on: the gate reads only this canary's results.
    expect(experiment.status?.results?.map((r) => [r.variant, r.revision])).toEqual([
      ["base", baseRevision],
      ["finetuned", canaryRevision],
    ]);

    const promoted = await eventually(
      "the canary promoted to 100%",
      async () => {
        const md = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
        return md.status?.phase === "Healthy" && md.status.stableRevision === canaryRevision
          ? md
          : undefined;
      },
      300_000,
    );
    expect(promoted.status?.canaryRevision).toBeUndefined();
    expect(await split(url, 40)).toEqual(new Map([[canaryRevision, 40]]));
    step("gate passed, fine-tuned revision at 100%");

    // 5. git revert of the model change: back on the warm base revision, nothing retrained.
    const servingBefore = childPids(root, "serving").filter(alive);
    const revertedAt = Date.now();
    await git(root, "revert", "--no-edit", modelChange);
    let firstAllBase = 0;
    await eventually(
      "all traffic back on the base revision",
      async () => {
        const counts = await split(url, 8);
        if (counts.get(baseRevision) === 8) {
          firstAllBase ||= Date.now();
          return true;
        }
        firstAllBase = 0;
        return undefined;
      },
      120_000,
    );
    const backMs = firstAllBase - revertedAt;
    // Where the time went: the sync of the reverted tree (file watch, 100 ms debounce, validate,
    // dry-run, apply) is llmops up's own event; the rest is the reconcile moving the weights.
    const synced = up.events.find(
      (e) => e.event === "sync" && e.state === "applied" && Date.parse(e.time) >= revertedAt,
    );
    const syncMs = synced ? Date.parse(synced.time) - revertedAt : Number.NaN;
    process.stderr.write(
      `[loop] git revert → every request on the base revision: ${String(backMs)} ms (revert → sync applied ${String(syncMs)} ms, of which 100 ms debounce; sync → traffic moved ${String(backMs - syncMs)} ms)\n`,
    );
    step("revert: traffic back on the base revision");
    const afterRevert = await get<ModelDeployment>(ModelDeploymentType, "ticket-triage");
    expect(afterRevert.status?.stableRevision).toBe(baseRevision);
    const tjAfter = await get<TrainingJob>(TrainingJobType, "ticket-triage");
    expect(tjAfter.status?.runId).toBe(runId);
    expect(tjAfter.status?.attempts).toBe(attempts);
    expect(tjAfter.status?.phase).toBe("Succeeded");
    // The base revision's server was still running: the revert started no new one.
    const servingAfter = childPids(root, "serving").filter(alive);
    for (const pid of servingAfter) expect(servingBefore).toContain(pid);

    // 6. Ctrl-C: everything stops, and says so.
    const pids = [...planePids, ...childPids(root, "serving"), ...childPids(root, "training")];
    const { code, stopped } = await interrupt(up);
    step("SIGINT: stopped");
    expect(code).toBe(0);
    expect(stopped.message).toMatch(/nothing is left running/);
    expect(stopped.stopped).toEqual(
      expect.arrayContaining(["the controller", "kube-apiserver", "etcd"]),
    );
    expect(pids.filter(alive)).toEqual([]);
    expect(processesUnder(root)).toEqual([]);
    await kube.close();
    client = undefined;

    // 7. A second up on the same state keeps prompt versions, results and the trained model.
    up = startUp(root, ["--dir", "examples/local"]);
    const again = await up.waitFor(
      "ready again",
      (e) => e.event === "up" && e.state === "ready",
      300_000,
    );
    step("second llmops up ready");
    expect(again.server).not.toBe(undefined);
    const kube2 = cliKubeClient({ kubeconfig, fieldManager: "llmops-test" });
    client = kube2;
    const get2 = <T extends object>(type: ResourceType, name: string) =>
      kube2.get<StoredObject<T & { kind?: string }>>(type, { namespace: "default", name });
    const prompt = await get2<Prompt>(PromptType, "ticket-triage");
    expect(prompt.status?.version).toBe(1);
    const tj2 = await get2<TrainingJob>(TrainingJobType, "ticket-triage");
    expect(tj2.status?.phase).toBe("Succeeded");
    expect(tj2.status?.runId).toBe(runId);
    expect(existsSync(join(tj2.status?.output?.path ?? "/nonexistent", "config.json"))).toBe(true);
    const ex2 = await get2<Experiment>(ExperimentType, "ticket-triage-finetuned-vs-base");
    expect(ex2.status?.winner).toBe("finetuned");
    await eventually(
      "the ModelDeployment Healthy on the base revision again",
      async () => {
        const md = await get2<ModelDeployment>(ModelDeploymentType, "ticket-triage");
        return md.status?.phase === "Healthy" && md.status.stableRevision === baseRevision
          ? md
          : undefined;
      },
      300_000,
    );
    const second = await interrupt(up);
    expect(second.code).toBe(0);
    expect(processesUnder(root)).toEqual([]);
    step("second llmops up stopped");
  }, 1_800_000);
});
