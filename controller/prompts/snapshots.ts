// Version snapshots: the content of every Prompt version still in status.history. status.history
// keeps hashes only; the snapshots are what lets an Experiment evaluate version 4 against version
// 3 while only one of them is live, and what `llmops promote` writes back to git when an older
// version wins.
//
// The live version's snapshot rides in the published ConfigMap (key `.llmops-snapshot.json`),
// which is written anyway. When another version goes live, the outgoing one's snapshot is copied
// from there into its own owned ConfigMap `prompt-<name>-v<version>`, which is deleted when the
// version leaves the history. So a new Prompt costs no extra write, and a Prompt whose content
// does not change costs none either: only a version change does (one read, one write).
import type { Prompt, PromptSpec } from "../api/generated/index.js";
import type { KubeClient } from "../kube/client.js";
import type { ConfigMap, StoredObject } from "../kube/resources.js";
import { contentHashAnnotation, promptVersionLabel } from "../api/well-known.js";
import type { ChildObject } from "../runtime/owned-children.js";
import { contentHash } from "../runtime/hash.js";
import { promptContentHash } from "./content.js";

/** The parts of a Prompt spec that make a version, exactly as they were written. */
export type PromptSnapshotSpec = Pick<
  PromptSpec,
  "template" | "variables" | "model" | "responseFormat"
>;

/** One version's content. */
export interface PromptSnapshot {
  prompt: string;
  version: number;
  contentHash: string;
  spec: PromptSnapshotSpec;
}

export const snapshotKey = "snapshot.json";
/** The live version's snapshot, in the published ConfigMap. */
export const publishedSnapshotKey = ".llmops-snapshot.json";

const maxName = 253;

/** Name of the ConfigMap that holds version `version` of Prompt `prompt`. */
export function snapshotName(prompt: string, version: number): string {
  const name = `prompt-${prompt}-v${String(version)}`;
  if (name.length <= maxName) return name;
  // Long Prompt names: keep the name readable and unique with a short hash of the full name.
  const suffix = `-${contentHash(prompt)
    .replace(/^sha256:/, "")
    .slice(0, 8)}-v${String(version)}`;
  return `prompt-${prompt.slice(0, maxName - suffix.length - "prompt-".length)}${suffix}`;
}

/** The versioned parts of `spec`, without labels, publishing targets or other settings. */
export function snapshotSpec(spec: PromptSpec): PromptSnapshotSpec {
  return {
    template: spec.template,
    ...(spec.variables !== undefined ? { variables: spec.variables } : {}),
    model: spec.model,
    ...(spec.responseFormat !== undefined ? { responseFormat: spec.responseFormat } : {}),
  };
}

/** `prompt`'s current content as `version`. Pure. */
export function snapshotOf(
  prompt: StoredObject<Prompt>,
  version: number,
  hash: string,
): PromptSnapshot {
  return {
    prompt: prompt.metadata.name,
    version,
    contentHash: hash,
    spec: snapshotSpec(prompt.spec),
  };
}

/**
 * The ConfigMap that keeps `snapshot` once its version is no longer live, as a child of its
 * Prompt (runtime/owned-children.ts adds the owner reference and the Prompt's label). Pure.
 */
export function snapshotConfigMap(snapshot: PromptSnapshot): ChildObject & ConfigMap {
  return {
    metadata: {
      name: snapshotName(snapshot.prompt, snapshot.version),
      labels: { [promptVersionLabel]: String(snapshot.version) },
      annotations: { [contentHashAnnotation]: snapshot.contentHash },
    },
    data: { [snapshotKey]: JSON.stringify(snapshot, null, 2) },
  };
}

/**
 * The snapshot a ConfigMap holds, or undefined when it is not one, does not parse, or its content
 * does not hash to what it claims (edited by hand): a wrong snapshot must never be evaluated.
 */
export function decodeSnapshot(
  configMap: ConfigMap | undefined,
  key: string = snapshotKey,
): PromptSnapshot | undefined {
  const text = configMap?.data?.[key];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const snapshot = parsed as Partial<PromptSnapshot>;
  if (
    typeof snapshot.prompt !== "string" ||
    typeof snapshot.version !== "number" ||
    typeof snapshot.contentHash !== "string" ||
    typeof snapshot.spec !== "object"
  ) {
    return undefined;
  }
  const full = snapshot as PromptSnapshot;
  if (promptContentHash(full.spec) !== full.contentHash) return undefined;
  return full;
}

/** Reads version `version` of Prompt `prompt` (from the API: snapshots are not cached). */
export async function readPromptSnapshot(
  client: KubeClient,
  namespace: string,
  prompt: string,
  version: number,
): Promise<PromptSnapshot | undefined> {
  const configMap = await client.getConfigMap({ namespace, name: snapshotName(prompt, version) });
  const snapshot = decodeSnapshot(configMap);
  return snapshot?.prompt === prompt && snapshot.version === version ? snapshot : undefined;
}
