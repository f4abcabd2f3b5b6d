// Training attempts as child processes on this machine: the reference trainer (or any command
// that speaks the trainer contract) started detached, in its own process group.
//
// Everything about an attempt lives in its directory, so a restarted controller finds it again
// from the request alone: <runsDir>/<namespace>/<name>/<runId>/attempt-<n>/ holds
//   trainer.json       the TrainerConfig (no secrets: those reach the child only as env)
//   pid                the process group id (the wrapper shell is the group leader)
//   events.log         the trainer's stdout: our JSON-line records among ordinary output
//   stderr.log         the trainer's stderr
//   exit-code          written by the wrapper when the trainer exits (tmp + rename: atomic)
//   cancelled          marker: cancel was asked for
//   deadline-exceeded  marker: observe stopped the attempt at request.maxSeconds
//
// The child outlives the controller: it is detached and unref'd, its output goes to files rather
// than pipes, and a small sh wrapper records the exit status, which no one would otherwise see
// once the parent is gone. The wrapper traps SIGTERM (without ignoring it, so the trainer keeps
// the default) only to outlive the trainer's graceful shutdown and write its exit status.
import { spawn } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { open, readdir, readFile, stat } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import { errorMessage, TerminalError } from "../../kube/errors.js";
import { systemClock, type Clock } from "../../runtime/clock.js";
import {
  errnoCode,
  hasProc,
  parsePid,
  readProcStat,
  readTail,
  workingIn,
  writeAtomic,
} from "../local/run-files.js";
import type { AttemptRef, AttemptRequest, AttemptState, TrainingBackend } from "./backend.js";
import {
  parseTrainerLine,
  permanentTrainerReasons,
  type TrainerEvent,
} from "./trainer-contract.js";

/** File names inside an attempt directory. */
export const localAttemptFiles = {
  config: "trainer.json",
  pid: "pid",
  events: "events.log",
  stderr: "stderr.log",
  exitCode: "exit-code",
  cancelled: "cancelled",
  deadlineExceeded: "deadline-exceeded",
} as const;

// `$$` is the shell's pid, which is the process group id: spawn's `detached` makes it a session
// and group leader. The pid is written here as well as by submit, so that a controller killed
// between the spawn and its own write still leaves the pid behind.
const wrapperScript = [
  "trap : TERM INT",
  "echo $$ > pid.wrapper.tmp && mv -f pid.wrapper.tmp pid",
  '"$@"',
  "code=$?",
  "echo $code > exit-code.tmp && mv -f exit-code.tmp exit-code",
].join("\n");

export interface LocalBackendOptions {
  /** The trainer and its arguments, e.g. [<venv>/bin/llmops-train]. */
  command: readonly string[];
  /** Attempt directories go under here (see the file comment). */
  runsDir: string;
  /** Environment for every trainer, over the controller's own. */
  env?: Record<string, string>;
  logger?: Pick<Logger, "debug" | "warn">;
  /** Deadlines (request.maxSeconds) and the SIGKILL grace timer. */
  clock?: Clock;
  /** Between SIGTERM and SIGKILL of a cancelled attempt's process group (default 10 s). */
  killGraceMs?: number;
  /** How much of the end of stderr.log a TrainerExited message quotes (default 2048 bytes). */
  stderrTailBytes?: number;
}

export interface LocalTrainingBackend extends TrainingBackend {
  readonly type: "local";
}

/** Creates the local training backend: each attempt a detached child process of this machine. */
export function createLocalBackend(options: LocalBackendOptions): LocalTrainingBackend {
  if (options.command.length === 0) {
    throw new TypeError("createLocalBackend: options.command is empty (the trainer to run)");
  }
  return new LocalBackend(options);
}

/** The directory of one attempt: <runsDir>/<namespace>/<name>/<runId>/attempt-<n>. */
export function localAttemptDir(
  runsDir: string,
  request: Pick<AttemptRequest, "owner" | "runId" | "attempt">,
): string {
  const { namespace, name } = request.owner;
  return join(runsDir, namespace, name, request.runId, `attempt-${String(request.attempt)}`);
}

