// Mustache placeholders in a Prompt's template, and whether spec.variables declares them. The
// apiserver cannot check this (CEL has no mustache parser), so `llmops validate` reports it as a
// warning rather than an error: its verdict stays the apiserver's.
import type { FieldPath } from "./validation/field-path.js";

/** A top-level placeholder: `{{name}}`, `{{{name}}}`, `{{& name}}`, or a section `{{#name}}`. */
export interface Placeholder {
  name: string;
  /** Position in the text, for error messages. */
  index: number;
}

const tagRe = /\{\{(\{?)\s*([#^/&!>=]?)\s*([^}]*?)\s*\}?\}\}/g;

/**
 * The variables a template refers to outside of sections. Names inside `{{#items}}…{{/items}}`
 * may be fields of the list items, so only the section name itself counts there.
 */
export function templatePlaceholders(text: string): Placeholder[] {
  const out: Placeholder[] = [];
  let depth = 0;
  for (const match of text.matchAll(tagRe)) {
    const sigil = match[2] ?? "";
    const name = (match[3] ?? "").trim();
    if (sigil === "!" || sigil === ">" || sigil === "=") continue;
    if (sigil === "/") {
      depth = Math.max(0, depth - 1);
      continue;
    }
    const root = name.split(".")[0] ?? "";
    if (depth === 0 && root !== "") out.push({ name: root, index: match.index });
    if (sigil === "#" || sigil === "^") depth++;
  }
  return out;
}

/** A placeholder that spec.variables does not declare. */
export interface UndeclaredPlaceholder {
  path: FieldPath;
  name: string;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Placeholders of a Prompt object's template that spec.variables does not declare. */
export function undeclaredPlaceholders(prompt: unknown): UndeclaredPlaceholder[] {
  const spec = asRecord(asRecord(prompt)?.spec);
  const template = asRecord(spec?.template);
  if (spec === undefined || template === undefined) return [];
  const declared = new Set(
    (Array.isArray(spec.variables) ? spec.variables : [])
      .map((v) => asRecord(v)?.name)
      .filter((n): n is string => typeof n === "string"),
  );
  const texts: { path: FieldPath; text: string }[] = [];
  if (typeof template.text === "string")
    texts.push({ path: ["spec", "template", "text"], text: template.text });
  if (Array.isArray(template.messages)) {
    template.messages.forEach((m, i) => {
      const content = asRecord(m)?.content;
      if (typeof content === "string") {
        texts.push({ path: ["spec", "template", "messages", i, "content"], text: content });
      }
    });
  }
  const out: UndeclaredPlaceholder[] = [];
  for (const { path, text } of texts) {
    const seen = new Set<string>();
    for (const p of templatePlaceholders(text)) {
      if (!declared.has(p.name) && !seen.has(p.name)) {
        seen.add(p.name);
        out.push({ path, name: p.name });
      }
    }
  }
  return out;
}
