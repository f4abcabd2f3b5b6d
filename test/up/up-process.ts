// `llmops up -o json` as a real child process, with its JSON events read back as they come, and
// the checks that nothing it started is left running afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { repositoryRoot } from "../validate/fixtures.js";

export interface UpEvent {
  time: string;
  event: string;
  state?: string;
  message?: string;
  kind?: string;
  name?: string;
  [field: string]: unknown;
}

export interface UpProcess {
  child: ChildProcess;
  events: UpEvent[];
  /** stderr and stdout lines that are not JSON, for failure messages. */
  other: string[];
  /** Every stdout and stderr line, in order. */
  lines: string[];
  exited: Promise<number | null>;
  /** Resolves with the first event (already seen or still to come) that `match` accepts. */
  waitFor: (what: string, match: (e: UpEvent) => boolean, timeoutMs: number) => Promise<UpEvent>;
  /** The same for a line of output (the plain-text view). */
  waitForLine: (
    what: string,
    match: (line: string) => boolean,
    timeoutMs: number,
  ) => Promise<string>;
}

// The same main() bin/llmops.js runs, from the TypeScript source: dist/ is built by `npm ci`, but
// a working tree under development may hold an older build.
const entry =
  'import("./controller/main.ts").then((m) => m.main(["node", "llmops", ...process.argv.slice(1)])).then((code) => { process.exitCode = code; })';

/** Starts `llmops up <args> -o json` (or, with `json: false`, the plain-text view) in `cwd`. */
export function startUp(
  cwd: string,
  args: readonly string[],
  options: { json?: boolean } = {},
): UpProcess {
  const child = spawn(
    process.execPath,
    [
      "--import",
      join(repositoryRoot, "node_modules/tsx/dist/loader.mjs"),
      "-e",
      entry.replace("./controller/main.ts", join(repositoryRoot, "controller/main.ts")),
      "up",
      ...args,
      ...(options.json === false ? [] : ["-o", "json"]),
    ],
    { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OMP_NUM_THREADS: "1" } },
  );
  const events: UpEvent[] = [];
  const other: string[] = [];
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    try {
      events.push(JSON.parse(line) as UpEvent);
    } catch {
      other.push(line);
    }
    for (const wake of waiters) wake();
  });
  createInterface({ input: child.stderr }).on("line", (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
    other.push(line);
    if (other.length > 200) other.shift();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("close", (code) => {
      resolve(code);
      for (const wake of waiters) wake();
    }),
  );
  const waitFor = (what: string, match: (e: UpEvent) => boolean, timeoutMs: number) =>
    new Promise<UpEvent>((resolve, reject) => {
      let seen = 0;
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; last output:\n${other.slice(-30).join("\n")}\n${events
              .slice(-10)
              .map((e) => JSON.stringify(e))
              .join("\n")}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        for (; seen < events.length; seen++) {
          const event = events[seen];
          if (event !== undefined && match(event)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(event);
            return;
          }
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(
            new Error(
              `llmops up exited (${String(child.exitCode ?? child.signalCode)}) while waiting for ${what}:\n${other.slice(-40).join("\n")}`,
            ),
          );
        }
      };
      waiters.add(check);
      check();
    });
  const waitForLine = async (what: string, match: (line: string) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(match);
      if (found !== undefined) return found;
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no line for ${what}; output:\n${lines.slice(-40).join("\n")}`);
      }
      await sleep(100);
    }
  };
  return { child, events, other, lines, exited, waitFor, waitForLine };
}

/** Every live process whose command line or working directory names `root`. */
export function processesUnder(root: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // another user's process
      }
      if (cmdline.includes(root) || cwd.startsWith(root))
        found.push({ pid: Number(entry), cmdline });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** SIGINT, as Ctrl-C sends it, then the exit code and the "stopped" event. */
export async function interrupt(
  up: UpProcess,
  timeoutMs = 90_000,
): Promise<{ code: number | null; stopped: UpEvent }> {
  up.child.kill("SIGINT");
  const stopped = await up.waitFor(
    "the stopped event",
    (e) => e.event === "up" && e.state === "stopped",
    timeoutMs,
  );
  const code = await Promise.race([up.exited, sleep(timeoutMs).then(() => -1)]);
  return { code, stopped };
}
