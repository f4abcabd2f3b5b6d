/** A path into an object: property names and list indices, from the object's root. */
export type FieldPath = readonly (string | number)[];

const plainKey = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * Formats a path the way the apiserver prints field errors: `spec.variants[1].name`, with keys
 * that are not plain identifiers (label keys, say) in brackets: `metadata.labels[app/name]`.
 * The object itself is "".
 */
export function formatFieldPath(path: FieldPath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") {
      out += `[${String(segment)}]`;
    } else if (plainKey.test(segment)) {
      out += out === "" ? segment : `.${segment}`;
    } else {
      out += `[${segment}]`;
    }
  }
  return out;
}

/**
 * Parses the `fieldPath` of an x-kubernetes-validations rule (`.spec.foo`, `.foo['bar']`,
 * `.list[2]`) into segments, relative to the node that carries the rule.
 */
export function parseRuleFieldPath(fieldPath: string): FieldPath {
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]/gy;
  let match: RegExpExecArray | null;
  while ((match = re.exec(fieldPath)) !== null) {
    const [, name, quoted, index] = match;
    if (name !== undefined) out.push(name);
    else if (quoted !== undefined) out.push(quoted.replace(/\\(.)/g, "$1"));
    else if (index !== undefined) out.push(Number(index));
    if (re.lastIndex === fieldPath.length) break;
  }
  return out;
}

/** Severity of a finding: errors make `llmops validate` fail, warnings and notes do not. */
export type Severity = "error" | "warning" | "note";

/** One finding about one object, located by field path (the YAML layer turns it into file:line). */
export interface FieldProblem {
  severity: Severity;
  path: FieldPath;
  message: string;
  /** What found it: `schema` (openAPIV3Schema), `cel` (a CEL rule), `metadata`, `manifest`… */
  source: "schema" | "cel" | "metadata" | "manifest" | "reference";
  /** The CEL rule or schema keyword behind the finding, for --output json. */
  rule?: string;
  /**
   * Points at an entry that the finding before it is about (the duplicate name in a list the
   * apiserver reports as a whole). Shown like the finding, not counted again.
   */
  related?: boolean;
}
