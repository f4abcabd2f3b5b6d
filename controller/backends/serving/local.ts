// Revisions as local processes of the reference serving runtime (`llmops-serve`, trainer/), one
// per revision that has replicas: 0 replicas stop it, any other count runs one process.
//
// Everything about a revision lives in its directory, so a restarted controller finds it again:
// <runsDir>/<namespace>/<model-deployment>/<revision>/ holds
//   serve.json   the command line it runs (written before it starts)
//   pid          the process (group) id; absent while stopped
//   stdout.log   the server's JSON lines: {"event":"listening","port":N} says where it listens
//   stderr.log   the server's stderr
// The process is detached into its own process group and unref'd, so it outlives a controller
// restart (warm revisions keep serving); remove and finalize stop it (SIGTERM, then SIGKILL after a
// grace) and delete the directory.
import { spawn } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
} from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import type { ModelDeployment } from "../../api/generated/index.js";
import { TerminalError } from "../../kube/errors.js";
import type { StoredObject } from "../../kube/resources.js";
import { servedName, type ResolvedModel } from "../../reconcilers/model-deployment/workloads.js";
import { errnoCode, readPidFile, readTail, runsIn, writeAtomic } from "../local/run-files.js";
import type { RevisionState, ServingBackend, ServingProblem } from "./backend.js";

export interface LocalServingOptions {
  /** Where revisions' directories live (`<localRoot>/.llmops/serving`). */
  runsDir: string;
  /** Relative model paths resolve against this directory (`--local-root`). */
  localRoot: string;
  /** The serving runtime's command (llmops-serve and any leading arguments). */
  command: readonly string[];
  /** Address the servers listen on; 127.0.0.1 by default. */
  host?: string;
  /** Extra environment for the servers. */
  env?: Readonly<Record<string, string>>;
  logger?: Logger;
  /** How long a stopped server gets to exit after SIGTERM before SIGKILL; default 5 s. */
  killGraceMs?: number;
  /** A server that exited is not started again sooner than this; default 5 s. */
  restartBackoffMs?: number;
}

export const localServingFiles = {
  command: "serve.json",
  pid: "pid",
  stdout: "stdout.log",
  stderr: "stderr.log",
} as const;

/** A local path a model names, resolved against the local root. */
export function localModelPath(localRoot: string, ref: ResolvedModel["model"]): string | undefined {
  return "path" in ref ? resolve(localRoot, ref.path) : undefined;
}

export interface LocalServingBackend extends ServingBackend {
  checkModel(model: ResolvedModel): ServingProblem | undefined;
  /** Stops every server under runsDir (the directories stay: the next start brings them back). */
  stopAll(): Promise<void>;
}

