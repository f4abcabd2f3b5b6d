// Field-level differences between two objects, for `llmops diff`. Pure.
import { formatFieldPath } from "../api/validation/field-path.js";
import { deepEqual } from "../runtime/conditions.js";
import { pathAnnotation, revisionAnnotation } from "../api/well-known.js";

export interface FieldChange {
  /** `spec.template.messages[0].content` */
  path: string;
  op: "add" | "remove" | "change";
  from?: unknown;
  to?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every leaf that differs between `before` and `after` (arrays compared by index). */
export function fieldChanges(before: unknown, after: unknown): FieldChange[] {
  const out: FieldChange[] = [];
  const walk = (a: unknown, b: unknown, path: (string | number)[]): void => {
    if (deepEqual(a, b)) return;
    if (a === undefined) {
      out.push({ path: formatFieldPath(path), op: "add", to: b });
      return;
    }
    if (b === undefined) {
      out.push({ path: formatFieldPath(path), op: "remove", from: a });
      return;
    }
    if (isRecord(a) && isRecord(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      for (const k of keys) walk(a[k], b[k], [...path, k]);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...path, i]);
      return;
    }
    out.push({ path: formatFieldPath(path), op: "change", from: a, to: b });
  };
  walk(before, after, []);
  return out;
}

/**
 * What `llmops diff` compares: the object without server bookkeeping (resourceVersion,
 * managedFields, …), without status, and without gitsync's per-commit annotations (revision,
 * path), which change on every commit without changing what the object does.
 */
export function comparable(obj: Record<string, unknown>): Record<string, unknown> {
  const { status: _status, metadata, ...rest } = obj;
  if (!isRecord(metadata)) return rest;
  const {
    managedFields: _mf,
    resourceVersion: _rv,
    generation: _g,
    uid: _uid,
    creationTimestamp: _ct,
    annotations,
    ...meta
  } = metadata;
  const kept = isRecord(annotations)
    ? Object.fromEntries(
        Object.entries(annotations).filter(
          ([k]) => k !== revisionAnnotation && k !== pathAnnotation,
        ),
      )
    : undefined;
  return {
    ...rest,
    metadata:
      kept === undefined || Object.keys(kept).length === 0 ? meta : { ...meta, annotations: kept },
  };
}
