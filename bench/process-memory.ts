// Where a process's resident memory is, from /proc/<pid>/smaps: V8's heap (from the controller's
// own metrics), the malloc heap and other anonymous mappings, and the pages of the node binary and
// other files. Benchmarks print it beside RSS so a figure says what it is made of.
import { readFileSync } from "node:fs";

export interface ResidentBreakdown {
  /** VmRSS, MiB. */
  rssMiB: number;
  /** Pages of the node executable (code, data), MiB. */
  nodeBinaryMiB: number;
  /** Other file-backed pages (shared libraries, ICU data), MiB. */
  otherFilesMiB: number;
  /** glibc's main arena ([heap]), MiB. */
  mallocHeapMiB: number;
  /** Anonymous mappings: V8's heap pages, other malloc arenas, thread stacks, MiB. */
  anonymousMiB: number;
}

export function residentBreakdown(pid: number): ResidentBreakdown {
  const text = readFileSync(`/proc/${String(pid)}/smaps`, "utf8");
  const exe = readFileSync(`/proc/${String(pid)}/cmdline`, "utf8").split("\0")[0] ?? "";
  let nodeBinary = 0;
  let otherFiles = 0;
  let mallocHeap = 0;
  let anonymous = 0;
  let total = 0;
  let path = "";
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      path = header[1] ?? "";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    total += kb;
    if (path === "[heap]") mallocHeap += kb;
    else if (path === "" || path.startsWith("[")) anonymous += kb;
    else if (path === exe || path.endsWith("/bin/node")) nodeBinary += kb;
    else otherFiles += kb;
  }
  const mib = (kb: number): number => Number((kb / 1024).toFixed(1));
  return {
    rssMiB: mib(total),
    nodeBinaryMiB: mib(nodeBinary),
    otherFilesMiB: mib(otherFiles),
    mallocHeapMiB: mib(mallocHeap),
    anonymousMiB: mib(anonymous),
  };
}

/** V8's heap spaces and external memory as prom-client's default metrics report them, MiB. */
export function v8MemoryFromMetrics(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  const mib = (bytes: number): number => Number((bytes / 1048576).toFixed(1));
  for (const m of metrics.matchAll(
    /^nodejs_heap_space_size_(used|total)_bytes\{space="([a-z_]+)"\} (\S+)/gm,
  )) {
    const value = Number(m[3]);
    if (value > 0) out[`${m[2] ?? ""}.${m[1] ?? ""}`] = mib(value);
  }
  const external = /^nodejs_external_memory_bytes (\S+)/m.exec(metrics);
  if (external) out["external"] = mib(Number(external[1]));
  return out;
}
