// The apiserver's structural-schema passes over a custom resource, done in the same order as the
// apiserver (k8s.io/apiextensions-apiserver schema/pruning and schema/defaulting): report and drop
// unknown fields, drop non-nullable nulls that have no default, then apply defaults. Validation
// (ajv, then CEL) runs on the result, because that is the object the server validates.
import { propertySchema, type OpenApiSchema } from "../schema.js";
import type { FieldPath } from "./field-path.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The fields of the root of a resource that the resource's schema does not describe. */
const resourceRootFields = new Set(["apiVersion", "kind", "metadata"]);

/**
 * Removes the fields `schema` does not declare and returns their paths. With server-side field
 * validation set to Strict (what `kubectl apply --validate=strict` asks for) these are errors.
 */
export function pruneUnknownFields(root: Record<string, Json>, schema: OpenApiSchema): FieldPath[] {
  const unknown: FieldPath[] = [];
  pruneObject(root, schema, [], { isResourceRoot: true, unknown });
  return unknown;
}

interface PruneState {
  isResourceRoot: boolean;
  unknown: FieldPath[];
}

function pruneValue(
  value: Json,
  schema: OpenApiSchema | undefined,
  path: FieldPath,
  state: PruneState,
): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      pruneValue(item, schema.items, [...path, i], state);
    });
  } else if (isObject(value)) {
    pruneObject(value, schema, path, { isResourceRoot: false, unknown: state.unknown });
  }
}

function pruneObject(
  value: Record<string, Json>,
  schema: OpenApiSchema,
  path: FieldPath,
  state: PruneState,
): void {
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  const embedded = schema["x-kubernetes-embedded-resource"] === true;
  for (const key of Object.keys(value)) {
    const child = value[key] as Json;
    if ((state.isResourceRoot || embedded) && resourceRootFields.has(key)) {
      // apiVersion, kind and metadata are checked by the ObjectMeta rules, not the schema.
      continue;
    }
    const childSchema = propertySchema(schema, key);
    if (childSchema !== undefined) {
      pruneValue(child, childSchema, [...path, key], state);
    } else if (schema.additionalProperties === true || preserve) {
      // Kept as it is, and not looked into: nothing describes it.
    } else {
      state.unknown.push([...path, key]);
      // The apiserver prunes it; so does the copy that is validated next.
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
      delete value[key];
    }
  }
}

function isNonNullableNull(value: Json | undefined, schema: OpenApiSchema | undefined): boolean {
  return value === null && schema !== undefined && schema.nullable !== true;
}

/**
 * Drops nulls that the schema does not allow and that no default replaces, as the apiserver does
 * on decode: `description: ~` (or a bare `description:`) is as if the field were not written.
 */
export function pruneNonNullableNullsWithoutDefaults(
  value: Json,
  schema: OpenApiSchema | undefined,
): void {
  if (Array.isArray(value)) {
    for (const item of value) pruneNonNullableNullsWithoutDefaults(item, schema?.items);
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) {
      const childSchema = schema === undefined ? undefined : propertySchema(schema, key);
      const child = value[key] as Json;
      if (isNonNullableNull(child, childSchema) && childSchema?.default === undefined) {
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
        delete value[key];
      } else {
        pruneNonNullableNullsWithoutDefaults(child, childSchema);
      }
    }
  }
}

/** Applies schema defaults to missing fields (and to non-nullable nulls), top-down. */
export function applyDefaults(value: Json, schema: OpenApiSchema | undefined): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    value.forEach((item, i) => {
      if (isNonNullableNull(item, items) && items?.default !== undefined) {
        value[i] = structuredClone(items.default) as Json;
      }
      applyDefaults(value[i] as Json, items);
    });
    return;
  }
  if (!isObject(value)) return;
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.default === undefined) continue;
    if (!Object.hasOwn(value, key) || isNonNullableNull(value[key], prop)) {
      value[key] = structuredClone(prop.default) as Json;
    }
  }
  for (const key of Object.keys(value)) {
    const childSchema = propertySchema(schema, key);
    if (childSchema === undefined) continue;
    if (
      !Object.hasOwn(schema.properties ?? {}, key) &&
      isNonNullableNull(value[key], childSchema)
    ) {
      if (childSchema.default !== undefined)
        value[key] = structuredClone(childSchema.default) as Json;
    }
    applyDefaults(value[key] as Json, childSchema);
  }
}

export type { Json };
