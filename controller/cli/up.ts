// `llmops up [--dir specs/]`: the whole loop on one machine, without a cluster. It prepares what
// the first run needs (control-plane binaries, the trainer's venv, base models a directory asks
// for in .llmops-up.yaml), starts the local control plane (controller/localenv/: etcd,
// kube-apiserver, kube-controller-manager; data in --state, kept across runs), installs crds/,
// runs the same controller `llmops controller` runs — in this process, with the local training
// and serving backends — and syncs the directory with the all-or-nothing path of
// `llmops sync --watch`. A live view shows every object; Ctrl-C stops everything it started.
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { pino } from "pino";
import { parseAllDocuments } from "yaml";
import { defaultCrdDirectory, loadCrds } from "../api/crds.js";
import { ExperimentType, ModelDeploymentType, PromptType, TrainingJobType } from "../api/kinds.js";
import { gitSyncFieldManager } from "../api/well-known.js";
import type { KubeClient } from "../kube/client.js";
import { errorMessage } from "../kube/errors.js";
import type { KubeObject, ResourceType } from "../kube/resources.js";
import { readPidFile, readProcStat, runsIn as childRunsIn } from "../backends/local/run-files.js";
import { ensureControlPlaneBinaries } from "../localenv/binaries.js";
import {
  freePorts,
  startLocalControlPlane,
  stopLocalControlPlane,
  type LocalControlPlane,
} from "../localenv/control-plane.js";
import { isOurs, stopProcesses, type ProcessRecord } from "../localenv/processes.js";
import { cliSourceName } from "../gitsync/source-config.js";
import { isAborted } from "../runtime/clock.js";
import { cliKubeClient } from "./cluster-client.js";
import { UsageError } from "./command-errors.js";
import { controllerCommand } from "./controller.js";
import type { CliIo } from "./program.js";
import { DirectorySync, describeDirectorySync, watchDirectory } from "./sync.js";
import { parsePrepareFile, prepareFileName } from "./up-prepare.js";
import {
  changeEvent,
  describeChange,
  diffSummaries,
  redrawFrame,
  renderTable,
  summarize,
  type ObjectSummary,
} from "./up-view.js";

/** The package root (bin/, crds/, trainer/): the same from controller/ (tsx) and dist/. */
const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

const crdType: ResourceType = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  namespaced: false,
};

const viewedKinds = [PromptType, ExperimentType, TrainingJobType, ModelDeploymentType];

export interface UpFlags {
  dir: string;
  state: string;
  kubeBinaries?: string;
  output: "text" | "json";
  namespace: string;
  localRoot?: string;
  debounce: string;
  interval: string;
}

export interface UpCommandOptions {
  io: CliIo;
  /** Where SIGINT/SIGTERM come from; the process by default. */
  signals?: Pick<NodeJS.Process, "on" | "off">;
  /** Whether stdout is a terminal (the table is redrawn in place); process.stdout's by default. */
  isTTY?: boolean;
  columns?: () => number;
}

/** Adds `up` to the program. */
export function registerUpCommand(program: Command, options: UpCommandOptions): void {
  program
    .command("up")
    .description(
      "Run the whole loop on this machine without a cluster: a local control plane (etcd, " +
        "kube-apiserver, kube-controller-manager; state in --state), the controller with local " +
        "training and serving backends, and the directory synced on every change. Ctrl-C stops it all.",
    )
    .option("--dir <dir>", "the directory of manifests to sync", "specs")
    .option(
      "--state <dir>",
      "where the control plane keeps its data (etcd, certificates, kubeconfig, logs)",
      ".llmops",
    )
    .option(
      "--kube-binaries <dir>",
      "a directory with etcd, kube-apiserver and kube-controller-manager (default: the cache in ~/.cache/llmops, filled on first use)",
    )
    .addOption(
      new Option("-o, --output <format>", "text (a live view), or json (one event per line)")
        .choices(["text", "json"])
        .default("text"),
    )
    .option("--namespace <ns>", "namespace for manifests that name none", "default")
    .option(
      "--local-root <dir>",
      "relative paths in TrainingJobs and ModelDeployments resolve here (default: the working directory)",
    )
    // Shorter than `llmops sync --watch`'s 300 ms: a revert on a laptop should move traffic at once.
    .option("--debounce <ms>", "wait this long after the last change before a sync", "100")
    .option("--interval <ms>", "how often the view reads the objects", "500")
    .action(async (flags: UpFlags) => {
      await runUp(flags, options);
    });
}

