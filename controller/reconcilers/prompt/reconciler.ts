// The Prompt reconciler, on the shared skeleton (runtime/object-reconciler.ts): observe the
// outgoing version's snapshot → plan the version (plan.ts, pure) → act: publish.
//
// Order matters for "no duplicates after a crash": the version is planned from status, published
// (ConfigMaps by server-side apply, Langfuse by content-addressed lookup), and only then written to
// status. A crash between publish and status write replays the same plan: same version number, the
// same ConfigMap content, and Langfuse finds the version it already holds.
import type { Prompt, PromptStatus } from "../../api/generated/index.js";
import { PromptType } from "../../api/kinds.js";
import { promptFinalizer, promptLabel } from "../../api/well-known.js";
import type { LangfuseCredentials } from "../../backends/prompt-registry/langfuse.js";
import type { PromptRegistry } from "../../backends/prompt-registry/prompt-registry.js";
import { errorMessage } from "../../kube/errors.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { ConfigMapType, type StoredObject } from "../../kube/resources.js";
import { MissingSecretError } from "../../kube/secrets.js";
import { configMapName } from "../../prompts/published.js";
import { decodeSnapshot, publishedSnapshotKey } from "../../prompts/snapshots.js";
import {
  objectReconciler,
  type ObjectContext,
  type ObjectReconciler,
  type ReconcileStep,
} from "../../runtime/object-reconciler.js";
import { StringPool, compactObject } from "../../runtime/cache-views.js";
import { OwnedChildren } from "../../runtime/owned-children.js";
import type { ControllerDeps, ControllerSetup } from "../../runtime/registry.js";
import {
  needsOutgoingSnapshot,
  planPrompt,
  type ObservedPrompt,
  type PromptActions,
} from "./plan.js";

export { PromptType };

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
    // Prompts are read whole (this reconciler, Experiments' variants), so the cache keeps them
    // whole, minus what nobody reads and with repeated strings shared.
    transform: compactObject(new StringPool()),
    // Only our ConfigMaps, and only their metadata and a digest of their data: enough to notice a
    // deleted or edited one, and to skip writing one that is already as desired.
    owns: [
      { type: ConfigMapType, labelSelector: promptLabel, metadataOnly: true, contentDigest: true },
    ],
    concurrency: options.concurrency ?? 4,
    reconcile: objectReconciler(deps, promptReconciler(registryFor)),
  });
}

type StoredPrompt = StoredObject<Prompt>;

function promptReconciler(
  registryFor: (credentials: LangfuseCredentials) => PromptRegistry,
): ObjectReconciler<Prompt, PromptStatus, ObservedPrompt, PromptActions> {
  return {
    type: PromptType,
    finalizer: {
      name: promptFinalizer,
      needed: (prompt) => prompt.spec.publish?.langfuse !== undefined,
      finalize: async (prompt, context) => {
        const langfuse = prompt.spec.publish?.langfuse;
        if (langfuse?.deletionPolicy !== "Delete") return;
        const registry = registryFor(await langfuseCredentials(context.deps, prompt));
        await registry.remove(langfuse.promptName ?? prompt.metadata.name);
        context.log.info("removed the prompt from Langfuse (deletionPolicy: Delete)");
      },
    },
    observe: async (prompt, { deps }) => {
      if (!needsOutgoingSnapshot(prompt)) return { outgoing: undefined };
      // The outgoing version's snapshot rides in the published ConfigMap (see prompts/snapshots.ts).
      const published = await deps.client.getConfigMap({
        namespace: prompt.metadata.namespace ?? "",
        name: prompt.status?.published?.configMap?.name ?? configMapName(prompt),
      });
      return { outgoing: decodeSnapshot(published, publishedSnapshotKey) };
    },
    plan: planPrompt,
    act: (actions, planned, context) => publish(registryFor, actions, planned, context),
  };
}

/** The ConfigMaps, then Langfuse; a failure leaves status as it was and is retried. */
async function publish(
  registryFor: (credentials: LangfuseCredentials) => PromptRegistry,
  actions: PromptActions,
  planned: ReconcileStep<PromptStatus>,
  context: ObjectContext & { object: StoredPrompt },
): Promise<ReconcileStep<PromptStatus>> {
  const { deps, object: prompt } = context;
  const children = new OwnedChildren({
    client: deps.client,
    owner: prompt,
    labels: { [promptLabel]: prompt.metadata.name },
    cache: deps.cache,
  });
  const status = planned.status;
  try {
    await children.apply(ConfigMapType, actions.configMaps);
    await children.delete(ConfigMapType, actions.prune);
    if (actions.langfuse) {
      const registry = registryFor(await langfuseCredentials(deps, prompt));
      const published = await registry.publish(actions.langfuse);
      const langfuse = {
        name: actions.langfuse.name,
        version: published.version,
        labels: published.labels,
      };
      return { ...planned, status: { ...status, published: { ...status.published, langfuse } } };
    }
    return planned;
  } catch (error) {
    return {
      status: prompt.status ?? {},
      outcome: {
        state: "Failed",
        reason: error instanceof MissingSecretError ? "SecretNotFound" : "PublishFailed",
        message: `publishing version ${String(status.version)} failed: ${errorMessage(error)}`,
      },
      error,
    };
  }
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

function langfuseCredentials(
  deps: ControllerDeps,
  prompt: StoredPrompt,
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
