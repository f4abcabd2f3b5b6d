// Starting and stopping the local control plane's processes, and knowing that a PID is still ours.
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessRecord {
  name: string;
  pid: number;
  /** A string that appears in the process's command line (the run directory): proof the PID is ours. */
  marker: string;
  logFile: string;
}

export interface RunningProcess extends ProcessRecord {
  /** Set when the process exited while we watched it. */
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

export interface StartProcessOptions {
  name: string;
  binary: string;
  args: readonly string[];
  logDir: string;
  marker: string;
  /** Survive the Node process that started it (npm run cluster:up). */
  detached: boolean;
}

export function startProcess(options: StartProcessOptions): RunningProcess {
  const logFile = join(options.logDir, `${options.name}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn(options.binary, options.args, {
    stdio: ["ignore", fd, fd],
    detached: options.detached,
  });
  closeSync(fd);
  if (child.pid === undefined) {
    throw new Error(`${options.name}: could not start ${options.binary}`);
  }
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on("exit", (code, signal) => {
    exit = { code, signal };
  });
  child.on("error", () => {
    exit ??= { code: null, signal: null };
  });
  if (options.detached) child.unref();
  return {
    name: options.name,
    pid: child.pid,
    marker: options.marker,
    logFile,
    exited: () => exit,
  };
}

/** True while the PID is alive (not a zombie) and its command line still carries our marker. */
export function isOurs(record: ProcessRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, "utf8");
    return cmdline.includes(record.marker);
  } catch {
    return false;
  }
}

/** Stops the given processes in reverse start order: SIGTERM, then SIGKILL after a grace period. */
export async function stopProcesses(
  records: readonly ProcessRecord[],
  options: { graceMs?: number } = {},
): Promise<void> {
  const grace = options.graceMs ?? 10_000;
  for (const record of [...records].reverse()) {
    if (!isOurs(record)) continue;
    try {
      process.kill(record.pid, "SIGTERM");
    } catch {
      continue;
    }
    const deadline = Date.now() + grace;
    while (isOurs(record) && Date.now() < deadline) await sleep(50);
    if (isOurs(record)) {
      try {
        process.kill(record.pid, "SIGKILL");
      } catch {
        // already gone
      }
      while (isOurs(record)) await sleep(20);
    }
  }
}

/** Last lines of a log file, for error messages. */
export function logTail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
