// planPromptVersion and the published document: pure functions of spec, status and now.
import type {
  Prompt,
  PromptSpec,
  PromptStatus,
  PromptStatusHistoryEntry,
} from "../../api/generated/index.js";
import { promptContent, type ResolvedVariable } from "../../prompts/content.js";

export interface VersionPlan {
  version: number;
  /** True when this content has not been seen before: a new version is minted. */
  minted: boolean;
  history: PromptStatusHistoryEntry[];
}

/**
 * The version for `hash`: the version an earlier entry with the same hash had (a revert gets its
 * old number back), or one more than any version ever given. History is newest first, bounded by
 * `limit`; the entry for the live content always stays, and so does the highest version (so the
 * counter never goes back).
 */
export function planPromptVersion(options: {
  status: PromptStatus | undefined;
  hash: string;
  labels: readonly string[];
  revision: string | undefined;
  now: string;
  limit: number;
}): VersionPlan {
  const { status, hash, labels, revision, now, limit } = options;
  const history = status?.history ?? [];
  const known = history.find((entry) => entry.contentHash === hash);
  const highest = Math.max(0, status?.version ?? 0, ...history.map((entry) => entry.version));
  const version = known?.version ?? highest + 1;
  const current: PromptStatusHistoryEntry = known
    ? { ...known, labels: [...labels] }
    : {
        version,
        contentHash: hash,
        ...(revision !== undefined ? { sourceRevision: revision } : {}),
        firstSeen: now,
        labels: [...labels],
      };
  // Labels follow the live version: earlier entries lose the labels it now carries.
  const others = history
    .filter((entry) => entry.contentHash !== hash)
    .map((entry) => {
      const kept = (entry.labels ?? []).filter((label) => !labels.includes(label));
      return entry.labels === undefined ? entry : { ...entry, labels: kept };
    });
  const ordered = [current, ...others];
  const bounded = boundHistory(ordered, Math.max(1, limit));
  return { version, minted: known === undefined, history: bounded };
}

/** Keeps the first `limit` entries, but never drops the highest version. */
function boundHistory(
  entries: PromptStatusHistoryEntry[],
  limit: number,
): PromptStatusHistoryEntry[] {
  if (entries.length <= limit) return entries;
  const highest = entries.reduce((a, b) => (b.version > a.version ? b : a));
  const kept = entries.slice(0, limit);
  if (!kept.includes(highest)) kept[kept.length - 1] = highest;
  return kept;
}

/** The document applications read from the published ConfigMap. */
export interface PublishedPromptDocument {
  apiVersion: "llmops.dev/v1alpha1";
  kind: "PublishedPrompt";
  name: string;
  namespace: string;
  version: number;
  contentHash: string;
  labels: string[];
  sourceRevision?: string;
  template: PromptSpec["template"];
  variables: ResolvedVariable[];
  model: {
    name: string;
    baseURL?: string;
    parameters?: NonNullable<PromptSpec["model"]["parameters"]>;
  };
  responseFormat?: PromptSpec["responseFormat"];
}

export function publishedDocument(options: {
  prompt: Prompt;
  version: number;
  hash: string;
  revision: string | undefined;
}): PublishedPromptDocument {
  const { prompt, version, hash, revision } = options;
  const content = promptContent(prompt.spec);
  const model = prompt.spec.model;
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "PublishedPrompt",
    name: prompt.metadata.name ?? "",
    namespace: prompt.metadata.namespace ?? "",
    version,
    contentHash: hash,
    labels: [...(prompt.spec.labels ?? [])],
    ...(revision !== undefined ? { sourceRevision: revision } : {}),
    template: content.template,
    variables: content.variables,
    // The endpoint's Secret reference stays out: applications get their own credentials.
    model: {
      name: model.name,
      ...(model.endpoint ? { baseURL: model.endpoint.baseURL } : {}),
      ...(model.parameters ? { parameters: model.parameters } : {}),
    },
    ...(content.responseFormat ? { responseFormat: content.responseFormat } : {}),
  };
}

export function configMapName(prompt: Prompt): string {
  return prompt.spec.publish?.configMap?.name ?? `prompt-${prompt.metadata.name ?? ""}`;
}

export function configMapKey(prompt: Prompt): string {
  return prompt.spec.publish?.configMap?.key ?? "prompt.json";
}
