// What a ModelDeployment reconcile reads: the model resolved to something immutable (a Hub commit,
// a Succeeded TrainingJob's output, a directory), the revisions as the serving backend runs them
// (Deployments in the cache, or local processes), and the route's status as a Gateway controller
// reported it. Reads only.
import type { ModelDeployment, TrainingJob } from "../../api/generated/index.js";
import { TrainingJobType } from "../../api/kinds.js";
import { TransientError } from "../../kube/errors.js";
import { MissingSecretError, readSecretValue } from "../../kube/secrets.js";
import { HTTPRouteType, type KubeObject, type StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import type { ServingBackend } from "../../backends/serving/backend.js";
import type { TrafficBackend } from "../../backends/traffic/backend.js";
import type { ObservedModelDeployment } from "./plan.js";
import type { ResolvedModel } from "./workloads.js";
type Route = KubeObject & {
  status?: {
    parents?: {
      conditions?: { type: string; status: string; reason?: string; message?: string }[];
    }[];
  };
};

export interface ModelSettings {
  /** Hub URL for models that name none (the HF_ENDPOINT convention). */
  huggingFaceEndpoint: string;
  /** Branches and tags resolved in this process, by uid, until status records them. */
  resolved: Map<string, { key: string; commit: string }>;
  /** What runs the revisions and what splits traffic across them. */
  serving: ServingBackend;
  traffic: TrafficBackend;
}

export async function observeModelDeployment(
  settings: ModelSettings,
  object: StoredObject<ModelDeployment>,
  context: ObjectContext,
): Promise<ObservedModelDeployment> {
  const { deps } = context;
  const namespace = object.metadata.namespace ?? "";
  const deployments = await settings.serving.observe(object, context);
  // Not watched (clusters without the Gateway API CRDs still run every other kind): read it.
  const route = object.spec.route
    ? await deps.client
        .tryGet<Route>(HTTPRouteType, { namespace, name: object.metadata.name })
        .catch(() => undefined)
    : undefined;
  const routeParents = (route?.status?.parents ?? []).flatMap((p) => p.conditions ?? []);
  return { model: await servable(settings, object, context), deployments, routeParents };
}

/** The model resolved, unless the backends cannot serve or route it as specified. */
async function servable(
  settings: ModelSettings,
  object: StoredObject<ModelDeployment>,
  context: ObjectContext,
): Promise<ObservedModelDeployment["model"]> {
  const routing = settings.traffic.check?.(object);
  if (routing !== undefined) return { ok: false, kind: "stall", ...routing };
  const model = await resolveModel(settings, object, context);
  if (!model.ok) return model;
  const problem = settings.serving.checkModel?.(model.model);
  return problem !== undefined ? { ok: false, ...problem } : model;
}

async function resolveModel(
  settings: ModelSettings,
  object: StoredObject<ModelDeployment>,
  { deps }: ObjectContext,
): Promise<ObservedModelDeployment["model"]> {
  const namespace = object.metadata.namespace ?? "";
  const hf = object.spec.model.huggingFace;
  if (hf) {
    const revision = hf.revision ?? "main";
    const generation = object.metadata.generation ?? 0;
    const requested = `${hf.repo}@${revision}`;
    const resolved = (commit: string) => ({
      ok: true as const,
      model: { source: `${hf.repo}@${commit}`, model: { repo: hf.repo, revision: commit } },
      resolved: { generation, requested, commit },
    });
    // Resolved once per generation: what status recorded (across restarts), or this process's
    // read while status has not caught up.
    const recorded = object.status?.resolvedModel;
    if (
      recorded?.generation === generation &&
      recorded.requested === requested &&
      recorded.commit
    ) {
      settings.resolved.delete(object.metadata.uid); // status holds it now
      return resolved(recorded.commit);
    }
    const key = `${requested}#${String(generation)}`;
    const kept = settings.resolved.get(object.metadata.uid);
    if (kept?.key === key) return resolved(kept.commit);
    let token: string | null;
    try {
      token = hf.tokenSecretRef
        ? await readSecretValue(
            deps.client,
            namespace,
            hf.tokenSecretRef,
            "spec.model.huggingFace.tokenSecretRef",
          )
        : null;
    } catch (error) {
      if (error instanceof MissingSecretError) {
        return { ok: false, kind: "wait", reason: "SecretNotFound", message: error.message };
      }
      throw error;
    }
    const hub = await import("../../backends/hub/huggingface.js");
    let commit: string;
    try {
      commit = await hub.resolveModelRevision({
        endpoint: settings.huggingFaceEndpoint,
        repo: hf.repo,
        revision,
        token,
      });
    } catch (error) {
      if (error instanceof hub.HubUnavailableError) {
        throw new TransientError(error.message, { cause: error });
      }
      if (error instanceof hub.HubError) {
        return { ok: false, kind: "stall", reason: "ModelNotFound", message: error.message };
      }
      throw error;
    }
    settings.resolved.set(object.metadata.uid, { key, commit });
    return resolved(commit);
  }
  const path = object.spec.model.path;
  if (path !== undefined) {
    return { ok: true, model: { source: path, model: { path } } };
  }
  const ref = object.spec.model.trainingJobRef;
  if (!ref) {
    return {
      ok: false,
      kind: "stall",
      reason: "InvalidModel",
      message: "spec.model: set huggingFace, trainingJobRef or path",
    };
  }
  const job = deps.cache.get<TrainingJob & KubeObject>(TrainingJobType, {
    namespace,
    name: ref.name,
  });
  if (job === undefined) {
    return {
      ok: false,
      kind: "wait",
      reason: "TrainingJobNotFound",
      message: `TrainingJob ${ref.name} does not exist yet; the revision waits for it to Succeed`,
    };
  }
  const output = job.status?.output;
  if (
    job.status?.phase !== "Succeeded" ||
    output === undefined ||
    (output.repo === undefined && output.path === undefined)
  ) {
    return {
      ok: false,
      kind: "wait",
      reason: "TrainingJobNotSucceeded",
      message: `TrainingJob ${ref.name} is ${job.status?.phase ?? "Pending"}; the revision waits for it to Succeed`,
    };
  }
  const weights =
    output.path !== undefined
      ? { path: output.path }
      : { repo: output.repo ?? "", ...(output.revision ? { revision: output.revision } : {}) };
  const base = job.spec.baseModel;
  const source = `trainingjob/${ref.name}@${job.status.runId ?? ""}`;
  // A LoRA run's output is an adapter, served on its base model (at the commit it trained on).
  const baseRevision = job.status.resolved?.baseModel ?? base.revision;
  const baseWeights =
    base.repo !== undefined
      ? { repo: base.repo, ...(baseRevision ? { revision: baseRevision } : {}) }
      : { path: base.path ?? base.volume?.path ?? "" };
  const model: ResolvedModel = job.spec.lora
    ? { source, model: baseWeights, adapter: weights }
    : { source, model: weights };
  return { ok: true, model };
}
