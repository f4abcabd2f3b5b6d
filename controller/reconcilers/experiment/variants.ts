// From a variant (Prompt reference + optional model override) to what is sent to the model. Pure.
//
// Only the live content of a Prompt is available: `status.history` keeps hashes, not templates.
// A variant pinned to a version or label that is not the live one stops with a message that says so
// (the Prompt's published ConfigMap holds the live version too, nothing older).
import Mustache from "mustache";
import type {
  ExperimentVariant,
  Prompt,
  PromptModelEndpoint,
  PromptResponseFormat,
} from "../../api/generated/index.js";
import type { ChatMessage } from "../../backends/llm/types.js";
import { isRequired, promptContentHash } from "../prompt/content.js";
import type { DatasetItem } from "./dataset.js";

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
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
}

/** Why a variant cannot run: `wait` clears by itself (the Prompt is being versioned), `stall` needs a spec change. */
export type VariantProblem = { kind: "wait" | "stall"; reason: string; message: string };

export type VariantResolution =
  { ok: true; variant: ResolvedVariant } | { ok: false; problem: VariantProblem };

const fail = (
  kind: VariantProblem["kind"],
  reason: string,
  message: string,
): VariantResolution => ({
  ok: false,
  problem: { kind, reason, message },
});

/** Resolves `variant` (at `index` in spec.variants) against its Prompt, if it exists. */
export function resolveVariant(
  variant: ExperimentVariant,
  index: number,
  prompt: Prompt | undefined,
): VariantResolution {
  const field = `spec.variants[${String(index)}]`;
  const ref = variant.prompt;
  if (prompt === undefined) {
    return fail(
      "stall",
      "PromptNotFound",
      `${field}.prompt: Prompt ${ref.name} does not exist in this namespace; create it or fix the name`,
    );
  }
  const hash = promptContentHash(prompt.spec);
  const live = prompt.status?.version;
  if (live === undefined || prompt.status?.contentHash !== hash) {
    return fail(
      "wait",
      "PromptNotReady",
      `waiting for Prompt ${ref.name} to version its current spec`,
    );
  }
  if (ref.version !== undefined && ref.version !== live) {
    return fail(
      "stall",
      "PromptVersionUnavailable",
      `${field}.prompt.version: version ${String(ref.version)} of Prompt ${ref.name} is not available: only the live version ${String(live)} can be evaluated (history keeps hashes, not content); pin version ${String(live)} or apply the old content to a second Prompt`,
    );
  }
  if (ref.label !== undefined && !(prompt.spec.labels ?? []).includes(ref.label)) {
    const elsewhere = prompt.status.history?.find((h) => h.labels?.includes(ref.label ?? ""));
    return fail(
      "stall",
      "PromptVersionUnavailable",
      elsewhere
        ? `${field}.prompt.label: label ${ref.label} of Prompt ${ref.name} is on version ${String(elsewhere.version)}, which is not available: only the live version ${String(live)} can be evaluated`
        : `${field}.prompt.label: Prompt ${ref.name} has no version labelled ${ref.label}; its live version ${String(live)} has labels [${(prompt.spec.labels ?? []).join(", ")}]`,
    );
  }
  const endpoint = variant.model?.endpoint ?? prompt.spec.model.endpoint;
  if (endpoint === undefined) {
    return fail(
      "stall",
      "NoEndpoint",
      `${field}: no model endpoint: set spec.model.endpoint on Prompt ${ref.name} or ${field}.model.endpoint`,
    );
  }
  const base = prompt.spec.model.parameters ?? {};
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
      promptVersion: live,
      promptHash: hash,
      template: prompt.spec.template,
      variables: prompt.spec.variables ?? [],
      ...(prompt.spec.responseFormat ? { responseFormat: prompt.spec.responseFormat } : {}),
      model: variant.model?.name ?? prompt.spec.model.name,
      endpoint,
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
