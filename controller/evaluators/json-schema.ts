// jsonSchema: the output parses as JSON and validates against a schema (ajv, compiled once).
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import {
  EvaluatorConfigError,
  verdict,
  type EvaluationInput,
  type EvaluationResult,
} from "./types.js";

/**
 * Compiles `schema` with formats; draft 2020-12 unless its `$schema` names draft-07 or draft-06.
 * An invalid schema is a spec error.
 */
export function compileJsonSchema(schema: Record<string, unknown>): ValidateFunction {
  const declared = typeof schema["$schema"] === "string" ? schema["$schema"] : "";
  const options = { allErrors: true, strict: false };
  const ajv = /draft-0[67]/.test(declared) ? new Ajv(options) : new Ajv2020(options);
  addFormats.default(ajv);
  try {
    return ajv.compile(schema);
  } catch (error) {
    throw new EvaluatorConfigError(
      `jsonSchema: the schema does not compile: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Passes when the whole output is JSON that satisfies the schema. */
export function jsonSchemaValid(
  input: EvaluationInput,
  options: { validate: ValidateFunction },
): EvaluationResult {
  if (input.output === null) return verdict(false, { reason: "no output" });
  let value: unknown;
  try {
    value = JSON.parse(input.output);
  } catch (error) {
    return verdict(false, {
      reason: `not JSON: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
  const valid = options.validate(value);
  if (valid) return verdict(true);
  const errors = (options.validate.errors ?? [])
    .slice(0, 10)
    .map((e) => `${e.instancePath === "" ? "/" : e.instancePath} ${e.message ?? "is invalid"}`);
  return verdict(false, { errors });
}
