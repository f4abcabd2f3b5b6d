// The Prompt reconciler: observe (reads only) → plan (pure) → act (writes) → status.
//
// Order matters for "no duplicates after a crash": the version is planned from status, published
// (ConfigMap by server-side apply, Langfuse by content-addressed lookup), and only then written to
// status. A crash between publish and status write replays the same plan: same version number, the
// same ConfigMap content, and Langfuse finds the version it already holds.
import { llmopsKinds, type Prompt, type PromptStatus } from "../../api/generated/index.js";
import { ConfigMapType, type ResourceType, type StoredObject } from "../../kube/resources.js";
import { TerminalError, TransientError, errorMessage } from "../../kube/errors.js";
import { addFinalizer, isBeingDeleted, removeFinalizer } from "../../kube/finalizers.js";
import { withControllerReference } from "../../kube/owner-references.js";
import type { KubeObject } from "../../kube/resources.js";
import { conditionTime, type ReconcileOutcome } from "../../runtime/conditions.js";
import type {
  ReconcileContext,
  ReconcileRequest,
  ReconcileResult,
} from "../../runtime/reconciler.js";
import type { ControllerDeps, ControllerSetup } from "../../runtime/registry.js";
import type { LangfuseCredentials } from "../../backends/prompt-registry/langfuse.js";
import type { PromptRegistry } from "../../backends/prompt-registry/prompt-registry.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { MissingSecretError } from "../../kube/secrets.js";
import { checkTemplate, promptContentHash } from "../../prompts/content.js";
import { configMapKey, configMapName, planPromptVersion, publishedDocument } from "./plan.js";
import {
  decodeSnapshot,
  publishedSnapshotKey,
  snapshotConfigMap,
  snapshotName,
  snapshotOf,
} from "../../prompts/snapshots.js";
import { writeStatus as writeKstatus } from "../../runtime/status.js";

export const PromptType: ResourceType = llmopsKinds.Prompt;

/** Removes what was published outside the cluster (only when the spec asks for it). */
export const promptFinalizer = "llmops.dev/prompt-publications";

/** On each published ConfigMap: the Prompt it belongs to. */
export const promptLabel = "llmops.dev/prompt";

/** The annotation gitsync sets: the commit that produced this spec. */
export const revisionAnnotation = "llmops.dev/revision";

/** How often a Ready prompt is checked again for drift (the ConfigMap edited by hand, …). */
const driftCheckMs = 10 * 60_000;

export interface PromptControllerOptions {
  /** Builds the Langfuse client; tests and other providers pass their own. */
  registryFor?: (credentials: LangfuseCredentials) => PromptRegistry;
  concurrency?: number;
}

export function promptController(options: PromptControllerOptions = {}): ControllerSetup {
  const registryFor = options.registryFor ?? lazyLangfuseRegistry;
  return (deps) => ({
    name: "Prompt",
    type: PromptType,
    // Only our ConfigMaps, and only their metadata: enough to notice a deleted or edited one.
    owns: [{ type: ConfigMapType, labelSelector: promptLabel, metadataOnly: true }],
    concurrency: options.concurrency ?? 4,
    reconcile: (request, context) => reconcilePrompt({ deps, registryFor }, request, context),
  });
}

/** The Langfuse registry, with @langfuse/client imported on first use (most Prompts never need it). */
function lazyLangfuseRegistry(credentials: LangfuseCredentials): PromptRegistry {
  let registry: Promise<PromptRegistry> | undefined;
  const get = () =>
    (registry ??= import("../../backends/prompt-registry/langfuse.js").then(
      (m) => new m.LangfusePromptRegistry({ credentials }),
    ));
  return {
    publish: async (publication) => (await get()).publish(publication),
    remove: async (name) => {
      await (await get()).remove(name);
    },
  };
}

interface PromptDeps {
  deps: ControllerDeps;
  registryFor: (credentials: LangfuseCredentials) => PromptRegistry;
}