type TrainerRecord<E extends TrainerEvent["event"]> = Extract<TrainerEvent, { event: E }>;

/** The trainer's latest records of one attempt. */
export interface TrainerRecords {
  started?: TrainerRecord<"started">;
  lastProgress?: TrainerRecord<"progress">;
  lastCheckpoint?: TrainerRecord<"checkpoint">;
  completed?: TrainerRecord<"completed">;
  failed?: TrainerRecord<"failed">;
}

/** What the attempt directory and the process table say about one attempt. */
export interface LocalAttemptFacts {
  /** The wrapper's record of the trainer's exit status; undefined while it runs. */
  exitCode?: number;
  cancelled: boolean;
  deadlineExceeded?: string;
  /** Whether a pid was ever recorded (the process was started). */
  started: boolean;
  /** Whether the process group is alive. */
  alive: boolean;
  records: TrainerRecords;
  /** The end of stderr.log (for a trainer that exited without saying why). */
  stderrTail: string;
  startedAt?: Date;
  finishedAt?: Date;
}

/** The attempt's state from the facts about it. Pure. */
export function localAttemptState(facts: LocalAttemptFacts): AttemptState {
  const { records } = facts;
  const base: Omit<AttemptState, "phase"> = {
    ...(records.lastProgress ? { lastProgress: records.lastProgress } : {}),
    ...(records.lastCheckpoint ? { lastCheckpoint: records.lastCheckpoint } : {}),
    ...(records.completed ? { completed: records.completed } : {}),
    ...(facts.startedAt ? { startedAt: facts.startedAt } : {}),
  };
  const finished = facts.finishedAt ? { finishedAt: facts.finishedAt } : {};
  const code = facts.exitCode;
  // The model is written: a cancel or a deadline that came too late changes nothing.
  if (code === 0 && records.completed) return { phase: "Succeeded", ...base, ...finished };
  if (facts.cancelled) return { phase: "Cancelled", ...base, ...finished };
  if (facts.deadlineExceeded !== undefined) {
    return {
      phase: "Failed",
      retryable: false,
      reason: "BudgetExceeded",
      message: facts.deadlineExceeded,
      ...base,
      ...finished,
    };
  }
  if (code === undefined) {
    if (facts.alive) return { phase: records.started ? "Running" : "Pending", ...base };
    return {
      phase: "Failed",
      retryable: true,
      reason: "AttemptLost",
      message: facts.started
        ? "the trainer's process group is gone without an exit status (the machine restarted, or the group was killed from outside)"
        : "the trainer was never started (the controller stopped while starting it)",
      ...base,
    };
  }
  const failed = records.failed;
  if (failed) {
    return {
      phase: "Failed",
      retryable: failed.retryable && !permanentTrainerReasons.has(failed.reason),
      reason: failed.reason,
      message: failed.field ? `${failed.field}: ${failed.message}` : failed.message,
      ...base,
      ...finished,
    };
  }
  if (code >= 128) {
    const signal = signalName(code - 128);
    return {
      phase: "Failed",
      retryable: true,
      reason: "Killed",
      message: `the trainer was killed by ${signal} (exit code ${code})${signal === "SIGKILL" ? ": out of memory, or killed from outside" : ""}`,
      ...base,
      ...finished,
    };
  }
  const tail =
    facts.stderrTail === "" ? "stderr.log is empty" : `stderr.log ends: ${facts.stderrTail}`;
  return {
    phase: "Failed",
    retryable: true,
    reason: "TrainerExited",
    message: `the trainer exited with code ${code} without a ${code === 0 ? "completed" : "failed"} record; ${tail}`,
    ...base,
    ...finished,
  };
}

function signalName(signal: number): string {
  const entry = Object.entries(osConstants.signals).find(([, value]) => value === signal);
  return entry?.[0] ?? `signal ${signal}`;
}

