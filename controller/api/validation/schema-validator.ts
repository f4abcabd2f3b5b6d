// openAPIV3Schema → JSON Schema for ajv, and ajv's findings → field problems that say what is
// wrong and how to fix it. Only value validation happens here: unknown fields, nulls and defaults
// are handled first (structural.ts), CEL rules after (cel-rules.ts), as in the apiserver.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { OpenApiSchema } from "../schema.js";
import type { FieldPath, FieldProblem } from "./field-path.js";
import { kubernetesStringFormats } from "./formats.js";
import type { Json } from "./structural.js";

type JsonSchema = Record<string, unknown>;

/** Keywords of the Kubernetes dialect that are not JSON Schema; handled elsewhere. */
const kubernetesKeywords = new Set([
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
  "nullable",
  "default",
  "format",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "properties",
  "additionalProperties",
  "items",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
  // Documentation-only keywords of JSONSchemaProps that ajv does not know.
  "example",
  "externalDocs",
]);

/**
 * Translates one structural schema node. Differences from JSON Schema that matter:
 * OpenAPI's boolean exclusiveMinimum/Maximum, `nullable`, int-or-string, and formats (only the
 * ones the apiserver checks, with its semantics). Unknown fields are not flagged here: the
 * structural pass has already reported and removed them.
 */
export function toJsonSchema(
  schema: OpenApiSchema,
  options: { isResourceRoot?: boolean } = {},
): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!kubernetesKeywords.has(key)) out[key] = value;
  }
  if (schema["x-kubernetes-int-or-string"] === true && schema.type === undefined) {
    out.type = ["integer", "string"];
  }
  if (schema.minimum !== undefined && schema.exclusiveMinimum === true) {
    delete out.minimum;
    out.exclusiveMinimum = schema.minimum;
  }
  if (schema.maximum !== undefined && schema.exclusiveMaximum === true) {
    delete out.maximum;
    out.exclusiveMaximum = schema.maximum;
  }
  if (schema.format !== undefined && Object.hasOwn(kubernetesStringFormats, schema.format)) {
    out.format = schema.format;
  }
  if (schema.properties !== undefined) {
    const props: Record<string, JsonSchema> = {};
    for (const [name, prop] of Object.entries(schema.properties)) {
      // The resource root's metadata is checked by the ObjectMeta rules (object-meta.ts).
      if (options.isResourceRoot === true && name === "metadata") continue;
      props[name] = toJsonSchema(prop);
    }
    out.properties = props;
  }
  if (typeof schema.additionalProperties === "object") {
    out.additionalProperties = toJsonSchema(schema.additionalProperties);
  }
  if (schema.items !== undefined) out.items = toJsonSchema(schema.items);
  for (const key of ["allOf", "anyOf", "oneOf"] as const) {
    const list = schema[key];
    if (list !== undefined) out[key] = list.map((s) => toJsonSchema(s));
  }
  if (schema.not !== undefined) out.not = toJsonSchema(schema.not);
  if (schema.nullable === true) {
    // null short-circuits every other check, as in kube-openapi's validator.
    return { if: { type: "null" }, then: true, else: out };
  }
  return out;
}

/** Shared ajv instance with the apiserver's string formats; create one per validator. */
export function createAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: true,
    strictRequired: false,
    // Structural schemas put value checks next to int-or-string and nullable; that is fine.
    strictTypes: false,
    allowUnionTypes: true,
    verbose: true,
    // Go's regexp (RE2) and JavaScript's `u`-flag RegExp agree on the patterns CRDs use.
    unicodeRegExp: true,
  });
  for (const [name, check] of Object.entries(kubernetesStringFormats)) {
    ajv.addFormat(name, { type: "string", validate: check });
  }
  return ajv;
}

export interface SchemaCheck {
  problems: FieldProblem[];
  /**
   * Whether a type or enum error was found. The apiserver skips CEL rules then ("some validation
   * rules were not checked because the object was invalid"), because they would see ill-typed
   * data; so do we.
   */
  blocking: boolean;
}

export type SchemaCheckFunction = (value: Json) => SchemaCheck;

/** Compiles the resource's openAPIV3Schema into a check of values against it. */
export function compileSchemaCheck(ajv: Ajv, schema: OpenApiSchema): SchemaCheckFunction {
  const validate: ValidateFunction = ajv.compile(toJsonSchema(schema, { isResourceRoot: true }));
  return (value) => {
    if (validate(value)) return { problems: [], blocking: false };
    const errors = (validate.errors ?? []).filter((e) => !isNoiseError(e));
    return {
      problems: errors.map((e) => describeAjvError(e, value)),
      blocking: errors.some((e) => e.keyword === "type" || e.keyword === "enum"),
    };
  };
}