export function createLocalServing(options: LocalServingOptions): LocalServingBackend {
  const runsDir = resolve(options.runsDir);
  const localRoot = resolve(options.localRoot);
  const [program = "", ...leading] = options.command;
  const command = [program.includes("/") ? resolve(program) : program, ...leading];
  const host = options.host ?? "127.0.0.1";
  const killGraceMs = options.killGraceMs ?? 5_000;
  const restartBackoffMs = options.restartBackoffMs ?? 5_000;
  const logger = options.logger;
  /** When each directory's server was last started by this process (restart backoff). */
  const started = new Map<string, number>();

  const dirOf = (object: StoredObject<ModelDeployment>, revision?: string): string => {
    const segments = [object.metadata.namespace ?? "", object.metadata.name, revision].filter(
      (s): s is string => s !== undefined,
    );
    for (const s of segments) {
      if (s === "" || s === "." || s === ".." || /[/\\\0]/.test(s)) {
        throw new TerminalError(`${JSON.stringify(s)} cannot name a local serving directory`, {
          reason: "InvalidRunDirectory",
        });
      }
    }
    return join(runsDir, ...segments);
  };

  const checkModel: LocalServingBackend["checkModel"] = (model) => {
    for (const [field, ref] of [
      ["model", model.model],
      ["adapter", model.adapter],
    ] as const) {
      if (ref === undefined) continue;
      if (!("path" in ref)) {
        return {
          kind: "stall",
          reason: "UnsupportedModel",
          message: `the local serving backend serves models from a directory on this machine (spec.model.path, or a TrainingJob's output path), not the Hub repository ${ref.repo} (${field}); use spec.model.path, or run the controller with --serving-backend kubernetes`,
        };
      }
      const path = resolve(localRoot, ref.path);
      if (!existsSync(path)) {
        return {
          kind: "wait",
          reason: "ModelNotFound",
          message: `the ${field} directory ${path} does not exist on this machine (relative paths resolve against the controller's --local-root ${localRoot}); create it or fix spec.model.path`,
        };
      }
    }
    return undefined;
  };

  const checkCommand = (): void => {
    if (!command[0]?.includes("/")) return;
    try {
      accessSync(command[0], fsConstants.X_OK);
    } catch (err) {
      throw new TerminalError(
        `the local serving backend's server ${command[0]} is not an executable file (${errnoCode(err) ?? String(err)}): install the trainer's venv (bash trainer/setup-venv.sh) or point --serving-command at llmops-serve`,
        { reason: "ServingRuntimeNotFound", cause: err },
      );
    }
  };

  const argv = (object: StoredObject<ModelDeployment>, model: ResolvedModel): string[] => {
    const base = localModelPath(localRoot, model.model) ?? "";
    const adapter = model.adapter ? localModelPath(localRoot, model.adapter) : undefined;
    return [
      ...command,
      "--model",
      base,
      ...(adapter !== undefined ? ["--adapter", adapter] : []),
      "--served-name",
      servedName(object),
      "--host",
      host,
      "--port",
      "0",
    ];
  };

  const start = async (dir: string, args: string[]): Promise<void> => {
    checkCommand();
    mkdirSync(dir, { recursive: true });
    await writeAtomic(join(dir, localServingFiles.command), `${JSON.stringify(args)}\n`);
    // A new log per start: the port line read below is this process's.
    const stdout = openSync(join(dir, localServingFiles.stdout), "w");
    const stderr = openSync(join(dir, localServingFiles.stderr), "a");
    try {
      const [file = "", ...rest] = args;
      const child = spawn(file, rest, {
        cwd: dir,
        env: {
          ...process.env,
          OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? "1",
          ...options.env,
        },
        detached: true,
        stdio: ["ignore", stdout, stderr],
      });
      child.on("error", (err) => {
        logger?.warn({ err, dir }, "local serving process error");
      });
      if (child.pid === undefined) throw new Error(`could not start ${file} in ${dir}`);
      await writeAtomic(join(dir, localServingFiles.pid), `${String(child.pid)}\n`);
      child.unref();
      started.set(dir, Date.now());
      logger?.info({ dir, pid: child.pid }, "started local serving process");
    } finally {
      closeSync(stdout);
      closeSync(stderr);
    }
  };

  const stop = async (dir: string): Promise<void> => {
    const pid = await readPid(dir);
    if (pid === undefined) return;
    if (await runsIn(pid, dir)) {
      signal(pid, "SIGTERM");
      const deadline = Date.now() + killGraceMs;
      while ((await runsIn(pid, dir)) && Date.now() < deadline) await sleep(50);
      if (await runsIn(pid, dir)) signal(pid, "SIGKILL");
      while (await runsIn(pid, dir)) await sleep(20);
      logger?.info({ dir, pid }, "stopped local serving process");
    }
    await rm(join(dir, localServingFiles.pid), { force: true });
  };

  const state = async (dir: string): Promise<RevisionState> => {
    const pid = await readPid(dir);
    if (pid === undefined) return { available: false, replicas: 0 };
    if (!(await runsIn(pid, dir))) {
      // Stopped on purpose removes the pid file: this one exited by itself.
      const tail = (await readTail(join(dir, localServingFiles.stderr), 4096))
        .split("\n")
        .filter((line) => line.trim() !== "")
        .slice(-3)
        .join(" | ")
        .slice(-600);
      return {
        available: false,
        replicas: 0,
        problem: `its llmops-serve process (pid ${String(pid)}) exited${tail ? `: ${tail}` : ""} (log: ${join(dir, localServingFiles.stderr)})`,
      };
    }
    const port = await readPort(dir);
    if (port === undefined) return { available: false, replicas: 1 };
    const url = `http://${host}:${String(port)}/v1`;
    return { available: await healthy(host, port), replicas: 1, url };
  };

  const revisionDirs = async (parent: string): Promise<string[]> => {
    const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  };

  return {
    type: "local",
    owns: [],
    pollWhileStartingMs: 500,
    needsFinalizer: true,
    checkModel,

    async observe(object) {
      const parent = dirOf(object);
      const revisions = new Map<string, RevisionState>();
      for (const name of await revisionDirs(parent)) {
        revisions.set(name, await state(join(parent, name)));
      }
      return revisions;
    },

    async ensure({ object, revision, model, replicas }) {
      const dir = dirOf(object, revision);
      if (replicas <= 0) {
        await stop(dir);
        return;
      }
      const problem = checkModel(model);
      if (problem !== undefined) {
        throw new TerminalError(problem.message, { reason: problem.reason });
      }
      const pid = await readPid(dir);
      if (pid !== undefined && (await runsIn(pid, dir))) return;
      const last = started.get(dir);
      if (last !== undefined && Date.now() - last < restartBackoffMs) return;
      if (pid !== undefined) {
        const tail = await readTail(join(dir, localServingFiles.stderr), 2048);
        logger?.warn({ dir, pid, stderr: tail }, "local serving process exited; starting it again");
      }
      await start(dir, argv(object, model));
    },

    async scale(object, revision, replicas) {
      const dir = dirOf(object, revision);
      if (replicas <= 0) {
        await stop(dir);
        return;
      }
      const pid = await readPid(dir);
      if (pid !== undefined && (await runsIn(pid, dir))) return;
      // Started again from the command line it ran with (a warm revision after a restart).
      const text = await readFile(join(dir, localServingFiles.command), "utf8").catch(
        () => undefined,
      );
      if (text === undefined) return;
      const last = started.get(dir);
      if (last !== undefined && Date.now() - last < restartBackoffMs) return;
      await start(dir, JSON.parse(text) as string[]);
    },

    async remove(object, revisions) {
      for (const revision of revisions) {
        const dir = dirOf(object, revision);
        await stop(dir);
        await rm(dir, { recursive: true, force: true });
        started.delete(dir);
      }
    },

    async finalize(object) {
      const parent = dirOf(object);
      for (const name of await revisionDirs(parent)) await stop(join(parent, name));
      await rm(parent, { recursive: true, force: true });
    },

    async stopAll() {
      for (const namespace of await revisionDirs(runsDir)) {
        for (const md of await revisionDirs(join(runsDir, namespace))) {
          for (const revision of await revisionDirs(join(runsDir, namespace, md))) {
            await stop(join(runsDir, namespace, md, revision));
          }
        }
      }
    },
  };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(-pid, name);
  } catch (err) {
    if (errnoCode(err) !== "ESRCH") throw err;
  }
}

async function readPid(dir: string): Promise<number | undefined> {
  return readPidFile(join(dir, localServingFiles.pid));
}

/** The port from the server's {"llmops":1,"event":"listening","port":N} line. */
async function readPort(dir: string): Promise<number | undefined> {
  const text = await readFile(join(dir, localServingFiles.stdout), "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const record = JSON.parse(line) as { llmops?: number; event?: string; port?: number };
      if (record.llmops === 1 && record.event === "listening" && Number.isInteger(record.port)) {
        return record.port;
      }
    } catch {
      // ordinary output
    }
  }
  return undefined;
}

async function healthy(host: string, port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${String(port)}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
