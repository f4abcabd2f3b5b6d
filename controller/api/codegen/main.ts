// `npm run generate`: writes controller/api/generated/ from crds/.
// `npm run generate -- --check`: exits 1 when the generated files are stale.
import { readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultCrdDirectory, loadCrds } from "../crds.js";
import {
  formatGeneratedFiles,
  renderGeneratedFiles,
  type GeneratedFile,
} from "./generate-types.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Where the generated types live. */
export const generatedDirectory = fileURLToPath(new URL("../generated/", import.meta.url));

/** Renders and formats every generated file from the CRDs in crds/. */
export async function renderGeneratedTypes(): Promise<GeneratedFile[]> {
  const crds = await loadCrds(defaultCrdDirectory());
  const files = renderGeneratedFiles(crds.versions, (crd) => relative(repoRoot, crd.file));
  return formatGeneratedFiles(files, join(repoRoot, ".prettierrc.json"));
}

async function main(args: string[]): Promise<number> {
  const files = await renderGeneratedTypes();
  if (args.includes("--check")) {
    let stale = 0;
    for (const f of files) {
      const current = await readFile(join(generatedDirectory, f.name), "utf8").catch(() => "");
      if (current !== f.content) {
        process.stderr.write(`stale: controller/api/generated/${f.name}\n`);
        stale++;
      }
    }
    if (stale > 0) process.stderr.write("run `npm run generate` and commit the result\n");
    return stale === 0 ? 0 : 1;
  }
  await mkdir(generatedDirectory, { recursive: true });
  const keep = new Set(files.map((f) => f.name));
  for (const name of await readdir(generatedDirectory)) {
    if (!keep.has(name)) await rm(join(generatedDirectory, name));
  }
  for (const f of files) await writeFile(join(generatedDirectory, f.name), f.content);
  process.stdout.write(`wrote ${String(files.length)} files to controller/api/generated/\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