/** Reads one attempt's events.log from where the last read stopped. */
interface EventsCursor {
  offset: number;
  /** The bytes after the last newline: a line still being written. */
  rest: Buffer;
  records: TrainerRecords;
}

const readChunkBytes = 1 << 20;
/** A longer unterminated line is not one of our records (they are small): drop it. */
const maxLineBytes = 1 << 20;
/** Cursors kept at once; the least recently observed attempt is re-read from 0 if it returns. */
const maxCursors = 1024;

class LocalBackend implements LocalTrainingBackend {
  readonly type = "local" as const;
  private readonly clock: Clock;
  private readonly killGraceMs: number;
  private readonly stderrTailBytes: number;
  /** Attempt directory → events.log cursor, least recently observed first. */
  private readonly cursors = new Map<string, EventsCursor>();
  /** Attempt directory → the observe in progress: reads of one cursor never overlap. */
  private readonly reads = new Map<string, Promise<unknown>>();
  /** Attempt directories with a SIGKILL pending. */
  private readonly killing = new Set<string>();

  /** Absolute: the trainer runs in its attempt directory and reads TRAINER_CONFIG from there. */
  private readonly runsDir: string;
  /** The command with a relative program path made absolute, for the same reason. */
  private readonly command: readonly string[];

  constructor(private readonly options: LocalBackendOptions) {
    this.runsDir = resolve(options.runsDir);
    const [program = "", ...args] = options.command;
    this.command = [program.includes("/") ? resolve(program) : program, ...args];
    this.clock = options.clock ?? systemClock();
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.stderrTailBytes = options.stderrTailBytes ?? 2048;
  }

  /**
   * Starts the attempt unless its directory already records a pid, an exit status or a cancel.
   * Synchronous between the check and the pid write, so two submits in this process cannot both
   * start it.
   */
  submit(request: AttemptRequest): Promise<AttemptRef> {
    // The executor runs now, synchronously; what it throws rejects the promise.
    return new Promise((resolve) => {
      resolve(this.submitSync(request));
    });
  }

  private submitSync(request: AttemptRequest): AttemptRef {
    checkSegments(request);
    const dir = localAttemptDir(this.runsDir, request);
    const existing = readPidSync(dir);
    // A cancelled attempt that never started stays unstarted.
    const ended = [localAttemptFiles.exitCode, localAttemptFiles.cancelled].some((file) =>
      existsSync(join(dir, file)),
    );
    if (existing !== undefined || ended) {
      this.options.logger?.debug({ dir, pid: existing }, "local training attempt already started");
      return attemptRef(request, dir, existing);
    }
    this.checkCommand();
    mkdirSync(dir, { recursive: true });
    writeAtomicSync(
      join(dir, localAttemptFiles.config),
      `${JSON.stringify(request.config, null, 2)}\n`,
    );

    const env: Record<string, string | undefined> = {
      ...process.env,
      ...this.options.env,
      ...request.env,
    };
    for (const secret of request.secrets) env[secret.env] = secret.value;
    env.TRAINER_CONFIG = join(dir, localAttemptFiles.config);
    env.OMP_NUM_THREADS ??= "1"; // two threads were 16× slower on a loaded 2-core machine

    const stdout = openSync(join(dir, localAttemptFiles.events), "a");
    const stderr = openSync(join(dir, localAttemptFiles.stderr), "a");
    try {
      const child = spawn("sh", ["-c", wrapperScript, "sh", ...this.command], {
        cwd: dir,
        env,
        detached: true,
        stdio: ["ignore", stdout, stderr],
      });
      // A failed spawn also emits "error"; the missing pid below reports it.
      child.on("error", (err) => {
        this.options.logger?.warn({ err, dir }, "local trainer process error");
      });
      const pid = child.pid;
      if (pid === undefined) {
        throw new Error(`could not start the local trainer in ${dir} (sh not found?)`);
      }
      writeAtomicSync(join(dir, localAttemptFiles.pid), `${String(pid)}\n`);
      child.unref();
      this.cursors.delete(dir);
      this.options.logger?.debug({ dir, pid }, "started local training attempt");
      return attemptRef(request, dir, pid);
    } finally {
      closeSync(stdout);
      closeSync(stderr);
    }
  }

