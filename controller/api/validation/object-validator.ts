// Validates one object the way `kubectl apply --server-side --validate=strict` gets it validated
// by the apiserver, without a cluster: the kind's CRD from crds/, then the apiserver's steps in
// its order (see structural.ts), ajv for the openAPIV3Schema, list-type invariants, then the CEL
// rules on the defaulted object.
import type { Ajv } from "ajv";
import type { CrdSet, CrdVersion } from "../crds.js";
import { createCelRuleChecker, type CelRuleChecker } from "./cel-rules.js";
import type { FieldProblem } from "./field-path.js";
import { checkListTypes } from "./list-types.js";
import { checkObjectMeta } from "./object-meta.js";
import { compileSchemaCheck, createAjv, type SchemaCheckFunction } from "./schema-validator.js";
import { applyDefaults, pruneUnknownFields, type Json } from "./structural.js";
import { checkTypedStructure } from "./typed-structure.js";

/** What validation made of one object. */
export type ObjectVerdict =
  /** An object of one of the CRDs' kinds, checked. */
  | { kind: "checked"; crd: CrdVersion; problems: FieldProblem[]; defaulted: Json }
  /** An object of some other API (a ConfigMap, a Deployment): not ours to judge. */
  | { kind: "foreign"; apiVersion: string; objectKind: string; problems: FieldProblem[] }
  /** Not an object at all, or one without apiVersion/kind, or an unknown kind in our group. */
  | { kind: "rejected"; problems: FieldProblem[] };

export interface ObjectValidator {
  readonly crds: CrdSet;
  validate(object: unknown): ObjectVerdict;
}

function isMapping(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length] ?? 0;
}

/** The candidate closest to `word` (case-insensitively), if it is close enough to be a typo. */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? best
    : undefined;
}

