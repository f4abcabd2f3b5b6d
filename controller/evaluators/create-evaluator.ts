// From an evaluator spec to a ready Evaluator. Everything that can be checked without data is
// checked here (regex compiles, schema compiles, scale is sane), so a broken spec fails once, up
// front, with the evaluator's name, instead of once per item.
import type { ChatModelClient } from "../backends/llm/types.js";
import type { Clock } from "../runtime/clock.js";
import { compileJsonSchema, jsonSchemaValid } from "./json-schema.js";
import { llmJudge, validateJudgeOptions, type LlmJudgeOptions } from "./llm-judge.js";
import { numericTolerance, type NumberExtraction } from "./numeric.js";
import { compileRegex, contains, exactMatch, regexMatch, type NormalizeOptions } from "./text.js";
import { costWithin, latencyWithin } from "./thresholds.js";
import { EvaluatorConfigError, type Evaluator, type EvaluationResult } from "./types.js";
import { validateWebhookOptions, webhookEvaluate } from "./webhook.js";

/** One evaluator as configured in an Experiment (the reconciler maps the CRD fields onto this). */
export type EvaluatorSpec =
  | {
      name: string;
      type: "exactMatch";
      value?: string;
      normalize?: NormalizeOptions;
      /** JSON Pointer: compare only this field of a JSON answer. */
      field?: string;
    }
  | {
      name: string;
      type: "contains";
      values?: string[];
      mode?: "all" | "any";
      normalize?: NormalizeOptions;
    }
  | { name: string; type: "regex"; pattern: string; flags?: string; mustMatch?: boolean }
  | { name: string; type: "jsonSchema"; schema: Record<string, unknown> }
  | {
      name: string;
      type: "numeric";
      absoluteTolerance?: number;
      relativeTolerance?: number;
      extraction?: NumberExtraction;
      value?: number;
    }
  | { name: string; type: "latency"; maxMs: number }
  | { name: string; type: "cost"; maxUSD: number }
  | ({ name: string; type: "llmJudge" } & Omit<LlmJudgeOptions, "client">)
  | { name: string; type: "webhook"; url: string; timeoutMs?: number; maxResponseBytes?: number };

/** What some evaluators need from outside: resolved by the reconciler from Secrets and endpoints. */
export interface EvaluatorDependencies {
  /** Client for the judge model's endpoint (llmJudge). */
  judgeClient?: ChatModelClient;
  /** HMAC key for the webhook evaluator. */
  webhookSecret?: string;
  fetch?: typeof fetch;
  clock?: Clock;
}

function sync(
  name: string,
  kind: string,
  fn: (input: Parameters<Evaluator["evaluate"]>[0]) => EvaluationResult,
): Evaluator {
  return { name, kind, evaluate: (input) => Promise.resolve(fn(input)) };
}

function nonNegative(spec: EvaluatorSpec, field: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new EvaluatorConfigError(
      `evaluators[${spec.name}].${field} must be a non-negative number, got ${String(value)}`,
    );
  }
}

/** Builds an evaluator; throws EvaluatorConfigError naming the evaluator when the spec cannot work. */
export function createEvaluator(spec: EvaluatorSpec, deps: EvaluatorDependencies = {}): Evaluator {
  const where = `evaluators[${spec.name}]`;
  const wrap = <T>(build: () => T): T => {
    try {
      return build();
    } catch (error) {
      if (error instanceof EvaluatorConfigError) {
        throw new EvaluatorConfigError(`${where}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  };
  switch (spec.type) {
    case "exactMatch":
      return sync(spec.name, spec.type, (input) =>
        exactMatch(input, {
          ...(spec.value !== undefined ? { value: spec.value } : {}),
          ...(spec.normalize !== undefined ? { normalize: spec.normalize } : {}),
          ...(spec.field !== undefined ? { field: spec.field } : {}),
        }),
      );
    case "contains":
      return sync(spec.name, spec.type, (input) => contains(input, spec));
    case "regex": {
      const regex = wrap(() => compileRegex(spec.pattern, spec.flags));
      return sync(spec.name, spec.type, (input) =>
        regexMatch(input, {
          regex,
          ...(spec.mustMatch !== undefined ? { mustMatch: spec.mustMatch } : {}),
        }),
      );
    }
    case "jsonSchema": {
      const validate = wrap(() => compileJsonSchema(spec.schema));
      return sync(spec.name, spec.type, (input) => jsonSchemaValid(input, { validate }));
    }
    case "numeric":
      nonNegative(spec, "absoluteTolerance", spec.absoluteTolerance);
      nonNegative(spec, "relativeTolerance", spec.relativeTolerance);
      return sync(spec.name, spec.type, (input) => numericTolerance(input, spec));
    case "latency":
      nonNegative(spec, "maxMs", spec.maxMs);
      return sync(spec.name, spec.type, (input) => latencyWithin(input, spec));
    case "cost":
      nonNegative(spec, "maxUSD", spec.maxUSD);
      return sync(spec.name, spec.type, (input) => costWithin(input, spec));
    case "llmJudge": {
      wrap(() => {
        validateJudgeOptions(spec);
      });
      const client = deps.judgeClient;
      if (client === undefined) {
        throw new EvaluatorConfigError(`${where}: llmJudge needs a client for model ${spec.model}`);
      }
      return {
        name: spec.name,
        kind: spec.type,
        evaluate: (input, options) => llmJudge(input, { ...spec, client }, options),
      };
    }
    case "webhook": {
      const secret = deps.webhookSecret ?? "";
      wrap(() => {
        validateWebhookOptions({ url: spec.url, secret });
      });
      return {
        name: spec.name,
        kind: spec.type,
        evaluate: (input, options) =>
          webhookEvaluate(
            input,
            {
              ...spec,
              secret,
              ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}),
              ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
            },
            options,
          ),
      };
    }
  }
}
