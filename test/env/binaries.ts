// Makes sure every test control-plane binary is in the cache, building the missing ones with the
// product's build script (controller/localenv/build-binaries.sh, all components).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { localenvAssetsDir } from "../../controller/localenv/versions.js";
import { binDirFor, missingBinaries, readVersions } from "./versions.js";

export async function ensureBinaries(log: (message: string) => void): Promise<string> {
  const versions = readVersions();
  const binDir = binDirFor(versions);
  const missing = missingBinaries(binDir);
  if (missing.length === 0) return binDir;
  log(`building missing test control-plane binaries (${missing.join(", ")}) into ${binDir}`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("bash", [join(localenvAssetsDir, "build-binaries.sh"), binDir], {
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
