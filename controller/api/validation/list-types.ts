// x-kubernetes-list-type invariants (k8s.io/apiextensions-apiserver schema/listtype): a `set`
// holds each value once, a `map` holds each key once.
import type { OpenApiSchema } from "../schema.js";
import { propertySchema } from "../schema.js";
import type { FieldPath, FieldProblem } from "./field-path.js";
import type { Json } from "./structural.js";

function canonical(value: Json | undefined): string {
  if (value === undefined) return "undefined";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

/** Finds duplicate entries in set- and map-typed lists anywhere under `value`. */
export function checkListTypes(
  value: Json,
  schema: OpenApiSchema | undefined,
  path: FieldPath = [],
): FieldProblem[] {
  if (schema === undefined) return [];
  const problems: FieldProblem[] = [];
  if (Array.isArray(value)) {
    const listType = schema["x-kubernetes-list-type"];
    if (listType === "set" || listType === "map") {
      const keys = schema["x-kubernetes-list-map-keys"] ?? [];
      const seen = new Map<string, number>();
      value.forEach((item, i) => {
        let key: string;
        if (listType === "set") key = canonical(item);
        else {
          const entry =
            item !== null && typeof item === "object" && !Array.isArray(item) ? item : {};
          key = canonical(keys.map((k) => entry[k]) as Json);
        }
        const first = seen.get(key);
        if (first === undefined) seen.set(key, i);
        else {
          const what =
            listType === "set"
              ? `duplicate value ${canonical(item)}`
              : `duplicate entry for ${keys.map((k, n) => `${k}=${canonical((JSON.parse(key) as Json[])[n])}`).join(", ")}`;
          problems.push({
            severity: "error",
            path: [...path, i],
            message: `${what} (already at index ${String(first)}); list each ${listType === "set" ? "value" : "key"} once`,
            source: "schema",
            rule: `x-kubernetes-list-type: ${listType}`,
          });
        }
      });
    }
    value.forEach((item, i) => problems.push(...checkListTypes(item, schema.items, [...path, i])));
  } else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      problems.push(...checkListTypes(child, propertySchema(schema, key), [...path, key]));
    }
  }
  return problems;
}
