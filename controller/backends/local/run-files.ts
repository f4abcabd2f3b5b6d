// What the local backends (training attempts, model servers) and `llmops up` share about a child
// process that runs detached in a run directory: its pid file, atomic writes of its records, the
// tail of its logs, and whether a recorded pid is still that child (not a zombie, not a reused pid).
import { readFile, readlink, realpath, rename, writeFile, open } from "node:fs/promises";

/** The errno code of a Node system error (ENOENT, ESRCH, …). */
export function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}

/** A pid file's content as a pid; undefined when absent or not a plausible child's pid. */
export function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** The pid recorded in `path`; undefined when the file is missing or holds none. */
export async function readPidFile(path: string): Promise<number | undefined> {
  return parsePid(await readFile(path, "utf8").catch(() => undefined));
}

/** Writes `text` to `path` through a rename, so a reader never sees half of it. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${String(process.pid)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** The last `bytes` of a file, from the first whole line on, trimmed; "" when it cannot be read. */
export async function readTail(path: string, bytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    let text = buffer.toString("utf8");
    if (length < size) {
      const newline = text.indexOf("\n");
      if (newline !== -1 && newline < text.length - 1) text = text.slice(newline + 1);
    }
    return text.trim();
  } finally {
    await handle.close();
  }
}

/** State and process group from /proc/<pid>/stat; undefined without such a process (or /proc). */
export async function readProcStat(
  pid: number,
): Promise<{ state: string; pgrp: number } | undefined> {
  const text = await readFile(`/proc/${String(pid)}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgrp = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgrp) ? undefined : { state, pgrp };
}

/** Whether `pid` has `dir` as its working directory (undefined: /proc cannot say). */
export async function workingIn(pid: number, dir: string): Promise<boolean | undefined> {
  const cwd = await readlink(`/proc/${String(pid)}/cwd`).catch(() => undefined);
  if (cwd === undefined) return undefined;
  return cwd === (await realpath(dir).catch(() => dir));
}

/**
 * Whether `pid` runs, is not a zombie, and works in `dir` — the child a run directory recorded,
 * not another process that was given the same pid later. Without /proc (macOS) the signal-0 probe
 * is all there is.
 */
export async function runsIn(pid: number, dir: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // gone, or another user's (EPERM): not a child we started
  }
  const stat = await readProcStat(pid);
  if (stat === undefined) return !(await hasProc());
  if (stat.state === "Z" || stat.state === "X") return false;
  return (await workingIn(pid, dir)) === true;
}

/** Whether this system has /proc to ask (Linux). */
export async function hasProc(): Promise<boolean> {
  return (await readFile("/proc/self/stat").catch(() => undefined)) !== undefined;
}
