// The local serving backend with real child processes: a small Node server that speaks the
// serving runtime's contract (the listening line, /health) stands in for llmops-serve, whose own
// tests are in trainer/tests/test_serve.py and test/model-deployment/local-serving.test.ts.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelDeployment } from "../../api/generated/index.js";
import { TerminalError } from "../../kube/errors.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import { createLocalServing, localServingFiles, type LocalServingBackend } from "./local.js";

const server = `#!${process.execPath}
import { createServer } from "node:http";
const s = createServer((req, res) => { res.writeHead(req.url === "/health" ? 200 : 404).end(); });
s.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ llmops: 1, event: "listening", port: s.address().port }));
  console.error(JSON.stringify(process.argv.slice(2)));
});
process.on("SIGTERM", () => process.exit(0));
`;

const object = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "ModelDeployment",
  metadata: { name: "coder", namespace: "ns", uid: "u", resourceVersion: "1" },
  spec: { model: { path: "models/a" }, servedName: "coder" },
} as unknown as StoredObject<ModelDeployment>;
const context = {} as ObjectContext;
const model = { source: "models/a", model: { path: "models/a" } };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

async function until<T>(check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the local serving backend", () => {
  let root = "";
  let backend: LocalServingBackend;
  const dir = () => join(root, ".llmops", "serving", "ns", "coder", "coder-1");
  const pid = async () =>
    Number((await readFile(join(dir(), localServingFiles.pid), "utf8")).trim());
  const ready = () =>
    until(async () => {
      const state = (await backend.observe(object, context)).get("coder-1");
      return state?.available === true ? state : undefined;
    });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "llmops-local-serving-"));
    await mkdir(join(root, "models", "a"), { recursive: true });
    await writeFile(join(root, "serve.mjs"), server);
    await chmod(join(root, "serve.mjs"), 0o755);
    backend = createLocalServing({
      runsDir: join(root, ".llmops", "serving"),
      localRoot: root,
      command: [join(root, "serve.mjs")],
      restartBackoffMs: 0,
      killGraceMs: 2_000,
    });
  });
  afterEach(async () => {
    await backend.stopAll();
    await rm(root, { recursive: true, force: true });
  });

  it("starts a revision once, reports its URL when /health answers, and stops and restarts it by replicas", async () => {
    await backend.ensure({ object, revision: "coder-1", model, replicas: 2 }, context);
    const state = await ready();
    expect(state).toEqual({
      available: true,
      replicas: 1,
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/) as unknown,
    });
    const first = await pid();
    expect(JSON.parse(await readFile(join(dir(), localServingFiles.command), "utf8"))).toEqual([
      join(root, "serve.mjs"),
      "--model",
      join(root, "models", "a"),
      "--served-name",
      "coder",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ]);
    // Running already: nothing new starts.
    await backend.ensure({ object, revision: "coder-1", model, replicas: 1 }, context);
    expect(await pid()).toBe(first);

    await backend.scale(object, "coder-1", 0, context);
    expect(alive(first)).toBe(false);
    expect((await backend.observe(object, context)).get("coder-1")).toEqual({
      available: false,
      replicas: 0,
    });
    // Back to one replica: started again from the command line it had.
    await backend.scale(object, "coder-1", 1, context);
    await ready();
    const second = await pid();
    expect(second).not.toBe(first);

    await backend.remove(object, ["coder-1"], context);
    expect(alive(second)).toBe(false);
    expect(existsSync(dir())).toBe(false);
    expect((await backend.observe(object, context)).size).toBe(0);
  });

  it("does not take a reused pid for its server", async () => {
    await mkdir(dir(), { recursive: true });
    // This test's own process: alive, but not running in the revision's directory.
    await writeFile(join(dir(), localServingFiles.pid), `${String(process.pid)}\n`);
    expect((await backend.observe(object, context)).get("coder-1")).toMatchObject({
      available: false,
      replicas: 0,
      problem: expect.stringContaining(`pid ${String(process.pid)}) exited`) as unknown,
    });
  });

  it("stopAll stops every server and keeps their directories; finalize removes them", async () => {
    await backend.ensure({ object, revision: "coder-1", model, replicas: 1 }, context);
    await ready();
    const running = await pid();
    await backend.stopAll();
    expect(alive(running)).toBe(false);
    expect(existsSync(join(dir(), localServingFiles.command))).toBe(true);
    await backend.finalize(object, context);
    expect(existsSync(join(root, ".llmops", "serving", "ns", "coder"))).toBe(false);
  });

  it("says what it cannot serve: a Hub model (stalled), a directory that is not there (waits)", () => {
    expect(
      backend.checkModel({ source: "acme/x@c", model: { repo: "acme/x", revision: "c" } }),
    ).toMatchObject({ kind: "stall", reason: "UnsupportedModel" });
    expect(backend.checkModel({ source: "m", model: { path: "models/none" } })).toMatchObject({
      kind: "wait",
      reason: "ModelNotFound",
      message: expect.stringContaining(join(root, "models", "none")) as unknown,
    });
    expect(backend.checkModel(model)).toBeUndefined();
  });

  it("a server that exits says so, with the end of its stderr", async () => {
    await writeFile(
      join(root, "crash.mjs"),
      `#!${process.execPath}\nconsole.error("loading weights");\nconsole.error("OSError: no config.json in models/a");\nprocess.exit(1);\n`,
    );
    await chmod(join(root, "crash.mjs"), 0o755);
    const crashing = createLocalServing({
      runsDir: join(root, ".llmops", "serving"),
      localRoot: root,
      command: [join(root, "crash.mjs")],
    });
    await crashing.ensure({ object, revision: "coder-1", model, replicas: 1 }, context);
    const state = await until(async () => {
      const s = (await crashing.observe(object, context)).get("coder-1");
      return s?.problem !== undefined ? s : undefined;
    });
    expect(state.available).toBe(false);
    expect(state.problem).toContain(
      "exited: loading weights | OSError: no config.json in models/a",
    );
  });

  it("a server command that is not executable is a terminal error naming it", async () => {
    const broken = createLocalServing({
      runsDir: join(root, ".llmops", "serving"),
      localRoot: root,
      command: [join(root, "missing", "llmops-serve")],
    });
    await expect(
      broken.ensure({ object, revision: "coder-1", model, replicas: 1 }, context),
    ).rejects.toThrow(TerminalError);
    await expect(
      broken.ensure({ object, revision: "coder-1", model, replicas: 1 }, context),
    ).rejects.toThrow(/missing\/llmops-serve is not an executable file/);
  });
});
