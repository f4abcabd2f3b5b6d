// V8 flags the long-running commands run with. This module is imported by bin/llmops.js before
// anything else, so it imports nothing.
//
// V8 sizes its heap for throughput on the host it finds, not for what the program needs: on a
// 24 GB machine each of the young generation's two semi-spaces may grow to 64 MiB, and a
// controller that lists 10,000 objects at start grows them in seconds. It also runs four worker
// threads for compiling and collecting, each with its own malloc arena. Measured with 10,000
// Prompts watched (bench/README.md, issue 16), settled RSS after bench:prompts, one run each:
//
//   --max-semi-space-size=8                        161.7 MiB
//   --max-semi-space-size=8 --v8-pool-size=1       138.9 MiB (what runs)
//   --max-semi-space-size=8 --optimize-for-size    128.6 MiB, 2x CPU per model call: not used
//
// and 294 MiB peak, 152 settled, restarted over them as V8 sizes it. The semi-space bound and one
// worker thread cost no CPU that the benchmarks see (Experiments ran faster: on two cores, fewer
// threads compete with the model client). Neither can be changed once the heap exists
// (v8.setFlagsFromString is ignored for them), so `llmops controller` and `llmops up` replace
// themselves (execve: same pid, same stdio and signals) with the same command
// plus these flags — unless the user sized the heap themselves, in NODE_OPTIONS or on node's
// command line, which always wins (as does a --v8-pool-size of their own), or set
// LLMOPS_NODE_TUNING=off.

/** The semi-space size, MiB, the long-running commands use unless told otherwise. */
export const semiSpaceMiB = 8;

/** What they run with: the young generation's bound and one V8 worker thread. */
export const tunedNodeFlags: readonly string[] = [
  `--max-semi-space-size=${String(semiSpaceMiB)}`,
  "--v8-pool-size=1",
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
  const nodeOptions = env["NODE_OPTIONS"] ?? "";
  const added = tunedNodeFlags.filter((flag) => {
    const name = flag.slice(0, flag.indexOf("="));
    return !execArgv.some((a) => a.startsWith(name)) && !nodeOptions.includes(name);
  });
  return added.length === 0 ? undefined : [node, ...execArgv, ...added, ...rest];
}
