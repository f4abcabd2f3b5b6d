// /v1/experiments: read one, and the online A/B primitives — which variant a unit gets
// (assignments) and what happened (outcomes). Both work on the run status.online names, so an
// application and the controller always agree on the weights and Prompt versions in force.
import type { Experiment, ExperimentStatusOnline } from "../api/generated/index.js";
import { ExperimentType } from "../api/kinds.js";
import type { StoredObject } from "../kube/resources.js";
import { errorMessage } from "../kube/errors.js";
import { assignVariant, outcomeFingerprint } from "../online/assignment.js";
import {
  OutdatedRunError,
  StoreBusyError,
  type OnlineRun,
  type OutcomeEvent,
} from "../online/store.js";
import { isBinaryMetric } from "../online/metrics.js";
import { readJsonBody } from "./body.js";
import { ApiError } from "./errors.js";
import { schemaProblem } from "./prompt-routes.js";
import type { ApiContext, ApiReply, ApiRequest, Route } from "./server.js";

const maxAssignmentBodyBytes = 4 * 1024;
const maxOutcomesBodyBytes = 1024 * 1024;

export function experimentRoutes(): Route[] {
  const access = (verb: "get" | "create", subresource?: string) => (p: Record<string, string>) => ({
    verb,
    resource: "experiments" as const,
    namespace: p.namespace ?? "",
    name: p.name ?? "",
    ...(subresource !== undefined ? { subresource } : {}),
  });
  return [
    {
      method: "GET",
      path: "/v1/experiments/{namespace}/{name}",
      access: access("get"),
      handle: getExperiment,
    },
    {
      method: "POST",
      path: "/v1/experiments/{namespace}/{name}/assignments",
      access: access("create", "assignments"),
      handle: assign,
    },
    {
      method: "POST",
      path: "/v1/experiments/{namespace}/{name}/outcomes",
      access: access("create", "outcomes"),
      handle: reportOutcomes,
    },
  ];
}

function experimentOf(context: ApiContext, request: ApiRequest): StoredObject<Experiment> {
  const namespace = request.params.namespace ?? "";
  const name = request.params.name ?? "";
  const experiment = context.get<Experiment>(ExperimentType, namespace, name);
  if (experiment === undefined) {
    throw new ApiError(404, "ExperimentNotFound", `Experiment ${namespace}/${name} does not exist`);
  }
  return experiment;
}

function getExperiment(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const e = experimentOf(context, request);
  const status = e.status ?? {};
  const ready = status.conditions?.find((c) => c.type === "Ready");
  return Promise.resolve({
    status: 200,
    body: {
      namespace: e.metadata.namespace ?? "",
      name: e.metadata.name,
      uid: e.metadata.uid,
      generation: e.metadata.generation ?? 0,
      // The CRDs default it to -1 (never observed), as Flux's kinds do: that reads as null here.
      observedGeneration:
        status.observedGeneration !== undefined && status.observedGeneration >= 0
          ? status.observedGeneration
          : null,
      phase: status.phase ?? null,
      ready: ready ? { status: ready.status, reason: ready.reason, message: ready.message } : null,
      ...(e.spec.traffic ? { traffic: e.spec.traffic } : {}),
      ...(status.online ? { online: status.online } : {}),
      results: status.results ?? [],
      comparisons: status.comparisons ?? [],
      winner: status.winner ?? null,
      recommendation: status.recommendation ?? null,
      ...(status.promotion ? { promotion: status.promotion } : {}),
    },
  });
}

type Run = Required<Pick<ExperimentStatusOnline, "runId" | "startedAt" | "weights">> &
  ExperimentStatusOnline;

/** The online run applications are served in; 409 when there is none. */
function runOf(experiment: StoredObject<Experiment>): Run {
  const where = `Experiment ${experiment.metadata.namespace ?? ""}/${experiment.metadata.name}`;
  if (experiment.spec.traffic === undefined) {
    throw new ApiError(
      409,
      "OfflineExperiment",
      `${where} is an offline evaluation (spec.dataset); assignments need spec.traffic`,
    );
  }
  const online = experiment.status?.online;
  if (
    online?.runId === undefined ||
    online.startedAt === undefined ||
    online.weights === undefined
  ) {
    throw new ApiError(
      409,
      "NotStarted",
      `${where} has not started its online run yet (phase ${experiment.status?.phase ?? "none"}: ${experiment.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "not reconciled"}); retry shortly`,
      { retryAfterSeconds: 2 },
    );
  }
  return online as Run;
}

