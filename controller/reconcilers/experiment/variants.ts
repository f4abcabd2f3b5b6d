// From a variant (Prompt reference + optional model override) to what is sent to the model. Pure.
//
// A variant runs the Prompt's live content, or — pinned to a version or label that is not live —
// the content of that version from its snapshot (see controller/prompts/snapshots.ts): the reconciler asks
// `pinnedVersion` which version is needed, reads the snapshot, and hands it to `resolveVariant`.
import Mustache from "mustache";
import type {
  Experiment,
  ExperimentVariant,
  ModelDeployment,
  Prompt,
  PromptModelEndpoint,
  PromptResponseFormat,
  PromptSpec,
} from "../../api/generated/index.js";
import type { ChatMessage } from "../../backends/llm/types.js";
import { isRequired, promptContentHash } from "../../prompts/content.js";
import { snapshotName, type PromptSnapshot } from "../../prompts/snapshots.js";
import type { DatasetItem } from "../../backends/datasets/items.js";

/** Everything needed to call the model for one variant. */
export interface ResolvedVariant {
  name: string;
  control: boolean;
  promptName: string;
  promptVersion: number;
  promptHash: string;
  template: Prompt["spec"]["template"];
  variables: NonNullable<Prompt["spec"]["variables"]>;
  responseFormat?: PromptResponseFormat;
  model: string;
  endpoint: PromptModelEndpoint;
  /** The ModelDeployment revision that serves the variant (model.modelDeployment). */
  revision?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
}

/**
 * Why a variant cannot run: `wait` clears by itself (the Prompt does not exist yet, is being
 * versioned, has no endpoint yet), `stall` needs a change to this Experiment's spec.
 */
export type VariantProblem = { kind: "wait" | "stall"; reason: string; message: string };

export type VariantResolution =
  { ok: true; variant: ResolvedVariant } | { ok: false; problem: VariantProblem };

/** The version a variant runs: the live one, or an earlier one whose snapshot must be read. */
export type PinnedVersion =
  | { ok: true; live: true; version: number }
  | { ok: true; live: false; version: number }
  | { ok: false; problem: VariantProblem };

const fail = (
  kind: VariantProblem["kind"],
  reason: string,
  message: string,
): { ok: false; problem: VariantProblem } => ({
  ok: false,
  problem: { kind, reason, message },
});

/** Which version of its Prompt `variant` (at `index` in spec.variants) runs. */
export function pinnedVersion(
  variant: ExperimentVariant,
  index: number,
  prompt: Prompt | undefined,
): PinnedVersion {
  const field = `spec.variants[${String(index)}]`;
  const ref = variant.prompt;
  if (prompt === undefined) {
    // Waiting, not stalled: it clears by itself once the Prompt is applied (Flux's dependsOn).
    return fail(
      "wait",
      "PromptNotFound",
      `${field}.prompt: Prompt ${ref.name} does not exist in this namespace; create it or fix the name`,
    );
  }
  const live = prompt.status?.version;
  if (live === undefined || prompt.status?.contentHash !== promptContentHash(prompt.spec)) {
    return fail(
      "wait",
      "PromptNotReady",
      `waiting for Prompt ${ref.name} to version its current spec`,
    );
  }
  const history = prompt.status.history ?? [];
  if (ref.version !== undefined) {
    if (ref.version === live) return { ok: true, live: true, version: live };
    if (history.some((h) => h.version === ref.version)) {
      return { ok: true, live: false, version: ref.version };
    }
    return fail(
      "stall",
      "PromptVersionUnavailable",
      `${field}.prompt.version: Prompt ${ref.name} has no version ${String(ref.version)} in its history (versions: ${history.map((h) => String(h.version)).join(", ")}); pin one of those`,
    );
  }
  if (ref.label !== undefined) {
    if ((prompt.spec.labels ?? []).includes(ref.label))
      return { ok: true, live: true, version: live };
    const labelled = history.find((h) => h.labels?.includes(ref.label ?? ""));
    if (labelled) return { ok: true, live: false, version: labelled.version };
    return fail(
      "stall",
      "PromptVersionUnavailable",
      `${field}.prompt.label: Prompt ${ref.name} has no version labelled ${ref.label}; its live version ${String(live)} has labels [${(prompt.spec.labels ?? []).join(", ")}]`,
    );
  }
  return { ok: true, live: true, version: live };
}

