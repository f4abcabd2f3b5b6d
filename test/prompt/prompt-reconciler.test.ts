// The Prompt reconciler end to end on the real control plane: kubectl applies Prompts, the
// controller versions them, publishes a ConfigMap and a Langfuse prompt (local Langfuse-protocol
// server, official client), and rolls back by content.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Prompt } from "../../controller/api/generated/index.js";
import type { PromptRegistry } from "../../controller/backends/prompt-registry/prompt-registry.js";
import {
  LangfusePromptRegistry,
  type LangfuseCredentials,
} from "../../controller/backends/prompt-registry/langfuse.js";
import { decodeSnapshot } from "../../controller/prompts/snapshots.js";
import { ConfigMapType, type KubeObject } from "../../controller/kube/resources.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { Manager } from "../../controller/runtime/manager.js";
import { PromptType, promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { LangfuseTestServer } from "../servers/langfuse/server.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeConfig,
} from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

const credentials = { publicKey: "pk-lf-1234", secretKey: "sk-lf-5678" };

interface Running {
  stop: () => Promise<void>;
  /** Prompt reconciles this manager has finished (any result). */
  reconciles: () => Promise<number>;
}

function startManager(
  client: KubeClient,
  namespace: string,
  registryFor?: (credentials: LangfuseCredentials) => PromptRegistry,
): Running {
  const { logger } = memoryLogger("info");
  const manager = new Manager({ client, logger, namespaces: [namespace] });
  manager.add(promptController(registryFor ? { registryFor } : {}));
  const stop = new AbortController();
  const done = manager.run(stop.signal);
  return {
    stop: async () => {
      stop.abort();
      await done;
    },
    reconciles: async () =>
      (await manager.metrics.reconcileTotal.get()).values
        .filter((v) => v.labels.kind === "Prompt")
        .reduce((sum, v) => sum + v.value, 0),
  };
}

function promptManifest(
  namespace: string,
  name: string,
  options: { system?: string; user?: string; labels?: string[]; langfuse?: string } = {},
): string {
  const prompt: Prompt = {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name, namespace, annotations: { "llmops.dev/revision": "rev-test" } },
    spec: {
      template: {
        messages: [
          { role: "system", content: options.system ?? "You triage tickets for {{product}}." },
          { role: "user", content: options.user ?? "{{ticket}}" },
        ],
      },
      variables: [
        { name: "product", default: "Acme" },
        { name: "ticket", required: true, description: "The ticket text" },
      ],
      model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      labels: options.labels ?? ["production"],
      ...(options.langfuse
        ? {
            publish: {
              langfuse: {
                baseURL: options.langfuse,
                deletionPolicy: "Delete" as const,
                publicKeySecretRef: { name: "langfuse", key: "public" },
                secretKeySecretRef: { name: "langfuse", key: "secret" },
              },
            },
          }
        : {}),
    },
  };
  return stringify(prompt);
}

async function apply(manifest: string): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: manifest });
  expect(result.code, result.stderr).toBe(0);
}

