// What a TrainingJob reconcile reads: the inputs resolved to commits or content hashes (once per
// generation), the sizes the estimate needs (parameters, dataset bytes), the GPU table, and the
// recorded attempt as its backend sees it. Reads only.
import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { TrainingJob } from "../../api/generated/index.js";
import { revisionAnnotation } from "../../api/well-known.js";
import { TransientError, errorMessage } from "../../kube/errors.js";
import { MissingSecretError, readSecretValue, type SecretKeyRef } from "../../kube/secrets.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import type {
  AttemptRequest,
  SecretEnv,
  TrainingBackend,
} from "../../backends/training/backend.js";
import {
  TrainingEstimateError,
  estimateInputFor,
  estimateTraining,
  type DatasetSize,
} from "../../backends/training/estimate.js";
import {
  GpuTableError,
  currentGpuTable,
  type GpuTable,
  type GpuTableRef,
} from "../../backends/training/gpu-table.js";
import { LayoutError, localPath, runLayout, type BackendType, type LocalPaths } from "./layout.js";
import type { ObservedTrainingJob, Resolution, RunEstimate } from "./plan.js";
import {
  runIdOf,
  trainerConfig,
  type ResolvedBaseModel,
  type ResolvedDataset,
  type ResolvedInputs,
} from "./run.js";

export interface TrainingSettings {
  /** Hub URL for models and datasets that name none (the HF_ENDPOINT convention). */
  huggingFaceEndpoint: string;
  local: LocalPaths;
  backends: Partial<Record<BackendType, TrainingBackend>>;
  gpuTable: GpuTable;
  gpuTableRef?: GpuTableRef;
  /** MLflow tracking server the trainer logs to, when set. */
  mlflowTrackingUri?: string;
  /** Inputs resolved in this process, by uid, until status records them. */
  resolved: Map<string, { key: string; inputs: ResolvedInputs }>;
}

type Stored = StoredObject<TrainingJob>;

/** The largest ConfigMap or file whose content is hashed (bigger files: size and mtime). */
const hashLimitBytes = 64 * 1024 * 1024;

export async function observeTrainingJob(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
): Promise<ObservedTrainingJob> {
  const backendType: BackendType = object.spec.backend?.type ?? "kubernetes";
  const backend = settings.backends[backendType];
  const secrets = await secretEnv(object, context, backendType).catch((error: unknown) => error);
  const requestFor =
    (inputs: ResolvedInputs | undefined): ObservedTrainingJob["request"] =>
    (runId, attempt, estimate) =>
      attemptRequest(
        settings,
        object,
        backendType,
        inputs,
        runId,
        attempt,
        estimate,
        secrets instanceof Error ? [] : (secrets as SecretEnv[]),
      );
  const noInputs = (failure: Resolution<never> & { ok: false }): ObservedTrainingJob => ({
    backend: backendType,
    inputs: failure,
    request: requestFor(undefined),
  });
  if (backend === undefined) {
    return noInputs({
      ok: false,
      kind: "stall",
      reason: "BackendNotEnabled",
      message: `spec.backend.type ${backendType} is not enabled in this controller; use another backend or start the controller with it`,
    });
  }
  if (secrets instanceof MissingSecretError) {
    return noInputs({
      ok: false,
      kind: "wait",
      reason: "SecretNotFound",
      message: secrets.message,
    });
  }
  if (secrets instanceof Error) throw secrets;

  const generation = object.metadata.generation ?? 0;
  let resolved: ResolvedInputs;
  try {
    resolved = await resolveInputs(settings, object, context, generation);
  } catch (error) {
    if (error instanceof InputError) return noInputs(error.resolution);
    throw error;
  }
  const runId = runIdOf(object.spec, resolved);
  try {
    runLayout({ backend: backendType, object, inputs: resolved, runId, local: settings.local });
  } catch (error) {
    if (!(error instanceof LayoutError)) throw error;
    return noInputs({
      ok: false,
      kind: "stall",
      reason: "UnsupportedByBackend",
      message: `${error.field}: ${error.message}`,
    });
  }
  const request = requestFor(resolved);

  const status = object.status;
  const recordedAttempt = status?.job?.attempt;
  const recorded =
    status?.runId !== undefined && recordedAttempt !== undefined
      ? {
          runId: status.runId,
          attempt: recordedAttempt,
          ref: {
            ...(status.job?.name ? { name: status.job.name } : {}),
            ...(status.job?.remoteId ? { remoteId: status.job.remoteId } : {}),
            ...(status.job?.url ? { url: status.job.url } : {}),
          },
        }
      : undefined;
  const state =
    recorded !== undefined
      ? await backend.observe(request(recorded.runId, recorded.attempt, undefined), recorded.ref)
      : undefined;

  return {
    backend: backendType,
    inputs: { ok: true, resolved, runId, generation },
    estimate: await estimateRun(settings, object, context, backendType, resolved, runId),
    ...(recorded !== undefined ? { recorded: { ...recorded, state } } : {}),
    request,
  };
}