/** Creates a validator for the kinds in `crds`; compiled schemas and rules are cached in it. */
export function createObjectValidator(crds: CrdSet): ObjectValidator {
  const ajv: Ajv = createAjv();
  const cel: CelRuleChecker = createCelRuleChecker();
  const schemaChecks = new Map<CrdVersion, SchemaCheckFunction>();
  const schemaCheckFor = (crd: CrdVersion): SchemaCheckFunction => {
    let check = schemaChecks.get(crd);
    if (check === undefined) {
      check = compileSchemaCheck(ajv, crd.schema);
      schemaChecks.set(crd, check);
    }
    return check;
  };

  const unknownKind = (apiVersion: string, kind: string): FieldProblem[] => {
    const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
    const sameGroup = crds.versions.filter((v) => v.group === group);
    const kindMatch = sameGroup.find((v) => v.kind === kind);
    if (kindMatch !== undefined) {
      const served = sameGroup.filter((v) => v.kind === kind).map((v) => v.apiVersion);
      return [
        {
          severity: "error",
          path: ["apiVersion"],
          message: `${kind} is not served at ${apiVersion}; use apiVersion: ${served.join(" or ")}`,
          source: "manifest",
        },
      ];
    }
    const suggestion = closestMatch(kind, new Set(sameGroup.map((v) => v.kind)));
    const kinds = [...new Set(sameGroup.map((v) => v.kind))].join(", ");
    return [
      {
        severity: "error",
        path: ["kind"],
        message:
          `${group} has no kind ${JSON.stringify(kind)}` +
          (suggestion === undefined ? "" : `; did you mean ${suggestion}?`) +
          ` (its kinds: ${kinds})`,
        source: "manifest",
      },
    ];
  };

  return {
    crds,
    validate(object) {
      const apiVersion = isMapping(object) ? object.apiVersion : undefined;
      const kind = isMapping(object) ? object.kind : undefined;
      const hasApiVersion = typeof apiVersion === "string" && apiVersion !== "";
      const hasKind = typeof kind === "string" && kind !== "";
      const group =
        hasApiVersion && apiVersion.includes("/")
          ? apiVersion.slice(0, apiVersion.indexOf("/"))
          : "";
      const ours =
        crds.groups.has(group) || (hasKind && crds.versions.some((v) => v.kind === kind));
      if (!ours && !(hasApiVersion && hasKind)) {
        // Other YAML in the tree (Chart.yaml, values.yaml, CI config): not ours to judge.
        return {
          kind: "foreign",
          apiVersion: hasApiVersion ? apiVersion : "",
          objectKind: hasKind ? kind : "",
          problems: [],
        };
      }
      if (!isMapping(object) || !hasApiVersion || !hasKind) {
        const header: FieldProblem[] = [];
        if (!hasApiVersion) {
          header.push({
            severity: "error",
            path: ["apiVersion"],
            message: "required field is missing; set apiVersion, such as llmops.dev/v1alpha1",
            source: "manifest",
          });
        }
        if (!hasKind) {
          header.push({
            severity: "error",
            path: ["kind"],
            message: "required field is missing; set kind, such as Prompt",
            source: "manifest",
          });
        }
        return { kind: "rejected", problems: header };
      }
      const crd = crds.find(apiVersion, kind);
      if (crd === undefined) {
        if (crds.groups.has(group))
          return { kind: "rejected", problems: unknownKind(apiVersion, kind) };
        return { kind: "foreign", apiVersion, objectKind: kind, problems: [] };
      }
      return { kind: "checked", crd, ...validateCustomResource(object, crd) };
    },
  };

  function validateCustomResource(
    original: Record<string, Json>,
    crd: CrdVersion,
  ): { problems: FieldProblem[]; defaulted: Json } {
    const problems: FieldProblem[] = [];
    const object = structuredClone(original);
    if (crd.hasStatusSubresource && Object.hasOwn(object, "status")) {
      // With a status subresource the apiserver drops status on create and apply without
      // validating its values; server-side apply still rejects a status of the wrong shape.
      const shape = checkTypedStructure(
        object.status ?? null,
        crd.schema.properties?.status,
        ["status"],
        "status is dropped on apply, but must still match the status schema",
      );
      if (shape.length > 0) problems.push(...shape);
      else {
        problems.push({
          severity: "note",
          path: ["status"],
          message:
            "status is ignored: the controller writes it, the apiserver drops it from manifests",
          source: "manifest",
        });
      }
      delete object.status;
    }
    problems.push(...checkObjectMeta(object.metadata, { namespaced: crd.namespaced }));
    for (const path of pruneUnknownFields(object, crd.schema)) {
      const key = String(path[path.length - 1]);
      const parentSchema = schemaAt(crd, path.slice(0, -1));
      const known = Object.keys(parentSchema?.properties ?? {});
      const suggestion = closestMatch(key, known);
      problems.push({
        severity: "error",
        path,
        message:
          `unknown field ${JSON.stringify(key)}` +
          (suggestion === undefined
            ? known.length > 0
              ? `; the fields here are ${known.join(", ")}`
              : "; remove it"
            : `; did you mean ${JSON.stringify(suggestion)}?`),
        source: "schema",
        rule: "fieldValidation=Strict",
      });
    }
    applyDefaults(object, crd.schema);
    const schemaResult = schemaCheckFor(crd)(object);
    problems.push(...schemaResult.problems);
    const listProblems = checkListTypes(object, crd.schema);
    problems.push(...listProblems);
    if (!schemaResult.blocking && listProblems.length === 0) {
      // Pointers at related entries are kept only where the manifest writes them: a defaulted
      // field has no line to point at.
      problems.push(
        ...cel
          .check(object, crd.schema)
          .filter((p) => p.related !== true || isWritten(original, p.path)),
      );
    }
    return { problems, defaulted: object };
  }
}

function isWritten(object: Json, path: readonly (string | number)[]): boolean {
  let node: Json | undefined = object;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === "number") node = node[segment];
    else if (isMapping(node) && typeof segment === "string" && Object.hasOwn(node, segment))
      node = node[segment];
    else return false;
  }
  return node !== undefined;
}

function schemaAt(crd: CrdVersion, path: readonly (string | number)[]) {
  let schema: CrdVersion["schema"] | undefined = crd.schema;
  for (const segment of path) {
    if (schema === undefined) return undefined;
    if (typeof segment === "number") schema = schema.items;
    else {
      const props: Record<string, CrdVersion["schema"]> | undefined = schema.properties;
      schema =
        props !== undefined && Object.hasOwn(props, segment)
          ? props[segment]
          : typeof schema.additionalProperties === "object"
            ? schema.additionalProperties
            : undefined;
    }
  }
  return schema;
}