/** Lifecycle steps the json output reports as {"event":"up","state":…}. */
type UpState = "preparing" | "starting" | "ready" | "stopping" | "stopped";

class UpOutput {
  private frameLines = 0;
  private objects = new Map<string, ObjectSummary>();
  private header: string[] = [];
  private lastSync = "";

  constructor(
    private readonly io: CliIo,
    private readonly mode: "text" | "json",
    private readonly tty: boolean,
    private readonly columns: () => number,
  ) {}

  /** A step of the start-up or shutdown, for people (stderr) or tools (json). */
  step(state: UpState, message: string, extra: Record<string, unknown> = {}): void {
    if (this.mode === "json") {
      this.json({ event: "up", state, message, ...extra });
    } else {
      this.endFrame();
      this.io.stderr(`llmops up: ${message}\n`);
    }
  }

  /** A line of a preparation step's own output (pip, the build), indented. */
  detail(line: string): void {
    if (this.mode === "json") this.json({ event: "log", message: line });
    else this.io.stderr(`  ${line}\n`);
  }

  setHeader(lines: string[]): void {
    this.header = lines;
  }

  sync(state: string, message: string, revision?: string): void {
    this.lastSync = message.split("\n")[0] ?? "";
    if (this.mode === "json") {
      this.json({ event: "sync", state, message, ...(revision ? { revision } : {}) });
    } else if (!this.tty) {
      this.io.stdout(`sync: ${message}\n`);
    } else {
      this.redraw(true);
      if (state !== "applied") this.io.stderr(`${message}\n`);
    }
  }

  update(next: Map<string, ObjectSummary>): void {
    const changes = diffSummaries(this.objects, next);
    this.objects = next;
    if (this.mode === "json") {
      const now = new Date();
      for (const change of changes) this.json(changeEvent(change, now));
    } else if (!this.tty) {
      for (const change of changes) this.io.stdout(`${describeChange(change)}\n`);
    } else if (changes.length > 0) {
      this.redraw(false);
    }
  }

  private redraw(force: boolean): void {
    if (!this.tty && !force) return;
    const lines = renderTable([...this.objects.values()], {
      width: this.columns(),
      header: [...this.header, ...(this.lastSync ? [`last sync: ${this.lastSync}`] : []), ""],
    });
    this.io.stdout(redrawFrame(lines, this.frameLines));
    this.frameLines = lines.length;
  }

  /** After this, the next frame starts below what was printed instead of over it. */
  private endFrame(): void {
    this.frameLines = 0;
  }

