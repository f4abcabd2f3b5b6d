// Evaluates the CRDs' `x-kubernetes-validations` CEL rules offline with @bufbuild/cel, the way the
// apiserver does: on the defaulted object, with `self` typed by the schema (integer fields are CEL
// ints, number fields doubles even when written as 1), with Kubernetes' list and string library
// functions, and with a runtime error counting as a failed rule.
import {
  CelScalar,
  celEnv,
  celMethod,
  isCelError,
  listType,
  parse,
  plan,
  type CelEnv,
  type CelInput,
  type CelList,
  type CelValue,
} from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { propertySchema, type OpenApiSchema, type ValidationRule } from "../schema.js";
import { parseRuleFieldPath, type FieldPath, type FieldProblem } from "./field-path.js";
import { comparedFields, pinpoint } from "./pinpoint.js";
import type { Json } from "./structural.js";

type Comparable = bigint | number | string;

function listValues(list: CelList): CelValue[] {
  return [...(list as Iterable<CelValue>)];
}

function compare(a: Comparable, b: Comparable): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function asComparable(value: CelValue): Comparable {
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "string")
    return value;
  throw new Error(`cannot compare a ${typeof value}`);
}

// Kubernetes' CEL "lists" library (k8s.io/apiserver/pkg/cel/library/lists.go).
const kubernetesListFunctions = [
  celMethod("sum", listType(CelScalar.DYN), [], CelScalar.DYN, function (this: CelList) {
    let total: bigint | number = 0n;
    for (const v of listValues(this)) {
      if (typeof v === "bigint" && typeof total === "bigint") total += v;
      else total = Number(total) + Number(v);
    }
    return total;
  }),
  celMethod("isSorted", listType(CelScalar.DYN), [], CelScalar.BOOL, function (this: CelList) {
    const values = listValues(this).map(asComparable);
    return values.every((v, i) => i === 0 || compare(values[i - 1] as Comparable, v) <= 0);
  }),
  celMethod("min", listType(CelScalar.DYN), [], CelScalar.DYN, function (this: CelList) {
    const values = listValues(this).map(asComparable);
    if (values.length === 0) throw new Error("min called on empty list");
    return values.reduce((a, b) => (compare(a, b) <= 0 ? a : b));
  }),
  celMethod("max", listType(CelScalar.DYN), [], CelScalar.DYN, function (this: CelList) {
    const values = listValues(this).map(asComparable);
    if (values.length === 0) throw new Error("max called on empty list");
    return values.reduce((a, b) => (compare(a, b) >= 0 ? a : b));
  }),
  celMethod(
    "indexOf",
    listType(CelScalar.DYN),
    [CelScalar.DYN],
    CelScalar.INT,
    function (this: CelList, x) {
      return BigInt(listValues(this).findIndex((v) => v === x));
    },
  ),
  celMethod(
    "lastIndexOf",
    listType(CelScalar.DYN),
    [CelScalar.DYN],
    CelScalar.INT,
    function (this: CelList, x) {
      return BigInt(listValues(this).findLastIndex((v) => v === x));
    },
  ),
];

/**
 * Converts a JSON value to the CEL value the apiserver binds for `schema`. Exported for tests.
 * At the resource root, metadata shows only name and generateName, as on the server.
 */
export function toCelValue(
  value: Json,
  schema: OpenApiSchema | undefined,
  isResourceRoot = false,
): CelInput {
  if (value === null) return null;
  if (schema === undefined) return genericCelValue(value);
  if (schema["x-kubernetes-int-or-string"] === true) {
    return typeof value === "number" && Number.isInteger(value)
      ? BigInt(value)
      : genericCelValue(value);
  }
  switch (schema.type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value)
        ? BigInt(value)
        : genericCelValue(value);
    case "number":
      return typeof value === "number" ? value : genericCelValue(value);
    case "array":
      return Array.isArray(value)
        ? value.map((item) => toCelValue(item, schema.items))
        : genericCelValue(value);
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) return genericCelValue(value);
      const out: Record<string, CelInput> = {};
      for (const [key, child] of Object.entries(value)) {
        if (isResourceRoot && key === "metadata") {
          out.metadata = rootMetadata(child);
          continue;
        }
        const childSchema = propertySchema(schema, key);
        if (childSchema === undefined && schema["x-kubernetes-preserve-unknown-fields"] !== true)
          continue;
        setOwn(out, key, toCelValue(child, childSchema));
      }
      return out;
    }
    default:
      return genericCelValue(value);
  }
}

function rootMetadata(metadata: Json): CelInput {
  const out: Record<string, CelInput> = {};
  if (metadata !== null && typeof metadata === "object" && !Array.isArray(metadata)) {
    if (typeof metadata.name === "string") out.name = metadata.name;
    if (typeof metadata.generateName === "string") out.generateName = metadata.generateName;
  }
  return out;
}

/** Values without a schema (under x-kubernetes-preserve-unknown-fields): whole numbers are ints. */
function genericCelValue(value: Json): CelInput {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(genericCelValue);
  const out: Record<string, CelInput> = {};
  for (const [key, child] of Object.entries(value)) setOwn(out, key, genericCelValue(child));
  return out;
}

/** Defines a property even when the key is "__proto__": manifest keys are data, not code. */
function setOwn(target: Record<string, CelInput>, key: string, value: CelInput): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

type Program = (bindings: { self: CelInput }) => CelValue | Error;

