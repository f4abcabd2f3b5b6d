/**
 * The subset of the apiextensions.k8s.io/v1 JSONSchemaProps that a structural CRD schema uses.
 * Everything that reads crds/ (validation, code generation) walks values of this type.
 */
export interface OpenApiSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  format?: string;
  nullable?: boolean;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  allOf?: OpenApiSchema[];
  anyOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
  not?: OpenApiSchema;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-validations"?: ValidationRule[];
}

/** One CEL rule of `x-kubernetes-validations`. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?:
    "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  optionalOldSelf?: boolean;
}

/** The schema of one property of an object schema, or of its additionalProperties. */
export function propertySchema(schema: OpenApiSchema, key: string): OpenApiSchema | undefined {
  // hasOwn, not `in` or a plain index: a manifest key such as "constructor" must not find
  // Object.prototype members.
  if (schema.properties !== undefined && Object.hasOwn(schema.properties, key)) {
    return schema.properties[key];
  }
  if (typeof schema.additionalProperties === "object") return schema.additionalProperties;
  return undefined;
}
