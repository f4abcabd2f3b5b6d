// Git sync end to end with real git (bare repositories, `git http-backend` over HTTP with basic
// auth) and the real control plane: commits become objects, broken revisions change nothing,
// removals are pruned, drift is reverted, force pushes are followed, outages are survived.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, EventType, type KubeObject } from "../../controller/kube/resources.js";
import { PromptType } from "../../controller/api/kinds.js";
import { readSyncState } from "../../controller/gitsync/sync-status.js";
import type { SyncResult } from "../../controller/gitsync/syncer.js";
import { kubectl, testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import {
  createGitFixture,
  promptYaml,
  startGitHttpServer,
  type GitFixture,
  type GitHttpServer,
} from "./git-fixtures.js";
import { createSecret, createSyncer, type SyncerHarness } from "./harness.js";

type PromptObject = KubeObject & { spec: { template: { messages: { content: string }[] } } };

describe("git sync", () => {
  const ns = useTestNamespace("gitsync");
  let client: KubeClient;
  let repo: GitFixture;
  let http: GitHttpServer | undefined;
  let harness: SyncerHarness | undefined;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
  });
  beforeEach(async () => {
    repo = await createGitFixture();
  });
  afterEach(async () => {
    await harness?.cleanup();
    harness = undefined;
    await http?.stop();
    http = undefined;
    await repo.cleanup();
  });

  const getPrompt = (name: string) =>
    client.tryGet<PromptObject>(PromptType, { namespace: ns.name, name });
  const systemText = async (name: string) =>
    (await getPrompt(name))?.spec.template.messages[0]?.content;
  const expectApplied = (result: SyncResult): void => {
    expect(result.state, JSON.stringify(result)).toBe("applied");
  };

  /** A source fetched over HTTP with basic auth; credentials in a Secret. */
  async function httpSource(extra: Record<string, unknown> = {}): Promise<SyncerHarness> {
    http = await startGitHttpServer({
      projectRoot: repo.root,
      repository: "remote.git",
      username: "llmops",
      password: "s3cret-token",
    });
    await createSecret(client, ns.name, "git-credentials", {
      username: "llmops",
      password: "s3cret-token",
    });
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "main", url: http.url, secretRef: { name: "git-credentials" }, ...extra },
    });
    return harness;
  }

  it("applies a commit with the source, revision and path annotations, over HTTP with basic auth", async () => {
    await repo.write("specs/prompts/triage.yaml", promptYaml("triage"));
    await repo.write("specs/prompts/summary.yaml", promptYaml("summary"));
    await repo.write("README.md", "not a manifest\n");
    const sha = await repo.commit("two prompts");
    const h = await httpSource();

    expectApplied(await h.syncer.syncNow("main"));

    const triage = await getPrompt("triage");
    expect(triage?.metadata.annotations).toMatchObject({
      "llmops.dev/source": "main",
      "llmops.dev/revision": sha,
      "llmops.dev/path": "specs/prompts/triage.yaml",
    });
    expect(triage?.metadata.managedFields?.some((f) => f.manager === "llmops-gitsync")).toBe(true);
    expect(await getPrompt("summary")).toBeDefined();

    const state = await readSyncState(client, ns.name, "main");
    expect(state?.status.lastAppliedRevision).toBe(sha);
    expect(state?.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(state?.inventory.map((e) => e.name).sort()).toEqual(["summary", "triage"]);
    // What a human sees with kubectl, without credentials in it.
    const cm = await kubectl(["get", "configmap", "llmops-sync-main", "-n", ns.name, "-o", "yaml"]);
    expect(cm.stdout).toContain(`lastAppliedRevision: ${sha}`);
    expect(cm.stdout).not.toContain("s3cret-token");
    expect(h.lines.map((l) => JSON.stringify(l)).join("\n")).not.toContain("s3cret-token");

    // An unchanged revision is re-applied without writes to the status.
    const before = (await readSyncState(client, ns.name, "main"))?.configMap.metadata
      .resourceVersion;
    const again = await h.syncer.syncNow("main");
    expect(again.state === "applied" && again.newRevision).toBe(false);
    expect((await readSyncState(client, ns.name, "main"))?.configMap.metadata.resourceVersion).toBe(
      before,
    );
  });

  it("refuses a revision with one broken manifest: nothing applied, errors with file:line, last state kept", async () => {
    await repo.write("specs/a.yaml", promptYaml("alpha", { system: "alpha v1" }));
    await repo.write("specs/b.yaml", promptYaml("beta", { system: "beta v1" }));
    const good = await repo.commit("good");
    const h = await httpSource();
    expectApplied(await h.syncer.syncNow("main"));

    // One valid change and one broken file in the same commit.
    await repo.write("specs/a.yaml", promptYaml("alpha", { system: "alpha v2" }));
    await repo.write(
      "specs/b.yaml",
      promptYaml("beta", { system: "beta v2" }).replace("temperature: 0", "temperature: hot"),
    );
    const bad = await repo.commit("broken");
    const result = await h.syncer.syncNow("main");
    expect(result.state).toBe("refused");
    if (result.state !== "refused") return;
    expect(result.errors[0]?.file).toBe("specs/b.yaml");
    expect(result.errors[0]?.line).toBeGreaterThan(1);

    expect(await systemText("alpha")).toBe("alpha v1");
    expect(await systemText("beta")).toBe("beta v1");
    expect((await getPrompt("alpha"))?.metadata.annotations?.["llmops.dev/revision"]).toBe(good);

    const state = await readSyncState(client, ns.name, "main");
    expect(state?.status.lastAppliedRevision).toBe(good);
    expect(state?.status.lastAttemptedRevision).toBe(bad);
    const ready = state?.status.conditions.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "ValidationFailed" });
    expect(ready?.message).toMatch(/specs\/b\.yaml:\d+:\d+: spec\.model\.parameters\.temperature/);
    expect(state?.status.errors[0]).toMatchObject({ file: "specs/b.yaml" });
    expect(await h.metric("llmops_gitsync_invalid_revisions_total", { source: "main" })).toBe(1);
    const event = await eventually("ValidationFailed event", async () => {
      const events = await client.list<KubeObject & { reason?: string; note?: string }>(EventType, {
        namespace: ns.name,
      });
      return events.items.find((e) => e.reason === "ValidationFailed");
    });
    expect(event.note).toContain("specs/b.yaml:");

    // Fixing it applies the next revision as a whole.
    await repo.write("specs/b.yaml", promptYaml("beta", { system: "beta v2" }));
    await repo.commit("fixed");
    expectApplied(await h.syncer.syncNow("main"));
    expect(await systemText("alpha")).toBe("alpha v2");
    expect(await systemText("beta")).toBe("beta v2");
  });

  it("prunes objects removed from git, but not those with llmops.dev/prune: disabled or owned by another source", async () => {
    await repo.write("specs/keep.yaml", promptYaml("keep"));
    await repo.write("specs/gone.yaml", promptYaml("gone"));
    await repo.write("specs/pinned.yaml", promptYaml("pinned"));
    await repo.write("specs/handed-over.yaml", promptYaml("handed-over"));
    await repo.commit("four prompts");
    const h = await httpSource();
    expectApplied(await h.syncer.syncNow("main"));
    // A human created this one; it was never in git.
    const human = await kubectl(["apply", "-n", ns.name, "-f", "-"], {
      input: promptYaml("by-hand"),
    });
    expect(human.code, human.stderr).toBe(0);
    const annotate = await kubectl([
      "annotate",
      "-n",
      ns.name,
      "prompt/pinned",
      "llmops.dev/prune=disabled",
    ]);
    expect(annotate.code, annotate.stderr).toBe(0);
    const handOver = await kubectl([
      "annotate",
      "-n",
      ns.name,
      "prompt/handed-over",
      "llmops.dev/source=other",
      "--overwrite",
    ]);
    expect(handOver.code, handOver.stderr).toBe(0);

    await repo.remove("specs/gone.yaml");
    await repo.remove("specs/pinned.yaml");
    await repo.remove("specs/handed-over.yaml");
    await repo.commit("remove three");
    const result = await h.syncer.syncNow("main");
    expectApplied(result);
    if (result.state !== "applied") return;
    expect(result.outcome.pruned.map((r) => r.name)).toEqual(["gone"]);
    expect(await getPrompt("gone")).toBeUndefined();
    expect(await getPrompt("pinned")).toBeDefined();
    expect(await getPrompt("handed-over")).toBeDefined();
    expect(await getPrompt("by-hand")).toBeDefined();
    expect(await getPrompt("keep")).toBeDefined();
    const state = await readSyncState(client, ns.name, "main");
    expect(state?.inventory.map((e) => e.name)).toEqual(["keep"]);
    expect(await h.metric("llmops_gitsync_objects_pruned_total", { source: "main" })).toBe(1);
  });

  it("reverts a kubectl edit of a managed field on the next interval and counts it as drift", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "from git" }));
    await repo.commit("triage");
    const h = await httpSource({ interval: "1s" });
    h.start();
    await eventually("applied", async () =>
      (await systemText("triage")) === "from git" ? true : undefined,
    );

    const patch = await kubectl([
      "patch",
      "-n",
      ns.name,
      "prompt/triage",
      "--type=json",
      "-p",
      JSON.stringify([
        { op: "replace", path: "/spec/template/messages/0/content", value: "edited by hand" },
      ]),
    ]);
    expect(patch.code, patch.stderr).toBe(0);
    await eventually(
      "the edit reverted",
      async () => ((await systemText("triage")) === "from git" ? true : undefined),
      60_000,
    );
    await eventually("drift counted", async () =>
      (await h.metric("llmops_gitsync_drift_corrections_total", {
        source: "main",
        kind: "Prompt",
      })) >= 1
        ? true
        : undefined,
    );
  });

  it("follows a force-pushed branch", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "v1" }));
    const first = await repo.commit("v1");
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "v2" }));
    await repo.commit("v2");
    const h = await httpSource();
    expectApplied(await h.syncer.syncNow("main"));
    expect(await systemText("triage")).toBe("v2");

    // Rewrite history: drop v2, commit v3 on top of v1, force-push.
    await repo.git.reset(["--hard", first]);
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "v3" }));
    const rewritten = await repo.commit("v3", { push: false });
    await repo.push({ force: true });

    expectApplied(await h.syncer.syncNow("main"));
    expect(await systemText("triage")).toBe("v3");
    expect((await getPrompt("triage"))?.metadata.annotations?.["llmops.dev/revision"]).toBe(
      rewritten,
    );
  });

  it("reports an unreachable remote as Ready=False with the reason, retries with backoff, keeps the last state", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "live" }));
    const sha = await repo.commit("live");
    const h = await httpSource({ interval: "30s" });
    expectApplied(await h.syncer.syncNow("main"));

    await http?.stop();
    h.start();
    const failed = await eventually("retried at least twice", async () =>
      (await h.metric("llmops_gitsync_fetch_failures_total", { source: "main" })) >= 2
        ? true
        : undefined,
    );
    expect(failed).toBe(true);
    // The failure metric is counted before the status is written: wait for the status.
    const state = await eventually("the sync status to say FetchFailed", async () => {
      const s = await readSyncState(client, ns.name, "main");
      const r = s?.status.conditions.find((c) => c.type === "Ready");
      return r?.reason === "FetchFailed" ? s : undefined;
    });
    const ready = state.status.conditions.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "FetchFailed" });
    expect(ready?.message).toContain("127.0.0.1");
    expect(state.status.lastAppliedRevision).toBe(sha);
    expect(await systemText("triage")).toBe("live");

    // Back again: the retry (not the 30 s interval) brings it to Ready.
    await http?.restart();
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "after the outage" }));
    await repo.commit("after");
    await eventually(
      "recovered",
      async () => ((await systemText("triage")) === "after the outage" ? true : undefined),
      30_000,
    );
    // The sync status is written just after the objects are applied: wait for it too.
    const recovered = await eventually("Ready again in the sync status", async () => {
      const s = await readSyncState(client, ns.name, "main");
      return s?.status.conditions.find((c) => c.type === "Ready")?.status === "True"
        ? s
        : undefined;
    });
    expect(recovered.status.lastAppliedRevision).not.toBe(sha);
  });

  it("does nothing for a suspended source", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage"));
    await repo.commit("triage");
    const h = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "paused", url: repo.bare, suspend: true },
    });
    harness = h;
    expect((await h.syncer.syncNow("paused")).state).toBe("suspended");
    expect(await getPrompt("triage")).toBeUndefined();
    const state = await readSyncState(client, ns.name, "paused");
    expect(state?.status.suspended).toBe(true);
  });

  it("refuses a revision that would take over another source's object", async () => {
    await repo.write("specs/triage.yaml", promptYaml("triage"));
    await repo.commit("triage");
    const other = await kubectl(["apply", "-n", ns.name, "-f", "-"], {
      input: promptYaml("triage", { annotations: { "llmops.dev/source": "other" } }),
    });
    expect(other.code, other.stderr).toBe(0);
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "main", url: repo.bare },
    });
    const result = await harness.syncer.syncNow("main");
    expect(result.state === "refused" && result.reason).toBe("OwnershipConflict");
    const cm = await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
      namespace: ns.name,
      name: "llmops-sync-main",
    });
    expect(cm.data.reason).toBe("OwnershipConflict");
    expect(cm.data.message).toContain('already managed by git source "other"');
  });
});