/**
 * The endpoint of a ModelDeployment's revision, once that revision is ready: the named revision,
 * else the one with the role asked for (Canary: status.canaryRevision; Stable, the default:
 * status.stableRevision). The URL its status reports (status.revisions[].url: its Service, or
 * its local process), else its Service's OpenAI-compatible API inside the cluster
 * (`http://<revision>.<namespace>.svc:<port>/v1`).
 */
export function deploymentEndpoint(
  ref: { name: string; revision?: string; role?: "Stable" | "Canary" },
  deployment: ModelDeployment | undefined,
): { ok: true; endpoint: PromptModelEndpoint; revision: string } | { ok: false; message: string } {
  if (deployment === undefined) {
    return {
      ok: false,
      message: `ModelDeployment ${ref.name} does not exist in this namespace yet`,
    };
  }
  const canary = ref.revision === undefined && ref.role === "Canary";
  const revision =
    ref.revision ??
    (canary ? deployment.status?.canaryRevision : deployment.status?.stableRevision);
  const listed = deployment.status?.revisions?.find((r) => r.name === revision);
  if (revision === undefined || listed === undefined) {
    return {
      ok: false,
      message:
        ref.revision !== undefined
          ? `ModelDeployment ${ref.name} runs no revision ${ref.revision} (revisions: ${(deployment.status?.revisions ?? []).map((r) => r.name).join(", ")})`
          : canary
            ? `ModelDeployment ${ref.name} has no canary revision yet (a rollout starts one when its spec changes)`
            : `ModelDeployment ${ref.name} has no stable revision yet`,
    };
  }
  if (listed.ready !== true) {
    return {
      ok: false,
      message: `revision ${revision} of ModelDeployment ${ref.name} is not ready yet`,
    };
  }
  // The revision's own URL as the serving backend reports it (a Service, or a local process);
  // statuses written before revisions carried one get the Service name.
  if (listed.url !== undefined) return { ok: true, endpoint: { baseURL: listed.url }, revision };
  const port = deployment.spec.runtime?.port ?? 8000;
  const namespace = deployment.metadata.namespace ?? "";
  return {
    ok: true,
    endpoint: { baseURL: `http://${revision}.${namespace}.svc:${String(port)}/v1` },
    revision,
  };
}

/**
 * Whether a finished run is for an earlier canary: a variant that follows a ModelDeployment's
 * canary (model.modelDeployment.role Canary) has results recorded for another revision than the
 * ready canary it would call now. That makes a new run (a new endpoint, so a new run id); results
 * without a recorded revision (earlier controllers) and a canary that is gone (promoted or rolled
 * back) leave the finished run as it is.
 */
export function canaryMoved(
  experiment: Experiment,
  deploymentOf: (name: string) => ModelDeployment | undefined,
): boolean {
  const results = experiment.status?.results ?? [];
  return experiment.spec.variants.some((variant) => {
    const served = variant.model?.modelDeployment;
    if (served?.role !== "Canary") return false;
    const recorded = results.find((r) => r.variant === variant.name)?.revision;
    if (recorded === undefined) return false;
    const now = deploymentEndpoint(served, deploymentOf(served.name));
    return now.ok && now.revision !== recorded;
  });
}

/** The problem when the snapshot of a pinned, non-live version could not be read. */
export function missingSnapshot(
  variant: ExperimentVariant,
  index: number,
  version: number,
): VariantProblem {
  const name = variant.prompt.name;
  return {
    kind: "stall",
    reason: "PromptVersionUnavailable",
    message: `spec.variants[${String(index)}].prompt: the content of version ${String(version)} of Prompt ${name} is not available (ConfigMap ${snapshotName(name, version)} is missing or was edited: it was live before llmops kept version snapshots, or was deleted); apply that content to the Prompt once to record it again, or pin another version`,
  };
}

/**
 * Resolves `variant` (at `index` in spec.variants) against its Prompt: the live spec, or
 * `snapshot` when the variant is pinned to an earlier version.
 */
