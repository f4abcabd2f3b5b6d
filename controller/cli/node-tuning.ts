// V8 flags the long-running commands run with. This module is imported by bin/llmops.js before
// anything else, so it imports nothing.
//
// V8 sizes its heap for throughput on the host it finds, not for what the program needs: on a
// 24 GB machine each of the young generation's two semi-spaces may grow to 64 MiB, and the old
// generation is let grow well past what is live before it is collected. A controller that lists
// 10,000 objects at start grows both in seconds. Measured restarting over 10,000 Prompts
// (bench/README.md, issue 16): 294 MiB peak and 152 MiB settled as V8 sizes it; 173 and 143 MiB
// with 8 MiB semi-spaces; 136 and 130 MiB with --optimize-for-size on top (in V8's words,
// favouring memory size over execution speed), for 10-50 % more controller CPU in those runs, on
// a controller that waits on the apiserver almost all the time. Neither can be changed once the
// heap exists (v8.setFlagsFromString is ignored for the sizes), so `llmops controller` and
// `llmops up` replace themselves (execve: same pid, same stdio and signals) with the same command
// plus these flags — unless the user sized the heap themselves, in NODE_OPTIONS or on node's
// command line, which always wins, or set LLMOPS_NODE_TUNING=off.

/** The semi-space size, MiB, the long-running commands use unless told otherwise. */
export const semiSpaceMiB = 8;

/** What they run with: the young generation's bound and V8's memory-saving mode. */
export const tunedNodeFlags: readonly string[] = [
  `--max-semi-space-size=${String(semiSpaceMiB)}`,
  "--optimize-for-size",
];

const tunedCommands = new Set(["controller", "up"]);

/**
 * The argv to execve for `argv` (process.argv) to run with the tuned young generation, or
 * undefined when it already does, the user chose a size, or the command is a short-lived one.
 */
export function tunedArgv(
  argv: readonly string[],
  execArgv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] | undefined {
  const command = argv[2];
  if (command === undefined || !tunedCommands.has(command)) return undefined;
  if (env["LLMOPS_NODE_TUNING"] === "off") return undefined;
  const chosen = (flag: string): boolean => /--max-semi-space-size\b|--max-heap-size\b/.test(flag);
  if (execArgv.some(chosen) || chosen(env["NODE_OPTIONS"] ?? "")) return undefined;
  // argv[0] is node itself; execve is given the same, then node's own flags before the script.
  const [node, ...rest] = argv;
  if (node === undefined) return undefined;
  const added = tunedNodeFlags.filter((flag) => !execArgv.includes(flag));
  return [node, ...execArgv, ...added, ...rest];
}