  private json(event: Record<string, unknown>): void {
    this.io.stdout(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }
}

/** What `llmops up` records in <state>/up.json while it runs, to find leftovers after a crash. */
interface UpRecord {
  pid: number;
  startedAt: string;
  processes: ProcessRecord[];
}

async function runUp(flags: UpFlags, options: UpCommandOptions): Promise<void> {
  const started = Date.now();
  const cwd = process.cwd();
  const root = resolve(cwd, flags.localRoot ?? ".");
  const stateDir = resolve(cwd, flags.state);
  const dir = resolve(cwd, flags.dir);
  if (!existsSync(dir)) throw new UsageError(`--dir ${flags.dir}: no such directory`);
  const out = new UpOutput(
    options.io,
    flags.output,
    options.isTTY ?? process.stdout.isTTY,
    options.columns ?? (() => process.stdout.columns || 120),
  );
  const signals = options.signals ?? process;

  // Ctrl-C during the preparation stops it too. The handler stays until everything has stopped:
  // a second Ctrl-C must not kill this process while the control plane (its own process group)
  // is still running.
  const stop = new AbortController();
  // Read through a call: the signal handler aborts it while the steps below await.
  const stopped = (): boolean => stop.signal.aborted;
  const onSignal = (signal: string): void => {
    if (stop.signal.aborted) {
      out.step(
        "stopping",
        `${signal}: already stopping; waiting for what llmops up started to exit`,
      );
      return;
    }
    out.step("stopping", `${signal}: stopping everything llmops up started`);
    stop.abort();
  };
  signals.on("SIGINT", onSignal);
  signals.on("SIGTERM", onSignal);

  try {
    await mkdir(stateDir, { recursive: true });
    await refuseOrCleanUp(stateDir, out);
  } catch (err: unknown) {
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
    throw err;
  }

  let plane: LocalControlPlane | undefined;
  let client: KubeClient | undefined;
  let controller: { stop: () => Promise<void> } | undefined;
  let syncDone: Promise<void> | undefined;
  let viewDone: Promise<void> | undefined;
  const killOnExit = () => {
    for (const p of plane?.processes ?? []) {
      try {
        if (isOurs(p)) process.kill(p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  try {
    out.step("preparing", "preparing the control-plane binaries");
    const binaries = await ensureControlPlaneBinaries({
      ...(flags.kubeBinaries !== undefined
        ? { kubeBinaries: resolve(cwd, flags.kubeBinaries) }
        : {}),
      log: (m) => {
        out.detail(m);
      },
    });
    out.detail(`${binaries.binDir} (${binaries.source})`);
    if (stopped()) return;

    out.step(
      "preparing",
      "preparing the trainer's Python environment (trainer/setup-venv.sh; the first time is a ~3 GB download)",
    );
    await prepareTrainerVenv(out, stop.signal);
    if (stopped()) return;
    await createBaseModels(dir, root, out, stop.signal);
    if (stopped()) return;

    out.step("starting", `starting the local control plane in ${relative(cwd, stateDir) || "."}`);
    // Own process groups: a Ctrl-C in the terminal reaches only this process, which then stops
    // the controller before the apiserver it talks to.
    plane = await startLocalControlPlane({
      dir: stateDir,
      binDir: binaries.binDir,
      detached: true,
      contextName: "llmops-local",
      log: (m) => {
        out.detail(m);
      },
    });
    process.once("exit", killOnExit);
    const record: UpRecord = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      processes: plane.processes,
    };
    await writeFile(join(stateDir, "up.json"), JSON.stringify(record, null, 2));
    if (stopped()) return;

    client = cliKubeClient({ kubeconfig: plane.kubeconfigPath, fieldManager: gitSyncFieldManager });
    await installCrds(client, out);
    if (stopped()) return;

    controller = await startController(plane, root, stateDir, out);
    const sync = new DirectorySync(client, await loadCrds(), {
      dir,
      cwd: root,
      source: cliSourceName,
      namespace: flags.namespace,
      statusNamespace: flags.namespace,
      prune: true,
    });
    const kubeconfigHint = `export KUBECONFIG=${plane.kubeconfigPath}`;
    out.setHeader([
      `llmops up: ${relative(cwd, dir) || "."} on ${plane.server} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s) — Ctrl-C stops everything`,
      `  ${kubeconfigHint}   # then kubectl get prompts,experiments,trainingjobs,modeldeployments, or llmops status`,
    ]);
    out.step(
      "ready",
      `ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ${kubeconfigHint}`,
      {
        kubeconfig: plane.kubeconfigPath,
        server: plane.server,
        stateDir,
        pids: plane.processes.map((p) => ({ name: p.name, pid: p.pid })),
      },
    );
    syncDone = watchDirectory(sync, {
      dir,
      debounceMs: Number(flags.debounce),
      signal: stop.signal,
      onResult: (r) => {
        out.sync(r.state, describeDirectorySync(r), r.state === "failed" ? undefined : r.revision);
      },
    });
    viewDone = watchObjects(client, out, Number(flags.interval), stop.signal);
    await new Promise<void>((resolveStop) => {
      if (stop.signal.aborted) resolveStop();
      stop.signal.addEventListener(
        "abort",
        () => {
          resolveStop();
        },
        { once: true },
      );
    });
  } finally {
    const stopped = await shutdown({
      plane,
      client,
      controller,
      syncDone,
      viewDone,
      root,
      stateDir,
      out,
    });
    process.off("exit", killOnExit);
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
    if (stopped.left.length === 0) {
      out.step(
        "stopped",
        `stopped ${stopped.names.join(", ") || "nothing (nothing had started)"}; nothing is left running`,
        {
          stopped: stopped.names,
        },
      );
    } else {
      out.step("stopped", `could not stop: ${stopped.left.join(", ")}`, { left: stopped.left });
    }
  }
}

/** Refuses to run beside a live `llmops up` on the same state; stops what a crashed one left. */
async function refuseOrCleanUp(stateDir: string, out: UpOutput): Promise<void> {
  const file = join(stateDir, "up.json");
  if (!existsSync(file)) return;
  let record: UpRecord;
  try {
    record = JSON.parse(await readFile(file, "utf8")) as UpRecord;
  } catch {
    await rm(file, { force: true });
    return;
  }
  const alive = (() => {
    try {
      return readFileSync(`/proc/${String(record.pid)}/cmdline`, "utf8").includes("up");
    } catch {
      return false;
    }
  })();
  if (alive && record.pid !== process.pid) {
    throw new UsageError(
      `another llmops up (pid ${String(record.pid)}) is running on ${stateDir}: stop it first (Ctrl-C in its terminal), or pass another --state`,
    );
  }
  const left = record.processes.filter(isOurs);
  if (left.length > 0) {
    out.step(
      "preparing",
      `stopping what an earlier llmops up left running: ${left.map((p) => `${p.name} (pid ${String(p.pid)})`).join(", ")}`,
    );
    await stopProcesses(left);
  }
  await rm(file, { force: true });
}

/** Runs a command, streaming its output lines as details; throws with its last lines on failure. */
async function runStreaming(
  command: string,
  args: readonly string[],
  out: UpOutput,
  signal: AbortSignal,
  filter: (line: string) => boolean = () => true,
): Promise<void> {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? "1" },
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (filter(line)) out.detail(line);
    });
  }
  const onAbort = () => child.kill("SIGTERM");
  signal.addEventListener("abort", onAbort, { once: true });
  const code = await new Promise<number | null>((resolveExit, reject) => {
    child.on("error", reject);
    child.on("exit", resolveExit);
  });
  signal.removeEventListener("abort", onAbort);
  if (code !== 0 && !signal.aborted) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${String(code)}):\n${tail.join("\n")}`,
    );
  }
}

/**
 * Makes or updates the trainer's venv with trainer/setup-venv.sh (idempotent: it returns at once
 * when the venv is current). An installation without the script can still use a venv made
 * elsewhere ($LLMOPS_TRAINER_VENV).
 */
async function prepareTrainerVenv(out: UpOutput, signal: AbortSignal): Promise<void> {
  const script = join(packageRoot, "trainer", "setup-venv.sh");
  if (existsSync(script)) {
    await runStreaming("bash", [script], out, signal);
    return;
  }
  for (const tool of ["llmops-train", "llmops-serve", "llmops-create-model"]) {
    if (!existsSync(venvTool(tool))) {
      throw new Error(
        `the trainer's venv has no ${tool} (${venvTool(tool)}) and this installation has no trainer/setup-venv.sh to make it: ` +
          "run llmops up from a checkout of the repository, or set LLMOPS_TRAINER_VENV to a venv with the llmops-trainer package installed",
      );
    }
  }
  out.detail(`using the trainer venv at ${dirname(dirname(venvTool("llmops-train")))}`);
}