/** A failure to resolve the inputs, as the plan reports it. */
class InputError extends Error {
  constructor(
    readonly resolution: { ok: false; kind: "wait" | "stall"; reason: string; message: string },
  ) {
    super(resolution.message);
  }
}

async function resolveInputs(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
  generation: number,
): Promise<ResolvedInputs> {
  const spec = object.spec;
  // Resolved once per generation: a moving branch does not restart a paid run mid-way.
  const recorded = object.status?.resolved;
  const key = String(generation);
  const kept = settings.resolved.get(object.metadata.uid);
  if (kept?.key === key) return kept.inputs;
  const fromStatus = recorded?.generation === generation ? recorded : undefined;
  const inputs: ResolvedInputs = {
    baseModel: await resolveBaseModel(settings, object, context, fromStatus?.baseModel),
    dataset: await resolveDataset(
      settings,
      object,
      context,
      spec.dataset,
      "spec.dataset",
      fromStatus?.dataset,
    ),
    ...(spec.evalDataset
      ? {
          evalDataset: await resolveDataset(
            settings,
            object,
            context,
            spec.evalDataset,
            "spec.evalDataset",
            fromStatus?.evalDataset,
          ),
        }
      : {}),
  };
  settings.resolved.set(object.metadata.uid, { key, inputs });
  return inputs;
}

async function resolveBaseModel(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
  recorded: string | undefined,
): Promise<ResolvedBaseModel> {
  const base = object.spec.baseModel;
  if (base.volume)
    return { source: "volume", claimName: base.volume.claimName, path: base.volume.path };
  if (base.path !== undefined) {
    const dir = localPath(settings.local, base.path);
    const config = await readFile(join(dir, "config.json")).catch(() => undefined);
    if (config === undefined && object.spec.backend?.type === "local") {
      throw new InputError({
        ok: false,
        kind: "wait",
        reason: "BaseModelNotFound",
        message: `spec.baseModel.path: ${dir} holds no config.json (a model in Hugging Face format); create the model there or fix the path`,
      });
    }
    return {
      source: "path",
      path: dir,
      hash: recorded ?? (config ? sha256(config) : `path:${base.path}`),
    };
  }
  const repo = base.repo ?? "";
  const revision = base.revision ?? "main";
  if (recorded !== undefined) return { source: "huggingFace", repo, revision: recorded };
  const token = await secretOrWait(
    context,
    object,
    base.tokenSecretRef,
    "spec.baseModel.tokenSecretRef",
  );
  return {
    source: "huggingFace",
    repo,
    revision: await hubCommit(settings, "model", repo, revision, token, "spec.baseModel"),
  };
}