describe("Prompt reconciler", () => {
  let namespace = "";
  let client: KubeClient;
  let langfuse: LangfuseTestServer;
  let running: Running | undefined;

  const getPrompt = (name: string) =>
    client.get<Prompt & KubeObject>(PromptType, { namespace, name });
  const readyWith = (name: string, version: number) =>
    eventually(`${name} Ready at version ${String(version)}`, async () => {
      const p = await getPrompt(name);
      const ready = p.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True" &&
        p.status?.version === version &&
        p.status.observedGeneration === p.metadata.generation
        ? p
        : undefined;
    });
  const configMapDocument = async (name: string) => {
    const cm = await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
      namespace,
      name: `prompt-${name}`,
    });
    return JSON.parse(cm.data["prompt.json"] ?? "{}") as Record<string, unknown>;
  };

  beforeAll(async () => {
    await installCrds();
    namespace = await createTestNamespace("prompt");
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    langfuse = new LangfuseTestServer(credentials);
    await langfuse.start();
    await kubectl([
      "create",
      "secret",
      "generic",
      "langfuse",
      `--namespace=${namespace}`,
      `--from-literal=public=${credentials.publicKey}`,
      `--from-literal=secret=${credentials.secretKey}`,
    ]);
    running = startManager(client, namespace);
  });
  afterAll(async () => {
    await running?.stop();
    await langfuse.stop();
    await deleteTestNamespace(namespace);
  });

  it("create → Ready, version 1, ConfigMap for applications", async () => {
    await apply(promptManifest(namespace, "triage"));
    const prompt = await readyWith("triage", 1);
    expect(prompt.status?.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(prompt.status?.history).toEqual([
      expect.objectContaining({ version: 1, sourceRevision: "rev-test", labels: ["production"] }),
    ]);
    const doc = await configMapDocument("triage");
    expect(doc).toMatchObject({
      kind: "PublishedPrompt",
      version: 1,
      contentHash: prompt.status?.contentHash,
      labels: ["production"],
      model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      template: { messages: [{ role: "system" }, { role: "user", content: "{{ticket}}" }] },
    });
    const cm = await client.get(ConfigMapType, { namespace, name: "prompt-triage" });
    expect(cm.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Prompt", name: "triage" });
    const waited = await kubectl([
      "wait",
      "--for=condition=Ready",
      "--timeout=30s",
      `--namespace=${namespace}`,
      "prompt/triage",
    ]);
    expect(waited.code, waited.stderr).toBe(0);
  });

  it("a deleted or edited ConfigMap is put back (owned, watched by label and metadata only)", async () => {
    await apply(promptManifest(namespace, "watched"));
    await readyWith("watched", 1);
    const original = await configMapDocument("watched");
    await kubectl(["delete", `--namespace=${namespace}`, "configmap/prompt-watched"]);
    await eventually("the ConfigMap to be re-created", async () =>
      (await client.tryGet(ConfigMapType, { namespace, name: "prompt-watched" }))
        ? true
        : undefined,
    );
    expect(await configMapDocument("watched")).toEqual(original);
    const patched = await kubectl([
      "patch",
      `--namespace=${namespace}`,
      "configmap/prompt-watched",
      "--type=merge",
      "-p",
      JSON.stringify({ data: { "prompt.json": "{}" } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await eventually("the edit to be reverted", async () =>
      (await configMapDocument("watched")).version === 1 ? true : undefined,
    );
  });

  it("update → version 2; revert → version 1 again, Langfuse label moved, no new version", async () => {
    const url = langfuse.baseUrl;
    await apply(promptManifest(namespace, "lf", { langfuse: url }));
    await readyWith("lf", 1);
    await apply(promptManifest(namespace, "lf", { langfuse: url, user: "Ticket: {{ticket}}" }));
    const v2 = await readyWith("lf", 2);
    expect(v2.status?.published?.langfuse).toMatchObject({ name: "lf", version: 2 });
    expect((await configMapDocument("lf")).version).toBe(2);

    await apply(promptManifest(namespace, "lf", { langfuse: url }));
    const back = await readyWith("lf", 1);
    expect(back.status?.history?.map((h) => h.version)).toEqual([1, 2]);
    expect(back.status?.published?.langfuse).toMatchObject({ version: 1 });
    expect(back.status?.published?.langfuse?.labels).toContain("production");
    expect(langfuse.createCalls("lf")).toBe(2);
    const stored = langfuse.prompts.filter((p) => p.name === "lf");
    expect(stored.find((p) => p.version === 1)?.labels).toContain("production");
    expect(stored.find((p) => p.version === 2)?.labels).not.toContain("production");
    expect((await configMapDocument("lf")).version).toBe(1);
    // Each version that went out of service left its snapshot; the live one is in the published
    // ConfigMap. Both hash to their history entry.
    const snapshot = async (name: string, key: string) =>
      decodeSnapshot(
        await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
          namespace,
          name,
        }),
        key,
      );
    const v1 = await snapshot("prompt-lf-v1", "snapshot.json");
    const v2snap = await snapshot("prompt-lf-v2", "snapshot.json");
    const live = await snapshot("prompt-lf", ".llmops-snapshot.json");
    expect([v1?.version, v2snap?.version, live?.version]).toEqual([1, 2, 1]);
    expect(v2snap?.contentHash).toBe(
      back.status?.history?.find((h) => h.version === 2)?.contentHash,
    );
    expect(v2snap?.spec.template.messages?.[1]?.content).toBe("Ticket: {{ticket}}");
    const finalizers = (await getPrompt("lf")).metadata.finalizers;
    expect(finalizers).toContain("llmops.dev/prompt-publications");
  });

  it("invalid template → Stalled with a precise message, ConfigMap unchanged; fix → Ready", async () => {
    await apply(promptManifest(namespace, "broken"));
    await readyWith("broken", 1);
    const before = await configMapDocument("broken");

    await apply(promptManifest(namespace, "broken", { user: "{{ticket}} {{ticket_id}}" }));
    const stalled = await eventually("broken Stalled", async () => {
      const p = await getPrompt("broken");
      const s = p.status?.conditions?.find((c) => c.type === "Stalled");
      return s?.status === "True" && s.observedGeneration === p.metadata.generation ? p : undefined;
    });
    const ready = stalled.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "InvalidTemplate" });
    expect(ready?.message).toContain(
      "spec.template.messages[1].content: uses {{ticket_id}}, which is not declared in spec.variables",
    );
    expect(stalled.status?.version).toBe(1);
    expect(await configMapDocument("broken")).toEqual(before);

    await apply(promptManifest(namespace, "broken", { user: "Ticket: {{ticket}}" }));
    const fixed = await readyWith("broken", 2);
    expect(fixed.status?.conditions?.some((c) => c.type === "Stalled")).toBe(false);
  });

  it("a crash between publishing and the status write creates no duplicate", async () => {
    await running?.stop();
    let crashes = 1;
    const flaky = (c: LangfuseCredentials) => {
      const real = new LangfusePromptRegistry({ credentials: c });
      return {
        publish: async (p: Parameters<PromptRegistry["publish"]>[0]) => {
          const result = await real.publish(p);
          if (crashes-- > 0) throw new Error("simulated crash after the Langfuse call");
          return result;
        },
        remove: (name: string) => real.remove(name),
      } satisfies PromptRegistry;
    };
    running = startManager(client, namespace, flaky);
    await apply(promptManifest(namespace, "crashy", { langfuse: langfuse.baseUrl }));
    await readyWith("crashy", 1);
    expect(crashes).toBeLessThan(0);
    expect(langfuse.createCalls("crashy")).toBe(1);

    // A restarted controller sees the same state and changes nothing.
    await running.stop();
    const before = await getPrompt("crashy");
    const restarted = startManager(client, namespace);
    running = restarted;
    await readyWith("crashy", 1);
    // The restarted manager lists every Prompt and reconciles each once: when it has finished as
    // many reconciles as there are Prompts, "crashy" has had its turn.
    const prompts = (await client.list(PromptType, { namespace })).items.length;
    await eventually("the restarted controller reconciled every Prompt", async () =>
      (await restarted.reconciles()) >= prompts ? true : undefined,
    );
    const after = await getPrompt("crashy");
    expect(after.status).toEqual(before.status);
    expect(langfuse.createCalls("crashy")).toBe(1);
  });

  it("delete → ConfigMap garbage-collected, Langfuse prompt removed (deletionPolicy Delete)", async () => {
    await apply(promptManifest(namespace, "gone", { langfuse: langfuse.baseUrl }));
    await readyWith("gone", 1);
    expect(langfuse.prompts.some((p) => p.name === "gone")).toBe(true);
    const deleted = await kubectl([
      "delete",
      `--namespace=${namespace}`,
      "prompt/gone",
      "--wait=true",
    ]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(langfuse.prompts.some((p) => p.name === "gone")).toBe(false);
    await eventually("the ConfigMap to be collected", async () =>
      (await client.tryGet(ConfigMapType, { namespace, name: "prompt-gone" })) === undefined
        ? true
        : undefined,
    );
  });
});