/** The trainer venv's tools (the venv setup-venv.sh makes). */
function venvTool(tool: string): string {
  const venv =
    process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");
  return join(venv, "bin", tool);
}

/** Creates the base models the directory's .llmops-up.yaml asks for, once. */
async function createBaseModels(
  dir: string,
  root: string,
  out: UpOutput,
  signal: AbortSignal,
): Promise<void> {
  const file = join(dir, prepareFileName);
  if (!existsSync(file)) return;
  const plan = parsePrepareFile(
    await readFile(file, "utf8"),
    relative(process.cwd(), file) || file,
  );
  for (const model of plan.models) {
    const target = resolve(root, model.path);
    if (existsSync(join(target, "config.json"))) continue;
    out.step(
      "preparing",
      `creating the base model ${model.path} from a config (${prepareFileName}; nothing is downloaded)`,
    );
    await mkdir(target, { recursive: true });
    await runStreaming(
      venvTool("llmops-create-model"),
      ["--data", resolve(root, model.data), "--out", target, ...model.args],
      out,
      signal,
    );
  }
}

/** Applies crds/ with server-side apply and waits until the apiserver serves every kind. */
async function installCrds(client: KubeClient, out: UpOutput): Promise<void> {
  const directory = defaultCrdDirectory();
  const names: string[] = [];
  for (const file of (await readdir(directory)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(directory, file), "utf8"))) {
      const crd = doc.toJS() as KubeObject | null;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      await client.apply(crdType, crd, { force: true, fieldManager: "llmops-up" });
      names.push(crd.metadata?.name ?? "");
    }
  }
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    for (;;) {
      const crd = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >(crdType, { namespace: "", name });
      if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"))
        break;
      if (Date.now() > deadline)
        throw new Error(`CustomResourceDefinition ${name} is not Established after 60 s`);
      await sleep(100);
    }
  }
  out.detail(`installed ${String(names.length)} CRDs (${names.join(", ")})`);
}

