// The apiserver's structural-schema passes over a custom resource, in the apiserver's order
// (k8s.io/apiextensions-apiserver schema/pruning and schema/defaulting): report and drop unknown
// fields, then apply defaults. Validation (ajv, then CEL) runs on the result, because that is the
// object the server validates.
//
// We follow server-side apply, which is how GitOps tools and our controller write: a null in a
// field that is not nullable is replaced by the field's default when it has one, and is otherwise
// an error. (Create and client-side apply would silently drop such a null instead; checked
// against kube-apiserver 1.34 with `kubectl apply --server-side --dry-run=server`.)
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
