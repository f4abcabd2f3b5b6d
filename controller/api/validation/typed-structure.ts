// What server-side apply checks before any validation: it converts the applied object into a
// typed value (structured-merge-diff) using the CRD's schema. That conversion rejects wrong
// kinds of values (a string where a number goes), undeclared fields and malformed list-maps,
// everywhere — including `status`, which the apiserver then drops without validating its values.
// For spec the full validation says the same and more; this check matters for status.
import { propertySchema, type OpenApiSchema } from "../schema.js";
import type { FieldPath, FieldProblem } from "./field-path.js";
import type { Json } from "./structural.js";

function kindOf(value: Json): string {
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object" && value !== null) return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function canonical(value: Json | undefined): string {
  return JSON.stringify(value ?? null);
}

/** Problems server-side apply would report converting `value` to the type `schema` describes. */
export function checkTypedStructure(
  value: Json,
  schema: OpenApiSchema | undefined,
  path: FieldPath,
  context: string,
): FieldProblem[] {
  if (value === null || schema === undefined) return [];
  const problem = (at: FieldPath, message: string): FieldProblem => ({
    severity: "error",
    path: at,
    message: `${message} (${context})`,
    source: "schema",
    rule: "server-side apply",
  });
  if (schema["x-kubernetes-int-or-string"] === true) {
    return typeof value === "number" || typeof value === "string"
      ? []
      : [problem(path, `expected a number or a string, not ${kindOf(value)}`)];
  }
  switch (schema.type) {
    case "string":
      return typeof value === "string"
        ? []
        : [problem(path, `expected a string, not ${kindOf(value)}`)];
    case "integer":
    case "number":
      return typeof value === "number"
        ? []
        : [problem(path, `expected a number, not ${kindOf(value)}`)];
    case "boolean":
      return typeof value === "boolean"
        ? []
        : [problem(path, `expected true or false, not ${kindOf(value)}`)];
    case "array":
      return checkList(value, schema, path, context, problem);
    case "object":
      return checkMap(value, schema, path, context, problem);
    default:
      return [];
  }
}

function checkMap(
  value: Json,
  schema: OpenApiSchema,
  path: FieldPath,
  context: string,
  problem: (at: FieldPath, message: string) => FieldProblem,
): FieldProblem[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [problem(path, `expected a mapping, not ${kindOf(value)}`)];
  }
  const out: FieldProblem[] = [];
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  for (const [key, child] of Object.entries(value)) {
    const childSchema = propertySchema(schema, key);
    if (childSchema !== undefined)
      out.push(...checkTypedStructure(child, childSchema, [...path, key], context));
    else if (!preserve && schema.additionalProperties !== true) {
      out.push(problem([...path, key], `unknown field ${JSON.stringify(key)}`));
    }
  }
  return out;
}

function checkList(
  value: Json,
  schema: OpenApiSchema,
  path: FieldPath,
  context: string,
  problem: (at: FieldPath, message: string) => FieldProblem,
): FieldProblem[] {
  if (!Array.isArray(value)) return [problem(path, `expected a list, not ${kindOf(value)}`)];
  const out: FieldProblem[] = [];
  const listType = schema["x-kubernetes-list-type"];
  const keys = schema["x-kubernetes-list-map-keys"] ?? [];
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const at = [...path, i];
    const itemProblems = checkTypedStructure(item, schema.items, at, context);
    out.push(...itemProblems);
    if (itemProblems.length > 0) return;
    let key: string | undefined;
    if (listType === "map" && item !== null && typeof item === "object" && !Array.isArray(item)) {
      if (keys.every((k) => item[k] === undefined)) {
        out.push(problem(at, `list entry lacks its key field ${keys.join(", ")}`));
        return;
      }
      key = canonical(keys.map((k) => item[k] ?? null));
    } else if (listType === "set") {
      key = canonical(item);
    }
    if (key === undefined) return;
    if (seen.has(key)) out.push(problem(at, `duplicate entry ${key}`));
    seen.add(key);
  });
  return out;
}
