// promoteInSource (what the controller runs for `spec.promotion.policy: auto`) against real git: a
// bare repository on disk, and `git http-backend` behind basic auth with a proxy that lets someone
// else push just before our push, so the race is real.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleGit } from "simple-git";
import { parse } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PromptSpec } from "../../controller/api/generated/index.js";
import { GitFetchError } from "../../controller/gitsync/git-repository.js";
import { PromotionEditError } from "../../controller/promotion/edit.js";
import { promoteInSource, PromotionGitError } from "../../controller/promotion/git-promoter.js";
import { promptContentHash } from "../../controller/prompts/content.js";
import {
  createGitFixture,
  promptYaml,
  startGitHttpServer,
  type GitFixture,
  type GitHttpServer,
} from "../gitsync/git-fixtures.js";

const file = "specs/prompts/triage.yaml";
const message =
  "promote: Prompt triage version 1 gets label canary (Experiment exp: cand wins)\n\nLlmops-Experiment: team/exp\n";

function specAt(text: string): PromptSpec {
  return (parse(text) as { spec: PromptSpec }).spec;
}

/** Forwards to `target`; runs `before` once, ahead of the first push's ref advertisement. */
async function racingProxy(
  target: GitHttpServer,
  before: () => Promise<void>,
): Promise<{ url: string; stop: () => Promise<void> }> {
  let raced = false;
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (!raced && (req.url ?? "").includes("service=git-receive-pack")) {
        raced = true;
        await before();
      }
      const upstream = request(
        {
          host: "127.0.0.1",
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(upstream);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}/remote.git`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

describe("promoteInSource", () => {
  let repo: GitFixture;
  let cacheDir = "";
  let http: GitHttpServer | undefined;
  let stopProxy: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    repo = await createGitFixture();
    cacheDir = await mkdtemp(join(tmpdir(), "llmops-promote-cache-"));
    await repo.write(file, promptYaml("triage", { system: "v2 wording" }));
    await repo.write("specs/prompts/other.yaml", promptYaml("other"));
    await repo.commit("prompts");
  });
  afterEach(async () => {
    await stopProxy?.();
    stopProxy = undefined;
    await http?.stop();
    http = undefined;
    await repo.cleanup();
    await rm(cacheDir, { recursive: true, force: true });
  });

  const remoteFile = async (path = file) =>
    simpleGit(repo.bare).raw(["cat-file", "blob", `main:${path}`]);
  const remoteHead = async () => (await simpleGit(repo.bare).revparse(["main"])).trim();

  it("commits the label as llmops-controller on the branch (file from the search), then nothing the second time", async () => {
    const before = await remoteHead();
    const live = promptContentHash(specAt(await remoteFile()));
    const result = await promoteInSource({
      source: { name: "main", url: repo.bare, branch: "main", paths: ["specs/"] },
      cacheDir,
      promptName: "triage",
      namespace: "team",
      label: "canary",
      expectContentHash: live,
      message,
    });
    expect(result).toMatchObject({ changed: true, file, base: before, attempts: 1 });
    expect(result.labels).toEqual(["production", "canary"]);
    expect(await remoteHead()).toBe(result.commit);
    const log = await simpleGit(repo.bare).raw(["log", "-1", "--format=%an <%ae>%n%B", "main"]);
    expect(log).toContain("llmops-controller <llmops-controller@llmops.dev>");
    expect(log).toContain("Llmops-Experiment: team/exp");
    expect(specAt(await remoteFile()).labels).toEqual(["production", "canary"]);
    // Only the Prompt's file changed.
    const changed = await simpleGit(repo.bare).raw(["diff", "--name-only", before, "main"]);
    expect(changed.trim()).toBe(file);
    // The private clone is gone.
    expect(await readdir(cacheDir)).toEqual([]);

    const again = await promoteInSource({
      source: { name: "main", url: repo.bare, branch: "main", paths: ["specs/"] },
      cacheDir,
      file,
      promptName: "triage",
      label: "canary",
      message,
    });
    expect(again).toMatchObject({ changed: false, commit: result.commit });
    expect(await remoteHead()).toBe(result.commit);
  });

  it("with a snapshot: writes the earlier version's content, which hashes to that version", async () => {
    const v1 = specAt(promptYaml("triage", { system: "v1 wording" }));
    const snapshot = { template: v1.template, variables: v1.variables, model: v1.model };
    const result = await promoteInSource({
      source: { name: "main", url: repo.bare, branch: "main", paths: ["specs/"] },
      cacheDir,
      file,
      promptName: "triage",
      label: "canary",
      snapshot,
      message,
    });
    expect(result.changed).toBe(true);
    const spec = specAt(await remoteFile());
    expect(spec.template.messages?.[0]?.content).toBe("v1 wording");
    expect(promptContentHash(spec)).toBe(promptContentHash(v1));
  });

  it("over HTTP with credentials: a push that loses a race is replayed on the new tip and succeeds", async () => {
    http = await startGitHttpServer({
      projectRoot: repo.root,
      repository: "remote.git",
      username: "git",
      password: "s3cret",
    });
    const proxy = await racingProxy(http, async () => {
      // Someone else pushes an unrelated change first.
      await repo.write("specs/prompts/other.yaml", promptYaml("other", { system: "other v2" }));
      await repo.commit("other v2");
    });
    stopProxy = proxy.stop;
    const live = promptContentHash(specAt(await remoteFile()));

    const result = await promoteInSource({
      source: { name: "main", url: proxy.url, branch: "main", paths: ["specs/"] },
      credentials: { kind: "basic", username: "git", password: "s3cret" },
      cacheDir,
      file,
      promptName: "triage",
      label: "canary",
      expectContentHash: live,
      message,
    });
    expect(result).toMatchObject({ changed: true, attempts: 2 });
    const head = await remoteHead();
    expect(head).toBe(result.commit);
    // Our commit sits on top of theirs: both changes are in the branch.
    const parent = (
      await simpleGit(repo.bare).raw(["log", "-1", "--format=%s", `${head}^`])
    ).trim();
    expect(parent).toBe("other v2");
    expect(specAt(await remoteFile()).labels).toEqual(["production", "canary"]);
    expect(
      specAt(await remoteFile("specs/prompts/other.yaml")).template.messages?.[0]?.content,
    ).toBe("other v2");
  });

  it("a race with someone who already gave the label: no second commit", async () => {
    http = await startGitHttpServer({
      projectRoot: repo.root,
      repository: "remote.git",
      username: "git",
      password: "s3cret",
    });
    const proxy = await racingProxy(http, async () => {
      await repo.write(
        file,
        promptYaml("triage", { system: "v2 wording" }).replace(
          "- production",
          "- production\n    - canary",
        ),
      );
      await repo.commit("canary by hand");
    });
    stopProxy = proxy.stop;
    const result = await promoteInSource({
      source: { name: "main", url: proxy.url, branch: "main", paths: ["specs/"] },
      credentials: { kind: "basic", username: "git", password: "s3cret" },
      cacheDir,
      file,
      promptName: "triage",
      label: "canary",
      message,
    });
    expect(result).toMatchObject({ changed: false, attempts: 2 });
    expect(await remoteHead()).toBe(result.commit);
    expect((await simpleGit(repo.bare).raw(["log", "-1", "--format=%s", "main"])).trim()).toBe(
      "canary by hand",
    );
  });

  it("a race that changed the Prompt's content: a label-only promotion refuses", async () => {
    http = await startGitHttpServer({
      projectRoot: repo.root,
      repository: "remote.git",
      username: "git",
      password: "s3cret",
    });
    const proxy = await racingProxy(http, async () => {
      await repo.write(file, promptYaml("triage", { system: "v3 wording, not evaluated" }));
      await repo.commit("triage v3");
    });
    stopProxy = proxy.stop;
    const live = promptContentHash(specAt(await remoteFile()));
    const error = await promoteInSource({
      source: { name: "main", url: proxy.url, branch: "main", paths: ["specs/"] },
      credentials: { kind: "basic", username: "git", password: "s3cret" },
      cacheDir,
      file,
      promptName: "triage",
      label: "canary",
      expectContentHash: live,
      message,
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PromotionEditError);
    expect((error as PromotionEditError).code).toBe("ContentMismatch");
    expect((await simpleGit(repo.bare).raw(["log", "-1", "--format=%s", "main"])).trim()).toBe(
      "triage v3",
    );
  });

  it("wrong credentials: GitFetchError without the password; a missing Prompt: FileNotFound", async () => {
    http = await startGitHttpServer({
      projectRoot: repo.root,
      repository: "remote.git",
      username: "git",
      password: "s3cret",
    });
    const bad = await promoteInSource({
      source: { name: "main", url: http.url, branch: "main", paths: ["specs/"] },
      credentials: { kind: "basic", username: "git", password: "wrong-password" },
      cacheDir,
      promptName: "triage",
      label: "canary",
      message,
    }).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(GitFetchError);
    expect((bad as Error).message).not.toContain("wrong-password");

    const missing = await promoteInSource({
      source: { name: "main", url: repo.bare, branch: "main", paths: ["specs/"] },
      cacheDir,
      file: "specs/prompts/gone.yaml",
      promptName: "nope",
      label: "canary",
      message,
    }).catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(PromotionGitError);
    expect((missing as PromotionGitError).code).toBe("FileNotFound");
    expect((missing as Error).message).toMatch(/no manifest under specs\/ defines Prompt nope/);
  });
});