async function resolveDataset(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
  dataset: TrainingJob["spec"]["dataset"],
  field: string,
  recorded: string | undefined,
): Promise<ResolvedDataset> {
  const format = dataset.format ?? "chat";
  const namespace = object.metadata.namespace ?? "";
  if (dataset.volume) {
    return {
      format,
      source: "volume",
      claimName: dataset.volume.claimName,
      path: dataset.volume.path,
    };
  }
  if (dataset.configMap) {
    const key = dataset.configMap.key ?? "dataset.jsonl";
    const cm = await context.deps.client.getConfigMap({ namespace, name: dataset.configMap.name });
    const text = cm?.data?.[key];
    if (text === undefined) {
      throw new InputError({
        ok: false,
        kind: "wait",
        reason: "DatasetNotFound",
        message: `${field}.configMap: ConfigMap ${namespace}/${dataset.configMap.name} ${cm === undefined ? "does not exist" : `has no key ${key}`}; create it or fix the reference`,
      });
    }
    const bytes = Buffer.byteLength(text);
    return {
      format,
      source: "configMap",
      name: dataset.configMap.name,
      key,
      hash: recorded ?? sha256(text),
      bytes,
    };
  }
  if (dataset.path !== undefined) {
    const file = localPath(settings.local, dataset.path);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) {
      throw new InputError({
        ok: false,
        kind: "wait",
        reason: "DatasetNotFound",
        message: `${field}.path: ${file} does not exist; create it or fix the path`,
      });
    }
    const hash =
      recorded ??
      (info.size <= hashLimitBytes
        ? sha256(await readFile(file))
        : `size:${String(info.size)}:mtime:${String(info.mtimeMs)}`);
    return { format, source: "path", path: file, hash, bytes: info.size };
  }
  const hf = dataset.huggingFace;
  if (hf === undefined) {
    throw new InputError({
      ok: false,
      kind: "stall",
      reason: "InvalidDataset",
      message: `${field}: set one source`,
    });
  }
  const revision = hf.revision ?? "main";
  const split = hf.split ?? (field === "spec.evalDataset" ? "test" : "train");
  if (recorded !== undefined)
    return { format, source: "huggingFace", repo: hf.repo, revision: recorded, split };
  const token = await secretOrWait(
    context,
    object,
    hf.tokenSecretRef,
    `${field}.huggingFace.tokenSecretRef`,
  );
  const commit = await hubCommit(
    settings,
    "dataset",
    hf.repo,
    revision,
    token,
    `${field}.huggingFace`,
  );
  return { format, source: "huggingFace", repo: hf.repo, revision: commit, split };
}

async function hubCommit(
  settings: TrainingSettings,
  type: "model" | "dataset",
  repo: string,
  revision: string,
  token: string | null,
  field: string,
): Promise<string> {
  const hub = await import("../../backends/hub/huggingface.js");
  try {
    return await hub.resolveModelRevision({
      endpoint: settings.huggingFaceEndpoint,
      repo,
      revision,
      token,
      field,
      type,
    });
  } catch (error) {
    if (error instanceof hub.HubUnavailableError)
      throw new TransientError(error.message, { cause: error });
    if (error instanceof hub.HubError) {
      throw new InputError({
        ok: false,
        kind: "stall",
        reason: type === "model" ? "BaseModelNotFound" : "DatasetNotFound",
        message: error.message,
      });
    }
    throw error;
  }
}

async function secretOrWait(
  context: ObjectContext,
  object: Stored,
  ref: SecretKeyRef | undefined,
  field: string,
): Promise<string | null> {
  if (ref === undefined) return null;
  try {
    return await readSecretValue(context.deps.client, object.metadata.namespace ?? "", ref, field);
  } catch (error) {
    if (error instanceof MissingSecretError) {
      throw new InputError({
        ok: false,
        kind: "wait",
        reason: "SecretNotFound",
        message: error.message,
      });
    }
    throw error;
  }
}

/**
 * The estimate of the run: reused from status once the run has one (the dataset's size is not
 * read again), otherwise computed from the GPU table, the model's size and the data's bytes.
 */
