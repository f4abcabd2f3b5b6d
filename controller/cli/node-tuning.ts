// V8 flags the long-running commands run with. This module is imported by bin/llmops.js before
// anything else, so it imports nothing.
//
// V8 sizes its young generation from the host's memory, not from what the program needs: on a
// 24 GB machine each of its two semi-spaces may grow to 64 MiB. A controller that lists 10,000
// objects at start grows it to that size in seconds and keeps most of it: measured, over 100 MiB
// of RSS that holds nothing but garbage already collected, more than every cache together. With
// 8 MiB semi-spaces the same start-up took no more CPU (bench/README.md, issue 16). The size
// cannot be changed once the heap exists (v8.setFlagsFromString is ignored for it), so
// `llmops controller` and `llmops up` replace themselves (execve: same pid, same stdio and
// signals) with the same command plus the flag — unless the user set the size themselves, in
// NODE_OPTIONS or on node's command line, which always wins.

/** The semi-space size, MiB, the long-running commands use unless told otherwise. */
export const semiSpaceMiB = 8;

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
  return [node, ...execArgv, `--max-semi-space-size=${String(semiSpaceMiB)}`, ...rest];
}
