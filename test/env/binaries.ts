// Makes sure the control-plane binaries are in the cache, building them when missing.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { binDirFor, missingBinaries, readVersions, testenvDir } from "./versions.js";

export async function ensureBinaries(log: (message: string) => void): Promise<string> {
  const versions = readVersions();
  const binDir = binDirFor(versions);
  const missing = missingBinaries(binDir);
  if (missing.length === 0) return binDir;
  log(`building missing test control-plane binaries (${missing.join(", ")}) into ${binDir}`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("bash", [join(testenvDir, "build-testenv.sh"), binDir], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", resolve);
  });
  const still = missingBinaries(binDir);
  if (code !== 0 || still.length > 0) {
    throw new Error(
      `building the test control plane failed (exit ${String(code)}); missing: ${still.join(", ")}. ` +
        `Run \`npm run cluster:build\` to see the full output.`,
    );
  }
  return binDir;
}