async function estimateRun(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
  backend: BackendType,
  inputs: ResolvedInputs,
  runId: string,
): Promise<NonNullable<ObservedTrainingJob["estimate"]>> {
  const recorded = object.status?.estimate;
  if (
    object.status?.runId === runId &&
    recorded?.gpuType !== undefined &&
    recorded.costUSD !== undefined &&
    recorded.hours !== undefined &&
    recorded.pricePerHourUSD !== undefined
  ) {
    const count = recorded.gpuCount ?? 1;
    return {
      ok: true,
      estimate: {
        gpuType: recorded.gpuType,
        gpuCount: count,
        ...(recorded.flavor ? { flavor: recorded.flavor } : {}),
        hours: recorded.hours,
        costUSD: recorded.costUSD,
        pricePerHourUSD: recorded.pricePerHourUSD,
        runPricePerHourUSD: recorded.flavor
          ? recorded.pricePerHourUSD
          : recorded.pricePerHourUSD * count,
        ...(recorded.parametersBillions !== undefined
          ? { parametersBillions: recorded.parametersBillions }
          : {}),
        ...(recorded.datasetTokens !== undefined ? { datasetTokens: recorded.datasetTokens } : {}),
        basis: recorded.basis ?? "",
      },
    };
  }
  let table: GpuTable;
  try {
    table = await currentGpuTable(context.deps.client, settings.gpuTable, settings.gpuTableRef);
  } catch (error) {
    if (error instanceof GpuTableError) {
      return { ok: false, kind: "stall", reason: "InvalidGpuTable", message: error.message };
    }
    throw error;
  }
  const parameters = await parametersBillions(settings, object, context, backend, inputs);
  if (!parameters.ok) return parameters;
  const size = (d: ResolvedDataset | undefined): DatasetSize | undefined =>
    d === undefined ? undefined : d.bytes !== undefined ? { bytes: d.bytes } : undefined;
  const assumedTokens = 10_000_000;
  const train = size(inputs.dataset) ?? { tokens: assumedTokens };
  const evaluation = size(inputs.evalDataset);
  try {
    const estimate = estimateTraining(
      table,
      estimateInputFor(
        object.spec,
        {
          parametersBillions: parameters.value,
          dataset: train,
          ...(evaluation ? { evalDataset: evaluation } : {}),
        },
        backend,
      ),
    );
    const unknown = size(inputs.dataset) === undefined;
    const result: RunEstimate = {
      ...estimate,
      basis: unknown
        ? `${estimate.basis}; the dataset's size is not known before the run (${inputs.dataset.source}): ${String(assumedTokens / 1e6)}M tokens assumed`
        : estimate.basis,
    };
    return { ok: true, estimate: result };
  } catch (error) {
    if (error instanceof TrainingEstimateError) {
      return {
        ok: false,
        kind: "stall",
        reason: "InvalidResources",
        message: `${error.field}: ${error.message}`,
      };
    }
    throw error;
  }
}

async function parametersBillions(
  settings: TrainingSettings,
  object: Stored,
  context: ObjectContext,
  backend: BackendType,
  inputs: ResolvedInputs,
): Promise<
  | { ok: true; value: number }
  | { ok: false; kind: "wait" | "stall"; reason: string; message: string }