/**
 * The controller `llmops controller` runs, in this process: the same command with the flags a
 * laptop needs (local backends, no leader election, the log in <state>/logs/controller.log).
 */
async function startController(
  plane: LocalControlPlane,
  root: string,
  stateDir: string,
  out: UpOutput,
): Promise<{ stop: () => Promise<void>; apiUrl: string }> {
  const signals = new EventEmitter();
  const logFile = join(stateDir, "logs", "controller.log");
  const destination = pino.destination({ dest: logFile, sync: false, mkdir: true, append: true });
  const errors: string[] = [];
  const command = controllerCommand({
    io: { stdout: (t) => errors.push(t), stderr: (t) => errors.push(t) },
    signals: signals as unknown as Pick<NodeJS.Process, "on" | "off">,
    logDestination: destination,
  });
  const [metricsPort = 0, apiPort = 0] = await freePorts(2);
  const has = (flag: string) => command.options.some((o) => o.long === flag);
  const args = [
    "--kubeconfig",
    plane.kubeconfigPath,
    "--no-leader-elect",
    "--metrics-addr",
    `127.0.0.1:${String(metricsPort)}`,
    "--api-addr",
    `127.0.0.1:${String(apiPort)}`,
    "--training-backends",
    "local",
    "--local-root",
    root,
    // The local serving backend (a process per revision, a local proxy) where this build has it.
    ...(has("--serving-backend") ? ["--serving-backend", "local"] : []),
  ];
  const running = command.parseAsync(args, { from: "user" });
  let failed: unknown;
  running.catch((err: unknown) => {
    failed = err;
  });
  // A controller that cannot start (a port taken, a bad flag) fails within moments.
  await sleep(300);
  if (failed !== undefined) {
    throw new Error(`the controller did not start: ${errorMessage(failed)} ${errors.join("")}`, {
      cause: failed,
    });
  }
  const apiUrl = `http://127.0.0.1:${String(apiPort)}`;
  out.detail(
    `controller running in-process (log: ${logFile}; metrics http://127.0.0.1:${String(metricsPort)}/metrics; API ${apiUrl})`,
  );
  return {
    apiUrl,
    stop: async () => {
      signals.emit("SIGTERM", "SIGTERM");
      await running.catch(() => undefined);
      destination.flushSync();
      destination.end();
    },
  };
}