  /** The attempt's state from its directory; undefined when the directory does not exist. */
  async observe(request: AttemptRequest, _ref: AttemptRef): Promise<AttemptState | undefined> {
    checkSegments(request);
    const dir = localAttemptDir(this.runsDir, request);
    return this.serialized(dir, () => this.observeDir(request, dir));
  }

  private async observeDir(
    request: AttemptRequest,
    dir: string,
  ): Promise<AttemptState | undefined> {
    const configStat = await statOrUndefined(join(dir, localAttemptFiles.config));
    if (configStat === undefined && !(await exists(dir))) {
      this.cursors.delete(dir);
      return undefined;
    }
    const pid = await readPid(dir);
    let exit = await readExitCode(dir);
    let alive = false;
    if (exit === undefined && pid !== undefined) {
      alive = await groupAlive(pid, dir);
      // The wrapper writes the status before it ends: a trainer that exited between the two
      // looks is finished, not lost.
      if (!alive) exit = await readExitCode(dir);
    }
    const cursor = await this.readEvents(dir, { final: exit !== undefined });
    const [cancelled, deadline] = await Promise.all([
      statOrUndefined(join(dir, localAttemptFiles.cancelled)),
      readTextOrUndefined(join(dir, localAttemptFiles.deadlineExceeded)),
    ]);
    const facts: LocalAttemptFacts = {
      ...(exit !== undefined ? { exitCode: exit.code, finishedAt: exit.at } : {}),
      cancelled: cancelled !== undefined,
      ...(deadline !== undefined ? { deadlineExceeded: deadline.trim() } : {}),
      started: pid !== undefined,
      alive,
      records: cursor.records,
      stderrTail: "",
      ...(configStat ? { startedAt: configStat.mtime } : {}),
    };
    if (facts.finishedAt === undefined && cancelled !== undefined) {
      facts.finishedAt = cancelled.mtime;
    }

    const maxSeconds = request.maxSeconds;
    if (
      alive &&
      pid !== undefined &&
      exit === undefined &&
      !facts.cancelled &&
      facts.deadlineExceeded === undefined &&
      maxSeconds !== undefined &&
      facts.startedAt !== undefined &&
      this.clock.now() - facts.startedAt.getTime() >= maxSeconds * 1000
    ) {
      // What activeDeadlineSeconds does for a Job and timeoutSeconds for a Hugging Face job.
      const message = `the trainer ran past ${String(maxSeconds)} s (budget.maxHours) and was stopped; the last checkpoint is kept`;
      await writeAtomic(join(dir, localAttemptFiles.deadlineExceeded), `${message}\n`);
      this.terminate(dir, pid);
      facts.deadlineExceeded = message;
      facts.finishedAt = new Date(this.clock.now());
    }
    if (
      exit !== undefined &&
      exit.code !== 0 &&
      !facts.cancelled &&
      facts.deadlineExceeded === undefined &&
      !cursor.records.failed
    ) {
      facts.stderrTail = await readTail(join(dir, localAttemptFiles.stderr), this.stderrTailBytes);
    }
    return localAttemptState(facts);
  }

  /** Marks the attempt cancelled and stops its process group: SIGTERM, then SIGKILL after a grace. */
  async cancel(request: AttemptRequest, _ref: AttemptRef): Promise<void> {
    checkSegments(request);
    const dir = localAttemptDir(this.runsDir, request);
    if (!(await exists(dir))) return;
    if ((await readExitCode(dir)) !== undefined) return; // finished: nothing to stop
    if (!(await exists(join(dir, localAttemptFiles.cancelled)))) {
      await writeAtomic(
        join(dir, localAttemptFiles.cancelled),
        `${new Date(this.clock.now()).toISOString()}\n`,
      );
    }
    const pid = await readPid(dir);
    if (pid !== undefined && (await groupAlive(pid, dir))) this.terminate(dir, pid);
  }

