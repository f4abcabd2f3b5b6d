// The webhook receiver on the controller's HTTP server (signed pushes trigger a sync at once; bad
// signatures get 401 and change nothing), and `llmops rollback` giving a Prompt its old version
// back through the Prompt reconciler.
import { createHmac } from "node:crypto";
import { simpleGit } from "simple-git";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Prompt } from "../../controller/api/generated/index.js";
import { runCli, type CliIo } from "../../controller/cli/program.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, type KubeObject } from "../../controller/kube/resources.js";
import { readSyncState } from "../../controller/gitsync/sync-status.js";
import { webhookRoute } from "../../controller/gitsync/webhook.js";
import { PromptType, promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { startProbeServer, type ProbeServer } from "../../controller/runtime/http-server.js";
import { Manager } from "../../controller/runtime/manager.js";
import { RuntimeMetrics } from "../../controller/runtime/metrics.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { createGitFixture, promptYaml, type GitFixture } from "./git-fixtures.js";
import { createSecret, createSyncer, type SyncerHarness } from "./harness.js";

type PromptObject = Prompt & KubeObject;

describe("webhook receiver and llmops rollback", () => {
  const ns = useTestNamespace("gitsync-hook");
  let client: KubeClient;
  let repo: GitFixture;
  let harness: SyncerHarness | undefined;
  let server: ProbeServer | undefined;
  let stopManager: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig());
  });
  beforeEach(async () => {
    repo = await createGitFixture();
  });
  afterEach(async () => {
    await stopManager?.();
    stopManager = undefined;
    await server?.close();
    server = undefined;
    await harness?.cleanup();
    harness = undefined;
    await repo.cleanup();
  });

  const systemText = async (name: string) =>
    (await client.tryGet<PromptObject>(PromptType, { namespace: ns.name, name }))?.spec.template
      .messages?.[0]?.content;

  it("a signed push triggers a sync at once; a bad signature gets 401 and changes nothing", async () => {
    const secret = "hook-secret-123";
    await createSecret(client, ns.name, "webhook", { secret });
    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "v1" }));
    await repo.commit("v1");
    // An interval far longer than the test: only the webhook can bring v2 in.
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: {
        name: "main",
        url: repo.bare,
        interval: "1h",
        webhook: { secretRef: { name: "webhook" } },
      },
    });
    const h = harness;
    const { logger } = memoryLogger("info");
    server = await startProbeServer({
      address: "127.0.0.1:0",
      metrics: new RuntimeMetrics({ registry: h.registry, processMetrics: false }),
      health: { isHealthy: () => true, isReady: () => true },
      logger,
      routes: [webhookRoute({ target: h.syncer, logger, metrics: h.metrics, maxBodyBytes: 4096 })],
    });
    h.start();
    await eventually("v1 applied", async () =>
      (await systemText("triage")) === "v1" ? true : undefined,
    );

    await repo.write("specs/triage.yaml", promptYaml("triage", { system: "v2" }));
    const v2 = await repo.commit("v2");
    const body = JSON.stringify({ ref: "refs/heads/main", after: v2 });
    const url = `${server?.url ?? ""}/hooks/main`;
    const post = (headers: Record<string, string>, payload = body) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: payload,
      });
    const sign = (payload: string, key = secret) =>
      createHmac("sha256", key).update(payload).digest("hex");

    const syncsBefore = await h.metric("llmops_gitsync_sync_total", { source: "main" });
    const bad = await post({
      "x-github-event": "push",
      "x-hub-signature-256": `sha256=${sign(body, "wrong")}`,
    });
    expect(bad.status).toBe(401);
    expect((await post({ "x-gitlab-token": "wrong" })).status).toBe(401);
    expect((await post({ "x-gitea-signature": sign(body, "wrong") })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    expect(
      (await post({ "x-hub-signature-256": `sha256=${sign("x".repeat(5000))}` }, "x".repeat(5000)))
        .status,
    ).toBe(413);
    expect(
      (await fetch(`${server?.url ?? ""}/hooks/unknown`, { method: "POST", body })).status,
    ).toBe(404);
    // Nothing ran and nothing changed.
    expect(await h.metric("llmops_gitsync_sync_total", { source: "main" })).toBe(syncsBefore);
    expect(await systemText("triage")).toBe("v1");
    expect(
      await h.metric("llmops_gitsync_webhook_requests_total", { result: "unauthorized" }),
    ).toBe(4);

    // A push to another branch is acknowledged and ignored.
    const other = JSON.stringify({ ref: "refs/heads/feature" });
    const ignored = await post({ "x-hub-signature-256": `sha256=${sign(other)}` }, other);
    expect(ignored.status).toBe(202);
    expect(await ignored.json()).toMatchObject({ triggered: false });

    const good = await post({
      "x-github-event": "push",
      "x-hub-signature-256": `sha256=${sign(body)}`,
    });
    expect(good.status).toBe(202);
    await eventually("v2 applied without waiting for the interval", async () =>
      (await systemText("triage")) === "v2" ? true : undefined,
    );
    // The sync status is written just after the objects are applied: wait for it too.
    await eventually("the sync status to record v2", async () =>
      (await readSyncState(client, ns.name, "main"))?.status.lastAppliedRevision === v2
        ? true
        : undefined,
    );

    // GitLab and Gitea deliveries are accepted too.
    expect((await post({ "x-gitlab-event": "Push Hook", "x-gitlab-token": secret })).status).toBe(
      202,
    );
    expect((await post({ "x-gitea-event": "push", "x-gitea-signature": sign(body) })).status).toBe(
      202,
    );
  });

  it("llmops rollback commits the manifest before its last change, and the Prompt gets version 1 back", async () => {
    const { logger } = memoryLogger("info");
    const manager = new Manager({ client, logger, namespaces: [ns.name] });
    manager.add(promptController());
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    stopManager = async () => {
      stop.abort();
      await done;
    };
    const version = (n: number, content: string) =>
      eventually(`Prompt at version ${String(n)}`, async () => {
        const p = await client.tryGet<PromptObject>(PromptType, {
          namespace: ns.name,
          name: "triage",
        });
        const ready = p?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        return p !== undefined &&
          ready &&
          p.status?.version === n &&
          p.spec.template.messages?.[0]?.content === content
          ? p
          : undefined;
      });

    await repo.write(
      "specs/prompts/triage.yaml",
      promptYaml("triage", { system: "first wording" }),
    );
    await repo.write("specs/prompts/other.yaml", promptYaml("other"));
    const v1 = await repo.commit("triage v1");
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "main", url: repo.bare },
    });
    const h = harness;
    expect((await h.syncer.syncNow("main")).state).toBe("applied");
    await version(1, "first wording");

    await repo.write(
      "specs/prompts/triage.yaml",
      promptYaml("triage", { system: "second wording" }),
    );
    const v2 = await repo.commit("triage v2");
    // An unrelated change afterwards: rollback must look past it.
    await repo.write("specs/prompts/other.yaml", promptYaml("other", { system: "other v2" }));
    await repo.commit("other v2");
    expect((await h.syncer.syncNow("main")).state).toBe("applied");
    await version(2, "second wording");

    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
    const code = await runCli(
      ["node", "llmops", "rollback", "prompt/triage", "--push", "-C", repo.work],
      { version: "0.0.0-test", io },
    );
    expect(code, err.join("")).toBe(0);
    expect(out.join("")).toContain(`restored from ${v1.slice(0, 7)}`);
    const message = await repo.git.raw(["log", "-1", "--format=%B"]);
    expect(message).toContain(`Roll back Prompt triage to ${v1.slice(0, 7)}`);
    expect(message).toContain(v2);
    const remoteHead = (await simpleGit(repo.bare).revparse(["main"])).trim();
    expect(remoteHead).toBe((await repo.git.revparse(["HEAD"])).trim());

    expect((await h.syncer.syncNow("main")).state).toBe("applied");
    const restored = await version(1, "first wording");
    expect(restored.status?.history?.length).toBe(2);
    const cm = await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
      namespace: ns.name,
      name: "prompt-triage",
    });
    expect(cm.data["prompt.json"]).toContain("first wording");
    // The other prompt keeps its newer content.
    expect(await systemText("other")).toBe("other v2");
  });
});