export function resolveVariant(
  variant: ExperimentVariant,
  index: number,
  prompt: Prompt | undefined,
  snapshot?: PromptSnapshot,
  deployment?: ModelDeployment,
): VariantResolution {
  const field = `spec.variants[${String(index)}]`;
  const ref = variant.prompt;
  const pinned = pinnedVersion(variant, index, prompt);
  if (!pinned.ok) return pinned;
  if (prompt === undefined) throw new Error("unreachable: pinnedVersion checks the Prompt");
  let spec: Pick<PromptSpec, "template" | "variables" | "model" | "responseFormat"> = prompt.spec;
  let hash = prompt.status?.contentHash ?? "";
  if (!pinned.live) {
    if (snapshot === undefined || snapshot.version !== pinned.version) {
      return { ok: false, problem: missingSnapshot(variant, index, pinned.version) };
    }
    spec = snapshot.spec;
    hash = snapshot.contentHash;
  }
  const served = variant.model?.modelDeployment;
  let endpoint = variant.model?.endpoint ?? spec.model.endpoint;
  let revision: string | undefined;
  if (served !== undefined) {
    const found = deploymentEndpoint(served, deployment);
    if (!found.ok)
      return fail(
        "wait",
        "ModelDeploymentNotReady",
        `${field}.model.modelDeployment: ${found.message}`,
      );
    endpoint = found.endpoint;
    revision = found.revision;
  }
  if (endpoint === undefined) {
    // Waiting: setting the Prompt's endpoint (a change to the Prompt, not this spec) clears it.
    return fail(
      "wait",
      "NoEndpoint",
      `${field}: no model endpoint: set spec.model.endpoint on Prompt ${ref.name} or ${field}.model.endpoint`,
    );
  }
  const base = spec.model.parameters ?? {};
  const override = variant.model?.parameters ?? {};
  const temperature = override.temperature ?? base.temperature;
  const topP = override.topP ?? base.topP;
  const maxTokens = override.maxTokens ?? base.maxTokens;
  return {
    ok: true,
    variant: {
      name: variant.name,
      control: variant.control === true,
      promptName: ref.name,
      promptVersion: pinned.version,
      promptHash: hash,
      template: spec.template,
      variables: spec.variables ?? [],
      ...(spec.responseFormat ? { responseFormat: spec.responseFormat } : {}),
      model: variant.model?.name ?? spec.model.name,
      endpoint,
      ...(revision !== undefined ? { revision } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(base.seed !== undefined ? { seed: base.seed } : {}),
      ...(base.stop !== undefined ? { stop: base.stop } : {}),
    },
  };
}

function stringValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** The variable values for `item`: its vars over the Prompt's defaults, all as text. */
export function itemVariables(
  variant: ResolvedVariant,
  item: DatasetItem,
): { ok: true; view: Record<string, string> } | { ok: false; missing: string[] } {
  const view: Record<string, string> = {};
  const missing: string[] = [];
  for (const v of variant.variables) {
    if (v.name in item.vars) view[v.name] = stringValue(item.vars[v.name]);
    else if (v.default !== undefined) view[v.name] = v.default;
    else if (isRequired(v)) missing.push(v.name);
  }
  for (const [name, value] of Object.entries(item.vars)) {
    if (!(name in view)) view[name] = stringValue(value);
  }
  return missing.length > 0 ? { ok: false, missing } : { ok: true, view };
}

/** Items that lack a required variable of a variant's Prompt, as one message per item (first 5). */
export function missingVariables(
  variants: readonly ResolvedVariant[],
  items: readonly DatasetItem[],
): string[] {
  const problems: string[] = [];
  for (const item of items) {
    for (const variant of variants) {
      const vars = itemVariables(variant, item);
      if (!vars.ok) {
        problems.push(
          `dataset item ${item.id} has no value for ${vars.missing.join(", ")}, required by Prompt ${variant.promptName} (variant ${variant.name})`,
        );
        break;
      }
    }
    if (problems.length >= 5) break;
  }
  return problems;
}

// Logic-less and unescaped: prompts are not HTML.
function render(text: string, view: Record<string, string>): string {
  return Mustache.render(text, view, {}, { escape: (s: string) => s });
}

/** The chat messages for `item`; a text template becomes one user message. */
export function renderMessages(
  variant: ResolvedVariant,
  view: Record<string, string>,
): ChatMessage[] {
  const template = variant.template;
  if (template.text !== undefined) return [{ role: "user", content: render(template.text, view) }];
  return (template.messages ?? []).map((m) => ({ role: m.role, content: render(m.content, view) }));
}
