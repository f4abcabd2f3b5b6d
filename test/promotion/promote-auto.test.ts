// spec.promotion.policy auto end to end: the Prompt comes from git through git sync, the Experiment
// runs against the local OpenAI-protocol server, and once it has a winner the controller commits
// the label to the git source; git sync then applies that commit and the Prompt follows git.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleGit } from "simple-git";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Prompt } from "../../controller/api/generated/index.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { KubeObject } from "../../controller/kube/resources.js";
import { gitSourcePromoter } from "../../controller/promotion/source-promoter.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import { PromptType } from "../../controller/api/kinds.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { createGitFixture, type GitFixture } from "../gitsync/git-fixtures.js";
import { createSyncer, type SyncerHarness } from "../gitsync/harness.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import {
  apply,
  experimentManifest,
  inline,
  startManager,
  type StoredExperiment,
} from "../experiment/harness.js";

type PromptObject = Prompt & KubeObject;
const file = "specs/prompts/arith.yaml";

function arithPrompt(baseURL: string, system: string, labels: string[]): string {
  return stringify({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: "arith" },
    spec: {
      template: {
        messages: [
          { role: "system", content: system },
          { role: "user", content: "{{question}}" },
        ],
      },
      variables: [{ name: "question", required: true }],
      model: { name: "model-weak", endpoint: { baseURL }, parameters: { temperature: 0 } },
      labels,
    },
  });
}

describe("Experiment promotion policy auto", () => {
  const ns = useTestNamespace("promote-auto");
  let client: KubeClient;
  let repo: GitFixture | undefined;
  let harness: SyncerHarness | undefined;
  let server: OpenAiTestServer | undefined;
  let cacheDir = "";

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    cacheDir = await mkdtemp(join(tmpdir(), "llmops-promote-"));
  });
  afterAll(async () => {
    await harness?.cleanup();
    await repo?.cleanup();
    await server?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it("commits the winner's label to the git source, and the cluster follows", async () => {
    const items = arithmeticDataset(30, 21);
    server = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.4 },
        { id: "model-strong", accuracy: 0.95 },
      ],
      dataset: items,
    });
    repo = await createGitFixture();
    const getPrompt = () =>
      client.get<PromptObject>(PromptType, { namespace: ns.name, name: "arith" });
    await repo.write(
      file,
      arithPrompt(server.baseURL, "Answer with the number only.", ["production"]),
    );
    await repo.commit("arith v1");
    harness = await createSyncer({
      client,
      namespace: ns.name,
      source: { name: "main", url: repo.bare },
    });
    const running = startManager(client, ns.name, {
      promoter: gitSourcePromoter({
        client,
        sources: [harness.source],
        secretNamespace: ns.name,
        cacheDir,
      }),
    });
    try {
      expect((await harness.syncer.syncNow("main")).state).toBe("applied");
      await eventually("arith v1", async () =>
        (await getPrompt()).status?.version === 1 ? true : undefined,
      );
      // v2 in git: new wording, staging only; production stays on v1.
      await repo.write(
        file,
        arithPrompt(server.baseURL, "Reply with just the number.", ["staging"]),
      );
      await repo.commit("arith v2 for staging");
      expect((await harness.syncer.syncNow("main")).state).toBe("applied");
      await eventually("arith v2", async () =>
        (await getPrompt()).status?.version === 2 ? true : undefined,
      );

      await apply(
        experimentManifest(ns.name, "auto", inline(items), {
          variants: [
            { name: "production", control: true, prompt: { name: "arith", label: "production" } },
            {
              name: "candidate",
              prompt: { name: "arith", label: "staging" },
              model: { name: "model-strong" },
            },
          ],
          promotion: { policy: "auto", label: "production" },
        }),
      );
      const promoted = await eventually(
        "auto Promoted",
        async () => {
          const e = await client.get<StoredExperiment>(ExperimentType, {
            namespace: ns.name,
            name: "auto",
          });
          return e.status?.promotion?.state === "Promoted" ? e : undefined;
        },
        120_000,
      );
      expect(promoted.status?.winner).toBe("candidate");
      expect(promoted.status?.promotion).toMatchObject({
        prompt: "arith",
        version: 2,
        label: "production",
      });
      // The commit is on the source's branch, made by the controller, saying why.
      const log = await simpleGit(repo.bare).log({ maxCount: 1 });
      expect(promoted.status?.promotion?.commit).toBe(log.latest?.hash);
      expect(log.latest?.author_name).toBe("llmops-controller");
      expect(log.latest?.message).toMatch(
        /^promote: Prompt arith version 2 gets label production \(Experiment auto: /,
      );
      expect(log.latest?.body).toMatch(new RegExp(`Llmops-Experiment: ${ns.name}/auto`));

      // Git sync applies it: version 2 keeps its number and now carries production.
      expect((await harness.syncer.syncNow("main")).state).toBe("applied");
      const after = await eventually("arith v2 labelled production", async () => {
        const p = await getPrompt();
        const live = p.status?.history?.find((h) => h.version === 2);
        return p.status?.version === 2 && live?.labels?.includes("production") ? p : undefined;
      });
      expect(after.spec.labels).toEqual(["staging", "production"]);
      expect(after.status?.history?.find((h) => h.version === 1)?.labels).toEqual([]);
      // Nothing further is committed: the promotion is done.
      const final = await eventually("promotion stays Promoted", async () => {
        const e = await client.get<StoredExperiment>(ExperimentType, {
          namespace: ns.name,
          name: "auto",
        });
        return e.status?.promotion?.state === "Promoted" ? e : undefined;
      });
      expect(final.status?.promotion?.commit).toBe(log.latest?.hash);
      expect((await simpleGit(repo.bare).log()).total).toBe(3);
    } finally {
      await running.stop();
    }
  }, 300_000);
});
