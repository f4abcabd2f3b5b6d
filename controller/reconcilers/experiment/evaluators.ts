// From the CRD's evaluator blocks to controller/evaluators specs. Pure.
import type { ExperimentEvaluator } from "../../api/generated/index.js";
import {
  EvaluatorConfigError,
  createEvaluator,
  failure,
  type Evaluator,
  type EvaluatorDependencies,
  type EvaluatorSpec,
} from "../../evaluators/index.js";
import type { ResolvedVariant } from "./variants.js";

/** The evaluator spec for `e`, as run on `variant`'s answers (jsonSchema.fromPrompt needs it). */
export function evaluatorSpecOf(e: ExperimentEvaluator, variant: ResolvedVariant): EvaluatorSpec {
  const where = `spec.evaluators[${e.name}]`;
  switch (e.type) {
    case "exactMatch":
      return {
        name: e.name,
        type: "exactMatch",
        ...(e.exactMatch?.field !== undefined ? { field: e.exactMatch.field } : {}),
        normalize: {
          trim: e.exactMatch?.trim ?? true,
          caseInsensitive: e.exactMatch?.caseSensitive === false,
        },
      };
    case "contains":
      return {
        name: e.name,
        type: "contains",
        values: e.contains?.values ?? [],
        mode: e.contains?.mode ?? "any",
        normalize: { caseInsensitive: e.contains?.caseSensitive !== true },
      };
    case "regex":
      return { name: e.name, type: "regex", pattern: e.regex?.pattern ?? "" };
    case "jsonSchema": {
      const schema = e.jsonSchema?.fromPrompt
        ? variant.responseFormat?.schema
        : e.jsonSchema?.schema;
      if (schema === undefined) {
        throw new EvaluatorConfigError(
          e.jsonSchema?.fromPrompt
            ? `${where}.jsonSchema.fromPrompt: Prompt ${variant.promptName} has no spec.responseFormat.schema`
            : `${where}.jsonSchema: set schema or fromPrompt: true`,
        );
      }
      return { name: e.name, type: "jsonSchema", schema };
    }
    case "numeric":
      return { name: e.name, type: "numeric", absoluteTolerance: e.numeric?.tolerance ?? 0 };
    case "latency":
      return { name: e.name, type: "latency", maxMs: e.latency?.maxMs ?? Number.POSITIVE_INFINITY };
    case "cost":
      return { name: e.name, type: "cost", maxUSD: e.cost?.maxUSD ?? Number.POSITIVE_INFINITY };
    case "llmJudge": {
      const judge = e.llmJudge;
      return {
        name: e.name,
        type: "llmJudge",
        model: judge?.model?.name ?? variant.model,
        rubric: judge?.rubric ?? "",
        scale: { min: judge?.scale?.min ?? 1, max: judge?.scale?.max ?? 5 },
        ...(judge?.passThreshold !== undefined ? { passThreshold: judge.passThreshold } : {}),
      };
    }
    case "webhook":
      return {
        name: e.name,
        type: "webhook",
        url: e.webhook?.url ?? "",
        ...(e.webhook?.timeoutSeconds !== undefined
          ? { timeoutMs: e.webhook.timeoutSeconds * 1000 }
          : {}),
      };
    case "outcome":
      // The CRD allows outcome evaluators only with spec.traffic; this guards older objects.
      throw new EvaluatorConfigError(
        `${where}: type outcome is reported by applications in an online A/B test (spec.traffic) and cannot score a dataset; use another type`,
      );
  }
}

// Latency and cost without a limit are measurements: the score is the value itself (ms, USD).
function measurement(e: ExperimentEvaluator): Evaluator | null {
  if (e.type === "latency" && e.latency?.maxMs === undefined) {
    return {
      name: e.name,
      kind: e.type,
      evaluate: (input) =>
        Promise.resolve(
          input.latencyMs === undefined || input.latencyMs === null
            ? failure("latency was not recorded")
            : { score: input.latencyMs, passed: null },
        ),
    };
  }
  if (e.type === "cost" && e.cost?.maxUSD === undefined) {
    return {
      name: e.name,
      kind: e.type,
      evaluate: (input) =>
        Promise.resolve(
          input.costUSD === undefined || input.costUSD === null
            ? failure("cost is unknown: the model has no price in the price table")
            : { score: input.costUSD, passed: null },
        ),
    };
  }
  return null;
}

/** Builds every evaluator for `variant`; throws EvaluatorConfigError naming the evaluator. */
export function buildEvaluators(
  evaluators: readonly ExperimentEvaluator[],
  variant: ResolvedVariant,
  deps: (e: ExperimentEvaluator) => EvaluatorDependencies,
): Evaluator[] {
  return evaluators.map(
    (e) => measurement(e) ?? createEvaluator(evaluatorSpecOf(e, variant), deps(e)),
  );
}