/** Errors that only restate another error (the `if` around a nullable node). */
function isNoiseError(error: ErrorObject): boolean {
  return error.keyword === "if";
}

/** Turns a JSON Pointer into path segments, with numbers where the value is a list. */
export function pointerToPath(pointer: string, root: Json): FieldPath {
  if (pointer === "") return [];
  const out: (string | number)[] = [];
  let node: Json | undefined = root;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node)) {
      const index = Number(key);
      out.push(index);
      node = node[index];
    } else {
      out.push(key);
      node =
        node !== null && typeof node === "object" && Object.hasOwn(node, key)
          ? node[key]
          : undefined;
    }
  }
  return out;
}

/** Length as the apiserver counts it: in Unicode code points (Go runes), not UTF-16 units. */
function codePoints(value: unknown): number {
  return typeof value === "string" ? Array.from(value).length : 0;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return `the number ${String(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

const typeWords: Record<string, string> = {
  string: "a string",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  object: "a mapping (key: value pairs)",
  array: "a list",
  null: "null",
};

function typeHint(expected: string[], data: unknown): string {
  if (typeof data === "string") {
    if (expected.includes("integer") && /^-?\d+$/.test(data)) return "; remove the quotes";
    if (expected.includes("number") && /^-?\d+(\.\d+)?$/.test(data)) return "; remove the quotes";
    if (expected.includes("boolean") && /^(true|false)$/i.test(data)) return "; remove the quotes";
  }
  if (expected.includes("string") && (typeof data === "number" || typeof data === "boolean")) {
    return `; quote it ("${String(data)}")`;
  }
  if (expected.includes("integer") && typeof data === "number") return "; drop the fraction";
  if (data === null)
    return "; a key with nothing after the colon is null in YAML: give it a value or remove the line";
  return "";
}

function fieldHint(schema: unknown): string {
  const description = (schema as { description?: unknown } | undefined)?.description;
  return typeof description === "string" ? ` (${firstSentence(description)})` : "";
}

function firstSentence(text: string): string {
  const end = text.search(/\.(\s|$)/);
  return end < 0 ? text : text.slice(0, end);
}

function describeAjvError(error: ErrorObject, root: Json): FieldProblem {
  const path = pointerToPath(error.instancePath, root);
  const data: unknown = error.data;
  const params = error.params as Record<string, unknown>;
  const problem = (message: string, at: FieldPath = path): FieldProblem => ({
    severity: "error",
    path: at,
    message,
    source: "schema",
    rule: error.keyword,
  });
  switch (error.keyword) {
    case "type": {
      const expected = ([] as unknown[]).concat(params.type).map(String);
      const words = expected.map((t) => typeWords[t] ?? t).join(" or ");
      return problem(`must be ${words}, not ${describeValue(data)}${typeHint(expected, data)}`);
    }
    case "required": {
      const missing = String(params.missingProperty);
      const parent = error.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const hint = fieldHint(parent?.properties?.[missing]);
      return problem(`required field is missing; add it${hint}`, [...path, missing]);
    }
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map((v) => String(v)).join(", ");
      return problem(`unsupported value ${JSON.stringify(data)}; use one of: ${allowed}`);
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum": {
      const comparison = String(params.comparison);
      const word = { ">=": "at least", "<=": "at most", ">": "greater than", "<": "less than" }[
        comparison
      ];
      return problem(`must be ${word ?? comparison} ${String(params.limit)}, not ${String(data)}`);
    }
    case "minLength":
      return Number(params.limit) === 1
        ? problem(`must not be empty${fieldHint(error.parentSchema)}`)
        : problem(`must be at least ${String(params.limit)} characters long`);
    case "maxLength":
      return problem(
        `must be at most ${String(params.limit)} characters long (it has ${String(codePoints(data))})`,
      );
    case "pattern":
      return problem(
        `${JSON.stringify(data)} is not valid here: it must match ${String(params.pattern)}${fieldHint(error.parentSchema)}`,
      );
    case "format":
      return problem(`${JSON.stringify(data)} is not a valid ${String(params.format)}`);
    case "minItems":
      return problem(
        `needs at least ${String(params.limit)} item${Number(params.limit) === 1 ? "" : "s"}`,
      );
    case "maxItems":
      return problem(
        `may have at most ${String(params.limit)} items (it has ${String(Array.isArray(data) ? data.length : "?")})`,
      );
    case "minProperties":
      return problem(`needs at least ${String(params.limit)} entries`);
    case "maxProperties":
      return problem(`may have at most ${String(params.limit)} entries`);
    case "uniqueItems":
      return problem(
        `items ${String(params.j)} and ${String(params.i)} are identical; list each value once`,
      );
    case "multipleOf":
      return problem(`must be a multiple of ${String(params.multipleOf)}`);
    default:
      return problem(error.message ?? `fails ${error.keyword}`);
  }
}