async function reconcilePrompt(
  { deps, registryFor }: PromptDeps,
  request: ReconcileRequest,
  context: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const { client, cache } = deps;
  const prompt = cache.get<Prompt>(PromptType, request);
  if (!prompt) return undefined; // gone; the ConfigMap follows by garbage collection

  if (isBeingDeleted(prompt)) {
    await finalizePrompt({ deps, registryFor }, prompt, context);
    return undefined;
  }
  if (prompt.spec.suspend) {
    context.log.debug("suspended");
    return undefined;
  }
  if (prompt.spec.publish?.langfuse) {
    await addFinalizer(client, PromptType, prompt, promptFinalizer);
  }

  const now = conditionTime(deps.clock.now());
  const revision = prompt.metadata.annotations?.[revisionAnnotation];
  const writeStatus = (outcome: ReconcileOutcome, next: PromptStatus) =>
    writeKstatus({ client: deps.client, type: PromptType, object: prompt, outcome, next, now });

  // Plan: a template that cannot work stops here; what was published stays as it was.
  const problems = checkTemplate(prompt.spec);
  if (problems.length > 0) {
    const message = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    await writeStatus(
      { state: "Stalled", reason: "InvalidTemplate", message },
      prompt.status ?? {},
    );
    void deps.events.record(prompt, {
      type: "Warning",
      reason: "InvalidTemplate",
      action: "Reconcile",
      note: message,
    });
    throw new TerminalError(message, { reason: "InvalidTemplate" });
  }

  const hash = promptContentHash(prompt.spec);
  const labels = prompt.spec.labels ?? [];
  const plan = planPromptVersion({
    status: prompt.status,
    hash,
    labels,
    revision,
    now,
    limit: prompt.spec.historyLimit ?? 20,
  });
  const next: PromptStatus = {
    ...prompt.status,
    version: plan.version,
    contentHash: hash,
    history: plan.history,
  };

  try {
    // Act: the outgoing version's snapshot, copied from the published ConfigMap before that is
    // overwritten (see snapshots.ts); snapshots of versions that left the history go with them.
    const previous = prompt.status;
    if (
      previous?.version !== undefined &&
      (previous.version !== plan.version || previous.contentHash !== hash)
    ) {
      const kept = new Set(plan.history.map((entry) => entry.version));
      if (kept.has(previous.version)) {
        const published = await client.tryGet<KubeObject & { data?: Record<string, string> }>(
          ConfigMapType,
          {
            namespace: request.namespace,
            name: previous.published?.configMap?.name ?? configMapName(prompt),
          },
        );
        const outgoing = decodeSnapshot(published, publishedSnapshotKey);
        if (outgoing?.version === previous.version && outgoing.prompt === request.name) {
          await client.apply(
            ConfigMapType,
            snapshotConfigMap({ snapshot: outgoing, owner: prompt, promptLabel }),
            { force: true },
          );
        }
      }
      for (const entry of previous.history ?? []) {
        if (kept.has(entry.version)) continue;
        await client.delete(ConfigMapType, {
          namespace: request.namespace,
          name: snapshotName(request.name, entry.version),
        });
      }
    }

    // Act: the ConfigMap for applications (with the live version's snapshot).
    const name = configMapName(prompt);
    const document = publishedDocument({ prompt, version: plan.version, hash, revision });
    const configMap: KubeObject = withControllerReference(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          namespace: request.namespace,
          labels: {
            "app.kubernetes.io/managed-by": "llmops",
            [promptLabel]: request.name,
          },
          annotations: {
            "llmops.dev/version": String(plan.version),
            "llmops.dev/content-hash": hash,
          },
        },
        data: {
          [configMapKey(prompt)]: JSON.stringify(document, null, 2),
          [publishedSnapshotKey]: JSON.stringify(snapshotOf(prompt, plan.version, hash)),
        },
      },
      prompt,
    );
    await client.apply(ConfigMapType, configMap, { force: true });
    next.published = { ...next.published, configMap: { name, version: plan.version } };

    // Act: Langfuse prompt management.
    const langfuse = prompt.spec.publish?.langfuse;
    if (langfuse) {
      const registry = registryFor(await langfuseCredentials(deps, prompt));
      const promptName = langfuse.promptName ?? request.name;
      const published = await registry.publish({
        name: promptName,
        contentHash: hash,
        llmopsVersion: plan.version,
        template:
          prompt.spec.template.text !== undefined
            ? { text: prompt.spec.template.text }
            : {
                messages: (prompt.spec.template.messages ?? []).map((m) => ({
                  role: m.role,
                  content: m.content,
                })),
              },
        config: {
          model: prompt.spec.model.name,
          ...(prompt.spec.model.parameters ?? {}),
          ...(prompt.spec.responseFormat ? { responseFormat: prompt.spec.responseFormat } : {}),
        },
        labels: [...labels],
        ...(revision !== undefined ? { source: revision } : {}),
      });
      next.published = {
        ...next.published,
        langfuse: { name: promptName, version: published.version, labels: published.labels },
      };
    } else if (next.published.langfuse) {
      const { langfuse: _dropped, ...rest } = next.published;
      next.published = rest;
    }
  } catch (err: unknown) {
    const reason = err instanceof MissingSecretError ? "SecretNotFound" : "PublishFailed";
    await writeStatus(
      {
        state: "Failed",
        reason,
        message: `publishing version ${String(plan.version)} failed: ${errorMessage(err)}`,
      },
      prompt.status ?? {},
    );
    throw err instanceof TransientError
      ? err
      : new TransientError(errorMessage(err), { cause: err });
  }

  const message = `version ${String(plan.version)} is live${labels.length ? ` (labels: ${labels.join(", ")})` : ""}`;
  const changed = await writeStatus({ state: "Ready", reason: "Published", message }, next);
  // The first version comes with the object's creation; Events mark changes after that.
  const previousVersion = prompt.status?.version;
  if (changed && previousVersion !== undefined && plan.version !== previousVersion) {
    void deps.events.record(prompt, {
      type: "Normal",
      reason: plan.minted ? "VersionCreated" : "VersionRestored",
      action: "Publish",
      note: plan.minted
        ? `published new version ${String(plan.version)}${revision ? ` from ${revision}` : ""}`
        : `content matches version ${String(plan.version)}: restored it${revision ? ` at ${revision}` : ""}`,
    });
  }
  return { requeueAfter: driftCheckMs };
}

function langfuseCredentials(
  deps: ControllerDeps,
  prompt: StoredObject<Prompt>,
): Promise<LangfuseCredentials> {
  const langfuse = prompt.spec.publish?.langfuse;
  if (!langfuse) throw new Error("spec.publish.langfuse is not set");
  return langfuseKeys(
    deps.client,
    prompt.metadata.namespace ?? "",
    langfuse,
    "spec.publish.langfuse",
  );
}

async function finalizePrompt(
  { deps, registryFor }: PromptDeps,
  prompt: StoredObject<Prompt>,
  context: ReconcileContext,
): Promise<void> {
  const langfuse = prompt.spec.publish?.langfuse;
  if (langfuse && langfuse.deletionPolicy === "Delete") {
    const registry = registryFor(await langfuseCredentials(deps, prompt));
    await registry.remove(langfuse.promptName ?? prompt.metadata.name);
    context.log.info("removed the prompt from Langfuse (deletionPolicy: Delete)");
  }
  await removeFinalizer(deps.client, PromptType, prompt, promptFinalizer);
}