  private terminate(dir: string, pid: number): void {
    this.signalGroup(pid, "SIGTERM", dir);
    if (this.killing.has(dir)) return;
    this.killing.add(dir);
    this.clock.setTimer(() => {
      this.killing.delete(dir);
      // Check again: after the group is gone its id may belong to someone else.
      void groupAlive(pid, dir).then((alive) => {
        if (alive) this.signalGroup(pid, "SIGKILL", dir);
      });
    }, this.killGraceMs);
  }

  private signalGroup(pid: number, signal: NodeJS.Signals, dir: string): void {
    try {
      process.kill(-pid, signal);
      this.options.logger?.debug({ dir, pid, signal }, "signalled local training attempt");
    } catch (err) {
      if (errnoCode(err) !== "ESRCH") {
        this.options.logger?.warn({ err, dir, pid, signal }, "could not signal the local trainer");
      }
    }
  }

  private checkCommand(): void {
    const program = this.command[0] ?? "";
    if (!program.includes("/")) return; // found on PATH by the shell, or reported as exit 127
    try {
      accessSync(program, fsConstants.X_OK);
    } catch (err) {
      throw new TerminalError(
        `the local training backend's trainer ${program} is not an executable file (${errnoCode(err) ?? errorMessage(err)}): install the trainer (trainer/setup-venv.sh) or point the controller's trainer command at it`,
        { reason: "TrainerNotFound", cause: err },
      );
    }
  }

  private async readEvents(dir: string, options: { final: boolean }): Promise<EventsCursor> {
    let cursor = this.cursors.get(dir);
    if (cursor === undefined) {
      cursor = { offset: 0, rest: Buffer.alloc(0), records: {} };
    } else {
      this.cursors.delete(dir);
    }
    this.cursors.set(dir, cursor);
    if (this.cursors.size > maxCursors) {
      const oldest = this.cursors.keys().next().value;
      if (oldest !== undefined) this.cursors.delete(oldest);
    }
    await readNewEvents(join(dir, localAttemptFiles.events), cursor);
    // Once the trainer has exited, an unterminated last line is complete.
    if (options.final && cursor.rest.length > 0) {
      applyLine(cursor.records, cursor.rest.toString("utf8"));
      cursor.rest = Buffer.alloc(0);
    }
    return cursor;
  }

  private async serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.reads.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.reads.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.reads.get(key) === settled) this.reads.delete(key);
    }
  }
}

function attemptRef(request: AttemptRequest, dir: string, pid: number | undefined): AttemptRef {
  return {
    name: `${request.runId}/attempt-${String(request.attempt)}`,
    ...(pid !== undefined ? { remoteId: String(pid) } : {}),
    url: pathToFileURL(dir).href,
  };
}

/** Path segments come from the owner and the run: none may climb out of runsDir. */
function checkSegments(request: AttemptRequest): void {
  const segments = {
    "metadata.namespace": request.owner.namespace,
    "metadata.name": request.owner.name,
    "status.runId": request.runId,
  };
  for (const [field, value] of Object.entries(segments)) {
    if (value === "" || value === "." || value === ".." || /[/\\\0]/.test(value)) {
      throw new TerminalError(
        `TrainingJob ${request.owner.namespace}/${request.owner.name}: ${field} ${JSON.stringify(value)} cannot name a local run directory`,
        { reason: "InvalidRunDirectory" },
      );
    }
  }
  if (!Number.isInteger(request.attempt) || request.attempt < 1) {
    throw new TerminalError(
      `TrainingJob ${request.owner.namespace}/${request.owner.name}: attempt ${String(request.attempt)} is not a positive integer`,
      { reason: "InvalidRunDirectory" },
    );
  }
}