function storeRun(experiment: StoredObject<Experiment>, run: Run): OnlineRun {
  return { experiment, runId: run.runId, startedAt: run.startedAt };
}

async function assign(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const body = await readJsonBody(request.req, maxAssignmentBodyBytes);
  if (!context.validate.assignment(body))
    throw schemaProblem("", context.validate.assignment.errors);
  const experiment = experimentOf(context, request);
  const run = runOf(experiment);
  const key = experiment.spec.traffic?.assignmentKey ?? "user_id";
  const fields = body as Record<string, string>;
  const unit = fields.unit ?? fields[key];
  if (unit === undefined) {
    throw new ApiError(
      400,
      "InvalidBody",
      `unit: give the unit to assign as "unit" (or "${key}")`,
      {
        field: "unit",
      },
    );
  }
  const assignment = assignVariant({
    uid: experiment.metadata.uid,
    salt: run.salt ?? "",
    unit,
    weights: run.weights,
  });
  context.options.store.expose(storeRun(experiment, run), assignment.variant, assignment.unit);
  const variant = run.variants?.find((v) => v.name === assignment.variant);
  return {
    status: 200,
    body: {
      experiment: {
        namespace: experiment.metadata.namespace ?? "",
        name: experiment.metadata.name,
      },
      unit,
      variant: assignment.variant,
      prompt: variant ? { name: variant.prompt, version: variant.promptVersion } : null,
      ...(variant?.model !== undefined ? { model: variant.model } : {}),
      runId: run.runId,
      phase: experiment.status?.phase ?? null,
    },
  };
}

async function reportOutcomes(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const raw = await readJsonBody(request.req, maxOutcomesBodyBytes);
  const wrapped = typeof raw === "object" && raw !== null && !Array.isArray(raw);
  const body = wrapped ? (raw as { outcomes?: unknown }).outcomes : raw;
  const prefix = wrapped ? "outcomes" : "";
  if (!context.validate.outcomes(body))
    throw schemaProblem(prefix, context.validate.outcomes.errors);
  const experiment = experimentOf(context, request);
  const run = runOf(experiment);
  const metrics = new Map(experiment.spec.evaluators.map((e) => [e.name, e]));
  const items = body as { id: string; unit: string; metric: string; value: number | boolean }[];
  const events: OutcomeEvent[] = items.map((item, i) => {
    const field = `${prefix}[${String(i)}]`;
    const evaluator = metrics.get(item.metric);
    if (evaluator === undefined) {
      throw new ApiError(
        422,
        "UnknownMetric",
        `${field}.metric: Experiment ${experiment.metadata.name} has no metric ${item.metric}; its metrics are ${[...metrics.keys()].join(", ")}`,
        { field: `${field}.metric` },
      );
    }
    const value = typeof item.value === "boolean" ? (item.value ? 1 : 0) : item.value;
    if (isBinaryMetric(evaluator) && value !== 0 && value !== 1) {
      throw new ApiError(
        422,
        "InvalidValue",
        `${field}.value: metric ${item.metric} is binary; report 0 or 1 (or false/true), not ${String(item.value)}`,
        { field: `${field}.value` },
      );
    }
    const assignment = assignVariant({
      uid: experiment.metadata.uid,
      salt: run.salt ?? "",
      unit: item.unit,
      weights: run.weights,
    });
    return {
      id: outcomeFingerprint(item.id),
      unit: assignment.unit,
      variant: assignment.variant,
      metric: item.metric,
      value,
    };
  });
  try {
    const result = await context.options.store.report(storeRun(experiment, run), events);
    return { status: 200, body: { ...result, runId: run.runId } };
  } catch (error) {
    if (error instanceof OutdatedRunError) {
      throw new ApiError(409, "RunChanged", `${error.message}; nothing was counted, retry`, {
        retryAfterSeconds: 1,
      });
    }
    // Busy, the apiserver unreachable, too many conflicts: nothing of the batch was counted.
    const message = error instanceof StoreBusyError ? error.message : errorMessage(error);
    throw new ApiError(503, "NotStored", `the outcomes were not stored: ${message}; retry`, {
      retryAfterSeconds: 1,
    });
  }
}