interface CompiledRule {
  rule: ValidationRule;
  program: Program | undefined;
  messageProgram: Program | undefined;
  compileError: string | undefined;
}

/** A CEL rule that does not parse: a broken CRD, reported once per rule. */
export class CelRuleCompileError extends Error {
  constructor(
    readonly rule: string,
    options?: ErrorOptions,
  ) {
    super(`CEL rule does not compile: ${rule}`, options);
    this.name = "CelRuleCompileError";
  }
}

/** Evaluates every rule of a resource schema against a (defaulted) object. */
export interface CelRuleChecker {
  check(object: Json, schema: OpenApiSchema): FieldProblem[];
}

/** Creates a checker with its own compiled-rule cache (one per validator, no global state). */
export function createCelRuleChecker(): CelRuleChecker {
  const env: CelEnv = celEnv({
    variables: { self: CelScalar.DYN },
    funcs: [...strings, ...kubernetesListFunctions],
  });
  const compiled = new WeakMap<ValidationRule, CompiledRule>();

  const compileOne = (source: string): Program => {
    const evaluate = plan(env, parse(source)) as (ctx: { self: CelInput }) => CelValue | Error;
    return (bindings) => evaluate(bindings);
  };

  const compile = (rule: ValidationRule): CompiledRule => {
    const cached = compiled.get(rule);
    if (cached !== undefined) return cached;
    let entry: CompiledRule;
    try {
      entry = {
        rule,
        program: compileOne(rule.rule),
        messageProgram:
          rule.messageExpression === undefined ? undefined : compileOne(rule.messageExpression),
        compileError: undefined,
      };
    } catch (err: unknown) {
      entry = {
        rule,
        program: undefined,
        messageProgram: undefined,
        compileError: err instanceof Error ? err.message : String(err),
      };
    }
    compiled.set(rule, entry);
    return entry;
  };

  const evaluateRules = (
    value: Json,
    schema: OpenApiSchema,
    path: FieldPath,
    isResourceRoot: boolean,
    problems: FieldProblem[],
  ): void => {
    const rules = schema["x-kubernetes-validations"];
    if (rules !== undefined && rules.length > 0 && value !== null) {
      const self = toCelValue(value, schema, isResourceRoot);
      for (const rule of rules) {
        const problem = runRule(compile(rule), self, path);
        if (problem === undefined) continue;
        problems.push(problem);
        if (
          problem.rule === rule.rule &&
          !/failed to evaluate|does not compile/.test(problem.message)
        ) {
          const shaped = pinpoint(rule.rule, value, path);
          const entries =
            shaped.length > 0 || rule.fieldPath === undefined
              ? shaped
              : comparedFields(rule.rule, value, path, parseRuleFieldPath(rule.fieldPath));
          for (const p of entries) {
            const message = p.detail === "" ? problem.message : `${problem.message}: ${p.detail}`;
            problems.push({ ...problem, path: p.path, message, related: true });
          }
        }
      }
    }
    if (Array.isArray(value)) {
      if (schema.items === undefined) return;
      const items = schema.items;
      value.forEach((item, i) => {
        evaluateRules(item, items, [...path, i], false, problems);
      });
    } else if (value !== null && typeof value === "object") {
      for (const [key, child] of Object.entries(value)) {
        if (isResourceRoot && (key === "metadata" || key === "apiVersion" || key === "kind"))
          continue;
        const childSchema = propertySchema(schema, key);
        if (childSchema !== undefined)
          evaluateRules(child, childSchema, [...path, key], false, problems);
      }
    }
  };

  return {
    check(object, schema) {
      const problems: FieldProblem[] = [];
      evaluateRules(object, schema, [], true, problems);
      return problems;
    },
  };
}

function runRule(
  compiled: CompiledRule,
  self: CelInput,
  path: FieldPath,
): FieldProblem | undefined {
  const { rule } = compiled;
  const at =
    rule.fieldPath !== undefined
      ? [...path, ...parseRuleFieldPath(rule.fieldPath)]
      : path.length === 0 && /^\s*self\.metadata\.name\b/.test(rule.rule)
        ? // The apiserver rejects a fieldPath into metadata, so a root rule about the name has
          // none; point at the name anyway, which is what the reader has to change.
          ["metadata", "name"]
        : path;
  const problem = (message: string): FieldProblem => ({
    severity: "error",
    path: at,
    message,
    source: "cel",
    rule: rule.rule,
  });
  if (compiled.program === undefined) {
    return problem(
      `the CRD's rule ${JSON.stringify(rule.rule)} does not compile: ${compiled.compileError ?? ""}`,
    );
  }
  const result = compiled.program({ self });
  if (result === true) return undefined;
  if (isCelError(result) || result instanceof Error) {
    return problem(
      `${rule.message ?? "invalid value"} (the rule ${JSON.stringify(rule.rule)} failed to evaluate: ${result.message})`,
    );
  }
  if (result !== false) {
    return problem(
      `the rule ${JSON.stringify(rule.rule)} returned a ${typeof result}, not a boolean`,
    );
  }
  return problem(customMessage(compiled, self) ?? rule.message ?? `failed rule: ${rule.rule}`);
}

function customMessage(compiled: CompiledRule, self: CelInput): string | undefined {
  if (compiled.messageProgram === undefined) return undefined;
  const message = compiled.messageProgram({ self });
  return typeof message === "string" && message.trim() !== "" ? message : undefined;
}
