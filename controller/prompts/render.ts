// Reading one version of a Prompt the way applications ask for it (the live one, a version number
// or a label) and rendering it with their variables: every declared variable checked against its
// type, a missing or undeclared one named. Pure; the snapshot of a version that is not live is
// read by the caller (snapshots.ts).
import Mustache from "mustache";
import type { Prompt, PromptVariable } from "../api/generated/index.js";
import { isRequired, promptContentHash } from "./content.js";
import type { PromptSnapshotSpec } from "./snapshots.js";

/** Which version a request asks for. */
export type VersionSelector = { version: number } | { label: string } | { live: true };

/** The version a selector picks, or why none. */
export type SelectedVersion =
  | { ok: true; version: number; live: boolean; contentHash: string; labels: string[] }
  | { ok: false; status: 404 | 503; code: string; message: string };

/** The version of `prompt` that `selector` names (from status.history and the live labels). */
export function selectPromptVersion(prompt: Prompt, selector: VersionSelector): SelectedVersion {
  const name = `${prompt.metadata.namespace ?? ""}/${prompt.metadata.name ?? ""}`;
  const live = prompt.status?.version;
  if (live === undefined || prompt.status?.contentHash !== promptContentHash(prompt.spec)) {
    return {
      ok: false,
      status: 503,
      code: "NotVersionedYet",
      message: `Prompt ${name} is being versioned by the controller; retry in a moment`,
    };
  }
  const history = prompt.status.history ?? [];
  const liveLabels = prompt.spec.labels ?? [];
  const entry = (version: number) => history.find((h) => h.version === version);
  const pick = (version: number): SelectedVersion => {
    const isLive = version === live;
    return {
      ok: true,
      version,
      live: isLive,
      contentHash: isLive
        ? (prompt.status?.contentHash ?? "")
        : (entry(version)?.contentHash ?? ""),
      labels: isLive ? [...liveLabels] : [...(entry(version)?.labels ?? [])],
    };
  };
  if ("version" in selector) {
    if (selector.version === live || entry(selector.version) !== undefined) {
      return pick(selector.version);
    }
    return {
      ok: false,
      status: 404,
      code: "VersionNotFound",
      message: `Prompt ${name} has no version ${String(selector.version)}; versions: ${[live, ...history.map((h) => h.version).filter((v) => v !== live)].join(", ")}`,
    };
  }
  if ("label" in selector) {
    if (liveLabels.includes(selector.label)) return pick(live);
    const labelled = history.find((h) => h.labels?.includes(selector.label));
    if (labelled !== undefined) return pick(labelled.version);
    return {
      ok: false,
      status: 404,
      code: "LabelNotFound",
      message: `Prompt ${name} has no version labelled ${selector.label}; its live version ${String(live)} has labels [${liveLabels.join(", ")}]`,
    };
  }
  return pick(live);
}

/** One problem with the variables of a render request. */
export interface VariableProblem {
  /** `variables.<name>`. */
  field: string;
  code: "MissingVariable" | "UndeclaredVariable" | "InvalidVariableType";
  message: string;
}

/** A chat message as rendered. */
export interface RenderedMessage {
  role: "system" | "user" | "assistant";
  content: string;
  name?: string;
}

function typeProblem(variable: PromptVariable, value: unknown): string | undefined {
  const type = variable.type ?? "string";
  switch (type) {
    case "string":
      return typeof value === "string" ? undefined : "must be a string";
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "must be a number";
    case "integer":
      return Number.isInteger(value) ? undefined : "must be a whole number";
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "json":
      return undefined;
  }
}

function text(variable: PromptVariable, value: unknown): string {
  if ((variable.type ?? "string") === "json") return JSON.stringify(value);
  return typeof value === "string" ? value : String(value);
}

/**
 * The messages of `spec` with `variables` filled in (a text template is one user message), or
 * every problem with the variables: undeclared ones, missing required ones, wrong types.
 */
export function renderPrompt(
  spec: PromptSnapshotSpec,
  variables: Readonly<Record<string, unknown>>,
  where: string,
): { ok: true; messages: RenderedMessage[] } | { ok: false; problems: VariableProblem[] } {
  const declared = spec.variables ?? [];
  const names = declared.map((v) => v.name);
  const problems: VariableProblem[] = [];
  for (const name of Object.keys(variables)) {
    if (!names.includes(name)) {
      problems.push({
        field: `variables.${name}`,
        code: "UndeclaredVariable",
        message: `variables.${name}: ${where} does not declare ${name}; declared: ${names.join(", ") || "none"}`,
      });
    }
  }
  const view: Record<string, string> = {};
  for (const v of declared) {
    const field = `variables.${v.name}`;
    if (Object.hasOwn(variables, v.name)) {
      const problem = typeProblem(v, variables[v.name]);
      if (problem !== undefined) {
        problems.push({
          field,
          code: "InvalidVariableType",
          message: `${field} ${problem} (its type is ${v.type ?? "string"} in ${where})`,
        });
      } else view[v.name] = text(v, variables[v.name]);
    } else if (v.default !== undefined) {
      view[v.name] = v.default;
    } else if (isRequired(v)) {
      problems.push({
        field,
        code: "MissingVariable",
        message: `${field} is required by ${where} and was not given`,
      });
    } else {
      view[v.name] = "";
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  // Logic-less and unescaped: prompts are not HTML.
  const render = (t: string): string => Mustache.render(t, view, {}, { escape: (s: string) => s });
  const template = spec.template;
  if (template.text !== undefined) {
    return { ok: true, messages: [{ role: "user", content: render(template.text) }] };
  }
  return {
    ok: true,
    messages: (template.messages ?? []).map((m) => ({
      role: m.role,
      content: render(m.content),
      ...(m.name !== undefined ? { name: m.name } : {}),
    })),
  };
}