/** Reads the four kinds every `intervalMs` and hands the summaries to the view. */
async function watchObjects(
  client: KubeClient,
  out: UpOutput,
  intervalMs: number,
  signal: AbortSignal,
): Promise<void> {
  // The apiserver answers 429 for a moment after it starts ("storage is (re)initializing"): only
  // a failure that lasts is worth a line.
  let failures = 0;
  while (!signal.aborted) {
    try {
      const next = new Map<string, ObjectSummary>();
      for (const type of viewedKinds) {
        const list = await client.list(type, { signal });
        for (const item of list.items) {
          const summary = summarize({ ...item, kind: type.kind });
          next.set(summary.id, summary);
        }
      }
      out.update(next);
      failures = 0;
    } catch (err: unknown) {
      if (isAborted(signal)) break;
      failures++;
      if (failures === 5) out.detail(`reading objects keeps failing: ${errorMessage(err)}`);
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}

interface ChildProcessFile {
  what: "trainer" | "model server";
  dir: string;
  pid: number;
}

/**
 * The local backends' children that are still running: every `pid` file under
 * <root>/.llmops/training and <root>/.llmops/serving whose process group leader still runs in
 * that directory (or names it on its command line).
 */
export async function runningLocalChildren(root: string): Promise<ChildProcessFile[]> {
  const found: ChildProcessFile[] = [];
  const walk = async (
    dir: string,
    what: ChildProcessFile["what"],
    depth: number,
  ): Promise<void> => {
    if (depth > 8) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, what, depth + 1);
      else if (entry.name === "pid") {
        const pid = await readPidFile(full);
        if (pid !== undefined && (await runsIn(pid, dir))) found.push({ what, dir, pid });
      }
    }
  };
  await walk(join(root, ".llmops", "training"), "trainer", 0);
  await walk(join(root, ".llmops", "serving"), "model server", 0);
  return found;
}

/** The child a run directory recorded (backends/local), or a process naming that directory. */
async function runsIn(pid: number, dir: string): Promise<boolean> {
  if (await childRunsIn(pid, dir)) return true;
  const stat = await readProcStat(pid);
  if (stat === undefined || stat.state === "Z" || stat.state === "X") return false;
  const cmdline = await readFile(`/proc/${String(pid)}/cmdline`, "utf8").catch(() => "");
  const real = await realpath(dir).catch(() => dir);
  return cmdline.includes(dir) || cmdline.includes(real);
}

/** SIGTERM to each child's process group, SIGKILL after a grace period. */
async function stopLocalChildren(
  children: readonly ChildProcessFile[],
  graceMs = 10_000,
): Promise<void> {
  const signalGroup = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  };
  for (const child of children) signalGroup(child.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  let alive = [...children];
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    const still: ChildProcessFile[] = [];
    for (const child of alive) if (await runsIn(child.pid, child.dir)) still.push(child);
    alive = still;
  }
  for (const child of alive) signalGroup(child.pid, "SIGKILL");
}

async function shutdown(parts: {
  plane: LocalControlPlane | undefined;
  client: KubeClient | undefined;
  controller: { stop: () => Promise<void> } | undefined;
  syncDone: Promise<void> | undefined;
  viewDone: Promise<void> | undefined;
  root: string;
  stateDir: string;
  out: UpOutput;
}): Promise<{ names: string[]; left: string[] }> {
  const names: string[] = [];
  await parts.syncDone?.catch(() => undefined);
  await parts.viewDone?.catch(() => undefined);
  if (parts.syncDone) names.push("the directory sync");
  if (parts.controller) {
    await parts.controller.stop();
    names.push("the controller");
  }
  // The local backends' children outlive a controller on purpose (a restarted controller finds
  // them again); `llmops up` started them, so it stops them.
  const children = await runningLocalChildren(parts.root);
  if (children.length > 0) {
    await stopLocalChildren(children);
    const count = (what: string) => children.filter((c) => c.what === what).length;
    for (const what of ["trainer", "model server"] as const) {
      const n = count(what);
      if (n > 0) names.push(`${String(n)} ${what}${n > 1 ? "s" : ""}`);
    }
  }
  await parts.client?.close();
  const left: string[] = [];
  if (parts.plane) {
    await stopLocalControlPlane(parts.plane);
    names.push(...[...parts.plane.processes].reverse().map((p) => p.name));
    left.push(
      ...parts.plane.processes.filter(isOurs).map((p) => `${p.name} (pid ${String(p.pid)})`),
    );
    if (left.length === 0) await rm(join(parts.stateDir, "up.json"), { force: true });
  }
  left.push(
    ...(await runningLocalChildren(parts.root)).map((c) => `${c.what} (pid ${String(c.pid)})`),
  );
  return { names, left };
}
