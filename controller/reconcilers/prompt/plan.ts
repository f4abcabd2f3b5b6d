// The Prompt reconciler's decisions: which version the content is, what to publish, which
// snapshots go, and the status that results. Pure functions of spec, status, observed and now.
import type { Prompt, PromptStatus, PromptStatusHistoryEntry } from "../../api/generated/index.js";
import {
  contentHashAnnotation,
  promptVersionAnnotation,
  revisionAnnotation,
} from "../../api/well-known.js";
import type { EventSpec } from "../../kube/events.js";
import type { ConfigMap, StoredObject } from "../../kube/resources.js";
import type { PromptPublication } from "../../backends/prompt-registry/prompt-registry.js";
import { checkTemplate, promptContentHash } from "../../prompts/content.js";
import { configMapKey, configMapName, publishedDocument } from "../../prompts/published.js";
import {
  publishedSnapshotKey,
  snapshotConfigMap,
  snapshotName,
  snapshotOf,
  type PromptSnapshot,
} from "../../prompts/snapshots.js";
import type { ChildObject } from "../../runtime/owned-children.js";
import type { ReconcileStep } from "../../runtime/object-reconciler.js";

/** How often a Ready prompt is checked again for drift (the ConfigMap edited by hand, …). */
export const driftCheckMs = 10 * 60_000;

/** What the reconciler read before planning. */
export interface ObservedPrompt {
  /** The snapshot in the published ConfigMap, read only when the content changed. */
  outgoing: PromptSnapshot | undefined;
}

/** The writes of one Prompt reconcile, in order. */
export interface PromptActions {
  /** The outgoing version's snapshot (first: the published ConfigMap overwrites it), then that ConfigMap. */
  configMaps: (ChildObject & ConfigMap)[];
  /** Snapshot ConfigMaps of versions that left the history. */
  prune: string[];
  /** The Langfuse publication, when spec.publish.langfuse is set. */
  langfuse: PromptPublication | undefined;
}

/** Whether observe must read the published ConfigMap: only when the content changed. */
export function needsOutgoingSnapshot(prompt: Prompt): boolean {
  const previous = prompt.status;
  return previous?.version !== undefined && previous.contentHash !== promptContentHash(prompt.spec);
}

/** The reconcile of `prompt`: stall on a template that cannot work, else publish its version. */
export function planPrompt(input: {
  object: StoredObject<Prompt>;
  observed: ObservedPrompt;
  now: string;
}): { step: ReconcileStep<PromptStatus>; actions?: PromptActions } {
  const { object: prompt, observed, now } = input;
  const previous = prompt.status;
  const problems = checkTemplate(prompt.spec);
  if (problems.length > 0) {
    // What was published stays as it was.
    const message = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    return {
      step: {
        status: previous ?? {},
        outcome: { state: "Stalled", reason: "InvalidTemplate", message },
      },
    };
  }

  const name = prompt.metadata.name;
  const hash = promptContentHash(prompt.spec);
  const labels = prompt.spec.labels ?? [];
  const revision = prompt.metadata.annotations?.[revisionAnnotation];
  const plan = planPromptVersion({
    status: previous,
    hash,
    labels,
    revision,
    now,
    limit: prompt.spec.historyLimit ?? 20,
  });

  const configMaps: (ChildObject & ConfigMap)[] = [];
  const prune: string[] = [];
  if (
    previous?.version !== undefined &&
    (previous.version !== plan.version || previous.contentHash !== hash)
  ) {
    const kept = new Set(plan.history.map((entry) => entry.version));
    const outgoing = observed.outgoing;
    if (
      kept.has(previous.version) &&
      outgoing?.version === previous.version &&
      outgoing.prompt === name
    ) {
      configMaps.push(snapshotConfigMap(outgoing));
    }
    for (const entry of previous.history ?? []) {
      if (!kept.has(entry.version)) prune.push(snapshotName(name, entry.version));
    }
  }
  const configMap = configMapName(prompt);
  configMaps.push({
    metadata: {
      name: configMap,
      annotations: {
        [promptVersionAnnotation]: String(plan.version),
        [contentHashAnnotation]: hash,
      },
    },
    data: {
      [configMapKey(prompt)]: JSON.stringify(
        publishedDocument({ prompt, version: plan.version, hash, revision }),
        null,
        2,
      ),
      [publishedSnapshotKey]: JSON.stringify(snapshotOf(prompt, plan.version, hash)),
    },
  });

  const { langfuse: _langfuse, ...published } = previous?.published ?? {};
  const status: PromptStatus = {
    ...previous,
    version: plan.version,
    contentHash: hash,
    history: plan.history,
    published: { ...published, configMap: { name: configMap, version: plan.version } },
  };
  const message = `version ${String(plan.version)} is live${labels.length ? ` (labels: ${labels.join(", ")})` : ""}`;
  return {
    actions: {
      configMaps,
      prune,
      langfuse: langfusePublication(prompt, plan.version, hash, revision),
    },
    step: {
      status,
      outcome: { state: "Ready", reason: "Published", message },
      events: versionEvents(previous?.version, plan, revision),
      requeueAfter: driftCheckMs,
    },
  };
}

function langfusePublication(
  prompt: Prompt,
  version: number,
  hash: string,
  revision: string | undefined,
): PromptActions["langfuse"] {
  const langfuse = prompt.spec.publish?.langfuse;
  if (!langfuse) return undefined;
  const { template, model, responseFormat } = prompt.spec;
  return {
    name: langfuse.promptName ?? prompt.metadata.name ?? "",
    contentHash: hash,
    llmopsVersion: version,
    template:
      template.text !== undefined
        ? { text: template.text }
        : {
            messages: (template.messages ?? []).map((m) => ({ role: m.role, content: m.content })),
          },
    config: {
      model: model.name,
      ...(model.parameters ?? {}),
      ...(responseFormat ? { responseFormat } : {}),
    },
    labels: [...(prompt.spec.labels ?? [])],
    ...(revision !== undefined ? { source: revision } : {}),
  };
}

/** The first version comes with the object's creation; Events mark changes after that. */
function versionEvents(
  previousVersion: number | undefined,
  plan: VersionPlan,
  revision: string | undefined,
): EventSpec[] {
  if (previousVersion === undefined || plan.version === previousVersion) return [];
  const version = String(plan.version);
  return [
    {
      type: "Normal",
      reason: plan.minted ? "VersionCreated" : "VersionRestored",
      action: "Publish",
      note: plan.minted
        ? `published new version ${version}${revision ? ` from ${revision}` : ""}`
        : `content matches version ${version}: restored it${revision ? ` at ${revision}` : ""}`,
    },
  ];
}

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