/** Reads what was appended to events.log since the cursor's offset, keeping the latest records. */
async function readNewEvents(path: string, cursor: EventsCursor): Promise<void> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size < cursor.offset) {
      // Replaced or truncated: start over.
      cursor.offset = 0;
      cursor.rest = Buffer.alloc(0);
      cursor.records = {};
    }
    while (cursor.offset < size) {
      const length = Math.min(readChunkBytes, size - cursor.offset);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, cursor.offset);
      if (bytesRead === 0) break;
      cursor.offset += bytesRead;
      consume(cursor, buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

function consume(cursor: EventsCursor, chunk: Buffer): void {
  // Split on newline bytes, not characters: a chunk may end inside a multi-byte character.
  const data = cursor.rest.length > 0 ? Buffer.concat([cursor.rest, chunk]) : chunk;
  let start = 0;
  for (
    let newline = data.indexOf(0x0a, start);
    newline !== -1;
    newline = data.indexOf(0x0a, start)
  ) {
    applyLine(cursor.records, data.toString("utf8", start, newline));
    start = newline + 1;
  }
  const rest = data.subarray(start);
  cursor.rest = rest.length > maxLineBytes ? Buffer.alloc(0) : Buffer.from(rest);
}

function applyLine(records: TrainerRecords, line: string): void {
  const event = parseTrainerLine(line);
  switch (event?.event) {
    case "started":
      records.started = event;
      break;
    case "progress":
      records.lastProgress = event;
      break;
    case "checkpoint":
      records.lastCheckpoint = event;
      break;
    case "completed":
      records.completed = event;
      break;
    case "failed":
      records.failed = event;
      break;
    case undefined:
      break;
  }
}

/**
 * Whether the process group still has a live member that is this attempt's. A group id outlives
 * its processes in two ways that would read as "Running" forever: zombies (an orphaned trainer
 * worker under a PID 1 that does not reap, as in a container without an init) and reuse (the id
 * taken by another group after a machine restart). On Linux, /proc tells both apart; elsewhere
 * the signal-0 probe has to do.
 */
async function groupAlive(pid: number, dir: string): Promise<boolean> {
  try {
    process.kill(-pid, 0);
  } catch (err) {
    // EPERM: the group exists but is another user's, so it cannot be ours; it would be if the
    // controller ran the trainer as another user, which it does not.
    return errnoCode(err) === "EPERM";
  }
  const leader = await readProcStat(pid);
  if (leader !== undefined && leader.state !== "Z") {
    // The wrapper never leaves the attempt directory.
    return (await workingIn(pid, dir)) !== false;
  }
  if (!(await hasProc())) return true;
  // The leader is gone or a zombie (the wrapper ends only after the trainer, so this is rare):
  // the group lives while any other member runs.
  const entries = await readdir("/proc").catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const member = await readProcStat(Number(entry));
    if (member?.pgrp === pid && member.state !== "Z") return true;
  }
  return false;
}

async function readExitCode(dir: string): Promise<{ code: number; at: Date } | undefined> {
  const path = join(dir, localAttemptFiles.exitCode);
  const [text, info] = await Promise.all([readTextOrUndefined(path), statOrUndefined(path)]);
  if (text === undefined) return undefined;
  const code = Number.parseInt(text.trim(), 10);
  // The wrapper writes it through a rename: anything unreadable is not a status we can trust.
  return {
    code: Number.isFinite(code) ? code : 255,
    at: info?.mtime ?? new Date(),
  };
}

async function readPid(dir: string): Promise<number | undefined> {
  return parsePid(await readTextOrUndefined(join(dir, localAttemptFiles.pid)));
}

function readPidSync(dir: string): number | undefined {
  try {
    return parsePid(readFileSync(join(dir, localAttemptFiles.pid), "utf8"));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

function writeAtomicSync(path: string, text: string): void {
  const tmp = `${path}.${String(process.pid)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

async function statOrUndefined(path: string): Promise<{ mtime: Date } | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await statOrUndefined(path)) !== undefined;
}