> {
  const given = object.spec.baseModel.parametersBillions;
  if (given !== undefined) return { ok: true, value: given };
  const base = inputs.baseModel;
  if (base.source === "path") {
    const counted = await localParameterCount(base.path);
    if (counted !== undefined) return { ok: true, value: counted };
  }
  if (backend === "local") return { ok: true, value: 0.001 }; // CPU: no GPU to size
  if (base.source !== "huggingFace") {
    return {
      ok: false,
      kind: "stall",
      reason: "ParameterCountUnknown",
      message: `spec.baseModel.parametersBillions: the size of a model on ${base.source === "volume" ? "a volume" : "a path"} cannot be read by the controller; set it (e.g. 7.6 for a 7.6B model) so GPUs can be sized`,
    };
  }
  const { fetchModelParameterCount } = await import("../../backends/hub/parameters.js");
  const hub = await import("../../backends/hub/huggingface.js");
  try {
    const token = await secretOrWait(
      context,
      object,
      object.spec.baseModel.tokenSecretRef,
      "spec.baseModel.tokenSecretRef",
    );
    const count = await fetchModelParameterCount({
      endpoint: settings.huggingFaceEndpoint,
      repo: base.repo,
      revision: base.revision,
      token,
      signal: context.signal,
    });
    return { ok: true, value: count.parametersBillions };
  } catch (error) {
    if (error instanceof InputError) return error.resolution;
    if (error instanceof hub.HubUnavailableError)
      throw new TransientError(error.message, { cause: error });
    if (error instanceof hub.HubError) {
      const reason = (error as { reason?: string }).reason ?? "ParameterCountUnknown";
      return { ok: false, kind: "stall", reason, message: error.message };
    }
    throw new TransientError(`counting the parameters of ${base.repo}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Parameters of a local model from its safetensors files' sizes and config.json's dtype. */
async function localParameterCount(dir: string): Promise<number | undefined> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  for (const f of files.filter((name) => name.endsWith(".safetensors"))) {
    bytes += (await stat(join(dir, f))).size;
  }
  if (bytes === 0) return undefined;
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8").catch(() => "{}")) as {
    torch_dtype?: string;
    dtype?: string;
  };
  const dtype = config.torch_dtype ?? config.dtype ?? "float32";
  const perParameter = dtype === "float32" ? 4 : 2;
  return bytes / perParameter / 1e9;
}

/** The Secrets the trainer needs as env: one Hub token (the output's, which must also read). */
async function secretEnv(
  object: Stored,
  context: ObjectContext,
  backend: BackendType,
): Promise<SecretEnv[]> {
  const spec = object.spec;
  const refs: { env: string; ref: SecretKeyRef; field: string }[] = [];
  const hubToken =
    (spec.output.huggingFace?.tokenSecretRef && {
      ref: spec.output.huggingFace.tokenSecretRef,
      field: "spec.output.huggingFace.tokenSecretRef",
    }) ||
    (spec.baseModel.tokenSecretRef && {
      ref: spec.baseModel.tokenSecretRef,
      field: "spec.baseModel.tokenSecretRef",
    }) ||
    (spec.dataset.huggingFace?.tokenSecretRef && {
      ref: spec.dataset.huggingFace.tokenSecretRef,
      field: "spec.dataset.huggingFace.tokenSecretRef",
    }) ||
    undefined;
  if (hubToken) refs.push({ env: "HF_TOKEN", ...hubToken });
  const jobsToken = spec.backend?.huggingFaceJobs?.tokenSecretRef;
  if (backend === "huggingFaceJobs" && jobsToken && !refs.some((r) => sameRef(r.ref, jobsToken))) {
    refs.push({
      env: "HF_JOBS_TOKEN",
      ref: jobsToken,
      field: "spec.backend.huggingFaceJobs.tokenSecretRef",
    });
  }
  const out: SecretEnv[] = [];
  for (const r of refs) {
    // A Kubernetes Job reads its Secrets itself (secretKeyRef): the controller needs no value.
    const value =
      backend === "kubernetes"
        ? ""
        : await readSecretValue(
            context.deps.client,
            object.metadata.namespace ?? "",
            r.ref,
            r.field,
          );
    out.push({ env: r.env, secretRef: { name: r.ref.name, key: r.ref.key }, value });
  }
  return out;
}

function sameRef(a: SecretKeyRef, b: SecretKeyRef): boolean {
  return a.name === b.name && a.key === b.key;
}

function attemptRequest(
  settings: TrainingSettings,
  object: Stored,
  backend: BackendType,
  inputs: ResolvedInputs | undefined,
  runId: string,
  attempt: number,
  estimate: RunEstimate | undefined,
  secrets: SecretEnv[],
): AttemptRequest {
  const layout = inputs
    ? runLayout({ backend, object, inputs, runId, local: settings.local })
    : undefined;
  const gitRevision = object.metadata.annotations?.[revisionAnnotation];
  const config = trainerConfig({
    object,
    runId,
    attempt,
    layout: layout ?? {
      baseModel: { path: "" },
      dataset: { format: "chat", path: "" },
      outputDir: "",
      checkpointDir: "",
    },
    ...(gitRevision ? { gitRevision } : {}),
    ...(settings.mlflowTrackingUri ? { mlflow: { trackingUri: settings.mlflowTrackingUri } } : {}),
  });
  const maxHours = object.spec.budget?.maxHours;
  const options = (object.spec.backend?.[backend as "kubernetes" | "huggingFaceJobs"] ??
    {}) as Record<string, unknown>;
  return {
    owner: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.metadata.namespace ?? "",
      name: object.metadata.name,
      uid: object.metadata.uid,
    },
    runId,
    attempt,
    config,
    secrets,
    gpu: {
      type: estimate?.gpuType ?? "cpu",
      count: estimate?.gpuCount ?? 0,
      ...(estimate?.flavor ? { flavor: estimate.flavor } : {}),
    },
    ...(maxHours !== undefined ? { maxSeconds: Math.ceil(maxHours * 3600) } : {}),
    options,
    env: { HF_ENDPOINT: settings.huggingFaceEndpoint },
    ...(layout?.mounts.length ? { mounts: layout.mounts } : {}),
    ...(layout?.outputVolume ? { outputVolume: layout.outputVolume } : {}),
  };
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
