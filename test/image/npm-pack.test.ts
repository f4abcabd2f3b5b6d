// What the controller image is built from, checked without a container engine: the Dockerfile's
// build stage runs `npm pack` and its install stage installs that tarball with production
// dependencies only. Here the same two steps run into an empty directory, and the installed
// `llmops` must start: --version, `controller --help`, and `validate` (which reads the CRDs the
// package ships).
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryRoot } from "../validate/fixtures.js";

const execFileAsync = promisify(execFile);
// The Node 24 that runs the tests (the `node` dev dependency) runs npm and the installed bin.
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};

async function run(command: string, args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err: unknown) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("the npm package the image installs", () => {
  let dir = "";
  let app = "";
  let llmops = "";
  const packageJson = JSON.parse(readFileSync(join(repositoryRoot, "package.json"), "utf8")) as {
    version: string;
    files: string[];
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "llmops-pack-"));
    // `npm pack` runs the prepare script (tsc → dist/), as the Dockerfile's build stage does.
    const packed = await run("npm", ["pack", "--pack-destination", dir], repositoryRoot);
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = join(dir, `llmops-${packageJson.version}.tgz`);
    expect(existsSync(tarball), packed.stdout).toBe(true);
    app = join(dir, "app");
    await run("mkdir", [app], dir);
    await writeFile(join(app, "package.json"), '{ "private": true }\n');
    const installed = await run(
      "npm",
      ["install", "--omit=dev", "--prefer-offline", "--no-package-lock", tarball],
      app,
    );
    expect(installed.code, installed.stderr).toBe(0);
    llmops = join(app, "node_modules", ".bin", "llmops");
  }, 600_000);
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("holds what the files field names (bin/, dist/, crds/ …), no sources, production dependencies only", async () => {
    const root = join(app, "node_modules", "llmops");
    expect(packageJson.files.slice(0, 3)).toEqual(["bin", "dist", "crds"]);
    for (const entry of packageJson.files) {
      // A glob entry (trainer/src/llmops_trainer/*.py) is checked by its directory.
      const path = entry.includes("*") ? dirname(entry) : entry;
      expect(existsSync(join(root, path)), `${entry} is in the package`).toBe(true);
    }
    expect(existsSync(join(root, "dist", "main.js"))).toBe(true);
    expect((await readdir(join(root, "crds"))).sort()).toEqual(
      (await readdir(join(repositoryRoot, "crds"))).sort(),
    );
    const shipped = await readdir(root, { recursive: true });
    expect(
      shipped.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
      "TypeScript sources are not shipped",
    ).toEqual([]);
    for (const dep of Object.keys(packageJson.dependencies)) {
      expect(existsSync(join(app, "node_modules", dep)), `${dep} is installed`).toBe(true);
    }
    for (const dev of ["typescript", "vitest", "tsx", "eslint", "prettier"]) {
      expect(existsSync(join(app, "node_modules", dev)), `${dev} is a dev dependency`).toBe(false);
    }
  });

  it("runs: llmops --version, llmops controller --help, llmops validate", async () => {
    const version = await run(llmops, ["--version"], app);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(packageJson.version);

    const help = await run(llmops, ["controller", "--help"], app);
    expect(help.code, help.stderr).toBe(0);
    for (const flag of ["--namespaces", "--metrics-addr", "--leader-elect", "--git-source"]) {
      expect(help.stdout).toContain(flag);
    }

    // validate reads the CRDs from the installed package, not from this repository.
    const specs = join(repositoryRoot, "specs", "prompts");
    const valid = await run(llmops, ["validate", specs], app);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);
    const broken = join(dir, "broken.yaml");
    await writeFile(
      broken,
      "apiVersion: llmops.dev/v1alpha1\nkind: Prompt\nmetadata: {name: x}\nspec: {nope: 1}\n",
    );
    const invalid = await run(llmops, ["validate", broken], app);
    expect(invalid.code).not.toBe(0);
    expect(invalid.stdout + invalid.stderr).toContain("broken.yaml");
  });

  it("runs `llmops controller` with V8's heap tuned for memory, in the same process; the user's own size wins", async () => {
    // A controller that keeps waiting for its apiserver (nothing listens on the port), so its
    // command line can be read while it runs.
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
        "",
      ].join("\n"),
    );
    const cmdlineOf = async (nodeOptions: string) => {
      const child = spawn(
        llmops,
        [
          "controller",
          `--kubeconfig=${kubeconfig}`,
          "--no-leader-elect",
          "--metrics-addr=0",
          "--api-addr=0",
          "--log-level=silent",
        ],
        { cwd: app, env: { ...env, NODE_OPTIONS: nodeOptions }, stdio: "ignore" },
      );
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        // bin/llmops.js replaces itself before it loads the CLI; by the time the controller waits
        // for its apiserver (its first log line), the command line is final.
        await sleep(3000);
        expect(child.exitCode, "the controller keeps waiting for its apiserver").toBeNull();
        const cmdline = readFileSync(`/proc/${String(child.pid)}/cmdline`, "utf8").split("\0");
        return cmdline;
      } finally {
        child.kill("SIGTERM");
        await exited;
      }
    };
    const tuned = await cmdlineOf("");
    // The same pid now runs node with the flag before the script (execve, not a child process).
    expect(tuned).toContain("--max-semi-space-size=8");
    expect(tuned).toContain("--v8-pool-size=1");
    expect(tuned.indexOf("--max-semi-space-size=8")).toBeLessThan(
      tuned.findIndex((a) => /bin\/llmops(\.js)?$/.test(a)),
    );
    expect(tuned).toContain("controller");
    const own = await cmdlineOf("--max-semi-space-size=16");
    expect(own.some((a) => a.startsWith("--max-semi-space-size"))).toBe(false);
    expect(own).not.toContain("--v8-pool-size=1");
    expect(own).toContain("controller");
  });

  it("is what the Dockerfile builds: Node 24, npm pack, --omit=dev, non-root, llmops controller", async () => {
    const dockerfile = await readFile(join(repositoryRoot, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-/m);
    expect(dockerfile).toContain("node node_modules/typescript/bin/tsc -p tsconfig.build.json");
    expect(dockerfile).toContain("npm pack --ignore-scripts --pack-destination /pack");
    expect(dockerfile).toMatch(/npm install --omit=dev .*\/pack\/llmops-\*\.tgz/);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["llmops", "controller"\]$/m);
    expect(dockerfile).toContain("org.opencontainers.image.source=");
    // Every path the build stage copies is let through by .dockerignore.
    const ignore = await readFile(join(repositoryRoot, ".dockerignore"), "utf8");
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] ?? "").split(" "),
    );
    expect(copied.length).toBeGreaterThan(0);
    for (const path of copied) {
      expect(ignore, `.dockerignore lets ${path} through`).toContain(`!${path.replace(/\/$/, "")}`);
      expect(existsSync(join(repositoryRoot, path)), `${path} exists`).toBe(true);
    }
    // The build stage has everything the files field packs, so the image's tarball is this one.
    for (const entry of packageJson.files) {
      if (entry === "dist") continue; // built in the stage
      expect(
        copied.some((path) => entry === path.replace(/\/$/, "") || entry.startsWith(path)),
        `the Dockerfile copies ${entry}`,
      ).toBe(true);
    }
  });
});
