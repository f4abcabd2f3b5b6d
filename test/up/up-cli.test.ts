// `llmops up` as a user meets it, without training anything: the binaries from --kube-binaries,
// a directory with one Prompt, the plain-text view when stdout is a pipe, one up per state
// directory, SIGTERM stopping everything, and the errors for a missing directory or binaries.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testCluster } from "../support/cluster.js";
import { alive, processesUnder, startUp, type UpProcess } from "./up-process.js";

const prompt = `apiVersion: llmops.dev/v1alpha1
kind: Prompt
metadata:
  name: hello
spec:
  template:
    text: "Say hello to {{name}}."
  variables:
    - name: name
      type: string
  model:
    name: tiny
`;

describe("llmops up on a directory with one Prompt", () => {
  const started: UpProcess[] = [];
  let root = "";
  afterAll(async () => {
    for (const up of started) {
      if (up.child.exitCode === null && up.child.signalCode === null) {
        up.child.kill("SIGKILL");
        await up.exited;
      }
    }
    for (const p of root ? processesUnder(root) : []) process.kill(p.pid, "SIGKILL");
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("shows the Prompt in plain lines, refuses a second up on the same state, and stops on SIGTERM (a second signal waits)", async () => {
    root = await mkdtemp(join(tmpdir(), "llmops-up-cli-"));
    await mkdir(join(root, "specs"));
    await writeFile(join(root, "specs", "hello.yaml"), prompt);
    const args = ["--dir", "specs", "--kube-binaries", testCluster().binDir];

    const up = startUp(root, args, { json: false });
    started.push(up);
    // Not a terminal: one line per change, no redraws.
    const line = async (what: string, re: RegExp) =>
      up.waitForLine(what, (l) => re.test(l), 240_000);
    await line(
      "the ready line",
      /^llmops up: ready in [\d.]+ s; export KUBECONFIG=.*\.llmops\/kubeconfig$/,
    );
    await line("the sync line", /^sync: applied worktree-[0-9a-f]+: created 1$/);
    await line("the Prompt at v1", /^Prompt\/hello {2}Ready=True {2}v1$/);
    expect(up.lines.join("\n")).not.toContain("\u001b[");

    const second = startUp(root, args);
    started.push(second);
    expect(await second.exited).toBe(2);
    expect(second.other.join("\n")).toMatch(
      new RegExp(
        `another llmops up \\(pid ${String(up.child.pid)}\\) is running on ${root}/\\.llmops`,
      ),
    );

    const planePids = processesUnder(join(root, ".llmops")).map((p) => p.pid);
    expect(planePids.length).toBeGreaterThanOrEqual(3);
    up.child.kill("SIGTERM");
    // An impatient second Ctrl-C while it stops must not leave the control plane behind.
    await line("the stopping line", /^llmops up: SIGTERM: stopping everything/);
    up.child.kill("SIGINT");
    await line(
      "the stopped line",
      /^llmops up: stopped .*kube-apiserver, etcd; nothing is left running$/,
    );
    expect(up.lines).toContain(
      "llmops up: SIGINT: already stopping; waiting for what llmops up started to exit",
    );
    expect(await up.exited).toBe(0);
    expect(planePids.filter(alive)).toEqual([]);
    expect(processesUnder(root)).toEqual([]);
  }, 300_000);

  it("after a crash (SIGKILL), the next up stops what the last one left running", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "llmops-up-crash-"));
    try {
      await mkdir(join(cwd, "specs"));
      await writeFile(join(cwd, "specs", "hello.yaml"), prompt);
      const args = ["--dir", "specs", "--kube-binaries", testCluster().binDir];
      const crashed = startUp(cwd, args);
      started.push(crashed);
      const ready = await crashed.waitFor(
        "ready",
        (e) => e.event === "up" && e.state === "ready",
        240_000,
      );
      const leftBehind = (ready.pids as { pid: number }[]).map((p) => p.pid);
      crashed.child.kill("SIGKILL");
      await crashed.exited;
      // Its own process groups: the control plane outlived the crash.
      expect(leftBehind.filter(alive)).toEqual(leftBehind);

      const next = startUp(cwd, args);
      started.push(next);
      await next.waitFor(
        "the clean-up",
        (e) =>
          e.event === "up" &&
          String(e.message).startsWith("stopping what an earlier llmops up left running: etcd"),
        120_000,
      );
      await next.waitFor("ready", (e) => e.event === "up" && e.state === "ready", 240_000);
      expect(leftBehind.filter(alive)).toEqual([]);
      next.child.kill("SIGTERM");
      expect(await next.exited).toBe(0);
      expect(processesUnder(cwd)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 300_000);

  it("names what is missing: the directory, or a binary in --kube-binaries", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "llmops-up-cli-bad-"));
    try {
      const noDir = startUp(cwd, ["--dir", "nope"]);
      expect(await noDir.exited).toBe(2);
      expect(noDir.other.join("\n")).toContain("--dir nope: no such directory");

      await mkdir(join(cwd, "specs"));
      await mkdir(join(cwd, "bin"));
      const noBinaries = startUp(cwd, ["--dir", "specs", "--kube-binaries", "bin"]);
      expect(await noBinaries.exited).toBe(1);
      expect(noBinaries.other.join("\n")).toContain(
        `--kube-binaries ${join(cwd, "bin")}: etcd, kube-apiserver, kube-controller-manager not found there`,
      );
      expect(processesUnder(cwd)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 120_000);
});
