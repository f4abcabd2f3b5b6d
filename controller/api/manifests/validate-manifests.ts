// Validates a set of manifest files together: each object on its own (what the apiserver would
// say), then what only the whole set can tell: duplicates across files, and references to objects
// that none of the files define.
import { undeclaredPlaceholders } from "../prompt-placeholders.js";
import { listReferences } from "../references.js";
import { formatFieldPath, type FieldProblem, type Severity } from "../validation/field-path.js";
import type { ObjectValidator } from "../validation/object-validator.js";
import { parseManifestSource, type ManifestObject, type SourcePosition } from "./yaml-source.js";

/** A file to validate: its path as it should be reported, and its text. */
export interface ManifestInput {
  file: string;
  text: string;
}

/** Which object a finding is about, as far as the manifest says. */
export interface ObjectIdentity {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
}

/** One finding, located in a file. */
export interface ManifestProblem {
  severity: Severity;
  file: string;
  line: number;
  col: number;
  /** Formatted field path (`spec.variants[1].name`), or "" for findings about the file itself. */
  path: string;
  message: string;
  source: FieldProblem["source"] | "yaml" | "duplicate";
  rule?: string;
  /** Points at an entry the previous error is about; not counted as another error. */
  related?: boolean;
  object?: ObjectIdentity;
}

/** A finding about one object, before it is located in its file. */
type Finding = Omit<FieldProblem, "source"> & { source: ManifestProblem["source"] };

/** What became of one object. */
export interface ManifestObjectResult {
  file: string;
  line: number;
  col: number;
  object: ObjectIdentity;
  /**
   * checked: one of our kinds (valid tells whether the apiserver would accept it on its own);
   * rejected: not a usable object (no kind, unknown kind in our group); foreign: another API's.
   */
  status: "checked" | "rejected" | "foreign";
  valid: boolean;
}

export interface ManifestReport {
  files: number;
  objects: ManifestObjectResult[];
  problems: ManifestProblem[];
  errors: number;
  warnings: number;
  /** No errors anywhere: every object valid, no duplicates, every file readable. */
  valid: boolean;
}

function identityOf(value: unknown): ObjectIdentity {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const meta = (typeof v.metadata === "object" && v.metadata !== null ? v.metadata : {}) as Record<
    string,
    unknown
  >;
  const out: ObjectIdentity = {};
  if (typeof v.apiVersion === "string") out.apiVersion = v.apiVersion;
  if (typeof v.kind === "string") out.kind = v.kind;
  if (typeof meta.namespace === "string" && meta.namespace !== "") out.namespace = meta.namespace;
  if (typeof meta.name === "string") out.name = meta.name;
  return out;
}

function describe(identity: ObjectIdentity): string {
  return `${identity.kind ?? "object"} ${JSON.stringify(identity.name ?? "")}`;
}

function groupOf(apiVersion: string | undefined): string {
  if (apiVersion === undefined || !apiVersion.includes("/")) return "";
  return apiVersion.slice(0, apiVersion.indexOf("/"));
}

/**
 * Objects without metadata.namespace land in whatever namespace they are applied to; they are
 * compared with each other, not with objects that name a namespace.
 */
function namespaceKey(identity: ObjectIdentity): string {
  return identity.namespace ?? "";
}

/** Validates every object in `inputs`, and the set as a whole. */
export function validateManifests(
  inputs: readonly ManifestInput[],
  validator: ObjectValidator,
): ManifestReport {
  const problems: ManifestProblem[] = [];
  const objects: ManifestObjectResult[] = [];
  const defined = new Map<string, { object: ManifestObject; identity: ObjectIdentity }>();
  const checked: { object: ManifestObject; identity: ObjectIdentity }[] = [];

  const push = (object: ManifestObject, identity: ObjectIdentity, problem: Finding) => {
    const pos: SourcePosition = object.locate(problem.path);
    const entry: ManifestProblem = {
      severity: problem.severity,
      file: object.file,
      line: pos.line,
      col: pos.col,
      path: formatFieldPath([...object.basePath, ...problem.path]),
      message: problem.message,
      source: problem.source,
      object: identity,
    };
    if (problem.rule !== undefined) entry.rule = problem.rule;
    if (problem.related === true) entry.related = true;
    problems.push(entry);
  };

  for (const input of inputs) {
    const parsed = parseManifestSource(input.file, input.text);
    for (const e of parsed.errors) {
      problems.push({
        severity: e.severity,
        file: e.file,
        line: e.position.line,
        col: e.position.col,
        path: "",
        message: e.message,
        source: "yaml",
      });
    }
    for (const object of parsed.objects) {
      const identity = identityOf(object.value);
      const verdict = validator.validate(object.value);
      const result: ManifestObjectResult = {
        file: object.file,
        line: object.position.line,
        col: object.position.col,
        object: identity,
        status: verdict.kind,
        valid: !verdict.problems.some((p) => p.severity === "error"),
      };
      objects.push(result);
      for (const p of verdict.problems) push(object, identity, p);
      if (verdict.kind === "foreign") {
        push(object, identity, {
          severity: "note",
          path: [],
          message:
            verdict.apiVersion === "" || verdict.objectKind === ""
              ? "not a Kubernetes object (it lacks apiVersion or kind); skipped"
              : `${verdict.apiVersion} ${describe(identity)} is not an llmops object; skipped`,
          source: "manifest",
        });
        continue;
      }
      if (verdict.kind !== "checked") continue;
      checked.push({ object, identity });
      if (identity.name !== undefined) {
        const key = `${groupOf(identity.apiVersion)}/${identity.kind ?? ""}/${namespaceKey(identity)}/${identity.name}`;
        const first = defined.get(key);
        if (first === undefined) defined.set(key, { object, identity });
        else {
          const where = `${first.object.file}:${String(first.object.position.line)}`;
          push(object, identity, {
            severity: "error",
            path: ["metadata", "name"],
            message:
              `${describe(identity)}${identity.namespace === undefined ? "" : ` in namespace ${identity.namespace}`} ` +
              `is already defined at ${where}; each kind/namespace/name may be defined once, so rename or remove one`,
            source: "duplicate",
          });
        }
      }
      if (identity.kind === "Prompt") {
        for (const u of undeclaredPlaceholders(object.value)) {
          push(object, identity, {
            severity: "warning",
            path: u.path,
            message: `uses {{${u.name}}}, which is not declared in spec.variables; declare it or remove the placeholder`,
            source: "manifest",
          });
        }
      }
    }
  }

  // References are checked once every file is read: the target may come later in the set.
  for (const { object, identity } of checked) {
    const warned = new Set<string>();
    for (const ref of listReferences(identity.kind ?? "", object.value)) {
      const key = `${groupOf(identity.apiVersion)}/${ref.kind}/${namespaceKey(identity)}/${ref.name}`;
      // One warning per missing object, at its first mention.
      if (!defined.has(key) && !warned.has(key)) {
        warned.add(key);
        push(object, identity, {
          severity: "warning",
          path: ref.path,
          message:
            `refers to ${ref.kind} ${JSON.stringify(ref.name)}, which none of the validated files define; ` +
            `it must already exist in the cluster, or add its manifest`,
          source: "reference",
        });
      }
    }
  }

  problems.sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.col - b.col ||
      a.path.localeCompare(b.path),
  );
  const errors = problems.filter((p) => p.severity === "error" && p.related !== true).length;
  const warnings = problems.filter((p) => p.severity === "warning").length;
  return { files: inputs.length, objects, problems, errors, warnings, valid: errors === 0 };
}
