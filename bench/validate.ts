// How long `llmops validate` takes on 1,000 manifests (250 of each kind, one file each), against
// a baseline from the same run: reading and parsing the same files with the yaml package and no
// validation. Prints numbers; never fails. Run with `npm run bench:validate [-- --count N]`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { runCli, type CliIo } from "../controller/cli/program.js";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw === undefined ? fallback : Number(raw);
}

/** Writes `count` manifests, cycling through the four specs/ examples with unique names. */
async function generateManifests(dir: string, count: number): Promise<void> {
  const examples = [
    "specs/prompts/support-triage.yaml",
    "specs/experiments/support-triage-v1-vs-v2.yaml",
    "specs/models/coder-7b-lora.yaml",
    "specs/models/coder-7b.yaml",
  ];
  const texts = await Promise.all(examples.map((f) => readFile(join(repoRoot, f), "utf8")));
  for (let i = 0; i < count; i++) {
    const text = texts[i % texts.length] ?? "";
    const sub = join(dir, `team-${String(i % 10)}`);
    await mkdir(sub, { recursive: true });
    // Unique names keep the duplicate check honest; references stay inside each group of four.
    const group = Math.floor(i / texts.length);
    const renamed = text
      .replace(/^( {2}name: )([a-z0-9-]+)$/gm, `$1$2-${String(group)}`)
      .replace(/^(\s+name: )(support-triage|coder-7b-lora)$/gm, `$1$2-${String(group)}`);
    await writeFile(join(sub, `m-${String(i).padStart(5, "0")}.yaml`), renamed);
  }
}

async function listYaml(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".yaml"))
      out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

const silent: CliIo = { stdout: () => undefined, stderr: () => undefined };

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const count = argValue("--count", 1000);
  const rounds = argValue("--rounds", 5);
  const dir = await mkdtemp(join(tmpdir(), "llmops-bench-validate-"));
  try {
    await generateManifests(dir, count);
    const files = await listYaml(dir);

    let exitCode: number | undefined;
    const cold = await timeMs(async () => {
      exitCode = await runCli(["node", "llmops", "validate", dir], {
        version: "bench",
        io: silent,
      });
    });
    if (exitCode !== 0) {
      process.stderr.write(
        `warning: llmops validate exited ${String(exitCode)} on the generated set\n`,
      );
    }
    const warm: number[] = [];
    for (let r = 0; r < rounds; r++) {
      warm.push(
        await timeMs(() =>
          runCli(["node", "llmops", "validate", dir], { version: "bench", io: silent }),
        ),
      );
    }
    const parse: number[] = [];
    for (let r = 0; r < rounds; r++) {
      parse.push(
        await timeMs(async () => {
          for (const f of files) {
            for (const doc of parseAllDocuments(await readFile(f, "utf8"), { version: "1.1" }))
              doc.toJS();
          }
        }),
      );
    }

    // The whole command as CI runs it: a fresh Node process (the build if present, else tsx).
    // dist/ counts only when it was built with the validate command (`npm run build`).
    const built = join(repoRoot, "dist", "cli", "validate.js");
    const processRun = existsSync(built)
      ? {
          label: "node bin/llmops.js validate",
          argv: [join(repoRoot, "bin", "llmops.js"), "validate", dir],
        }
      : {
          label: "node --import tsx (transpiles on start)",
          argv: [
            "--import",
            "tsx",
            "-e",
            "const m = await import('./controller/main.ts'); process.exitCode = await m.main(['node', 'llmops', ...process.argv.slice(1)]);",
            "validate",
            dir,
          ],
        };
    const start = process.hrtime.bigint();
    const child = spawnSync(process.execPath, processRun.argv, { cwd: repoRoot, encoding: "utf8" });
    const processMs = Number(process.hrtime.bigint() - start) / 1e6;

    const warmMs = median(warm);
    const parseMs = median(parse);
    const lines = [
      `llmops validate on ${String(count)} manifests (${String(files.length)} files, 4 kinds), Node ${process.version}`,
      `  in process, first run (loads CRDs, compiles schemas and CEL): ${cold.toFixed(0)} ms`,
      `  in process, median of ${String(rounds)} runs:                 ${warmMs.toFixed(0)} ms` +
        `  (${(warmMs / count).toFixed(2)} ms per manifest, ${((count / warmMs) * 1000).toFixed(0)} manifests/s)`,
      `  whole command, fresh process, ${processRun.label}: ${processMs.toFixed(0)} ms (exit ${String(child.status)})`,
      `  baseline, read + YAML parse only, median:                   ${parseMs.toFixed(0)} ms`,
      `  ratio validate / parse-only:                                 ${(warmMs / parseMs).toFixed(2)}x`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
