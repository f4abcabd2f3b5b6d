// Where the trainer finds its inputs and writes its outputs, per backend: the same TrainerConfig
// shape, different paths. Pure. Each run writes under its own runId, so an earlier run's model is
// still there when a revert asks for it again.
import { isAbsolute, join, resolve } from "node:path";
import type { TrainingJob } from "../../api/generated/index.js";
import type { Mount } from "../../backends/training/backend.js";
import { scratchPath } from "../../backends/training/kubernetes.js";
import type { TrainerDataset } from "../../backends/training/trainer-contract.js";
import type { ResolvedDataset, ResolvedInputs, RunLayout } from "./run.js";

export type BackendType = "kubernetes" | "huggingFaceJobs" | "local";

/** Why a backend cannot take this spec: the field and the fix. */
export class LayoutError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = "LayoutError";
  }
}

export interface LocalPaths {
  /** Relative paths in the spec are resolved against this (the controller's --local-root). */
  root: string;
  /** Runs' working directories (checkpoints, logs): <root>/.llmops/training by default. */
  runsDir: string;
}

/** A local run's working directory. */
export function localRunDir(paths: LocalPaths, object: TrainingJob, runId: string): string {
  return join(
    paths.runsDir,
    object.metadata.namespace ?? "default",
    object.metadata.name ?? "",
    runId,
  );
}

export function localPath(paths: LocalPaths, path: string): string {
  return isAbsolute(path) ? path : resolve(paths.root, path);
}

export function runLayout(options: {
  backend: BackendType;
  object: TrainingJob;
  inputs: ResolvedInputs;
  runId: string;
  local: LocalPaths;
}): RunLayout & { mounts: Mount[]; outputVolume?: string } {
  const { backend, object, inputs, runId } = options;
  switch (backend) {
    case "local":
      return localLayout(options.local, object, inputs, runId);
    case "huggingFaceJobs":
      return remoteLayout(object, inputs);
    case "kubernetes":
      return kubernetesLayout(object, inputs, runId);
  }
}

function localLayout(
  paths: LocalPaths,
  object: TrainingJob,
  inputs: ResolvedInputs,
  runId: string,
): RunLayout & { mounts: Mount[] } {
  const runDir = localRunDir(paths, object, runId);
  const base = inputs.baseModel;
  if (base.source === "volume") {
    throw new LayoutError(
      "the local backend cannot read a PersistentVolumeClaim: set spec.baseModel.path (a directory on this machine) or spec.baseModel.repo",
      "spec.baseModel.volume",
    );
  }
  const dataset = (d: ResolvedDataset, field: string): TrainerDataset => {
    switch (d.source) {
      case "huggingFace":
        return {
          format: d.format,
          huggingFace: { repo: d.repo, revision: d.revision, split: d.split },
        };
      case "path":
        return { format: d.format, path: d.path };
      default:
        throw new LayoutError(
          `the local backend reads datasets from a file (path) or the Hub (huggingFace), not from a ${d.source === "configMap" ? "ConfigMap" : "PersistentVolumeClaim"}: set ${field}.path`,
          `${field}.${d.source}`,
        );
    }
  };
  const output = object.spec.output;
  if (output.volume) {
    throw new LayoutError(
      "the local backend cannot write to a PersistentVolumeClaim: set spec.output.path (a directory on this machine) or spec.output.huggingFace",
      "spec.output.volume",
    );
  }
  return {
    baseModel:
      base.source === "huggingFace"
        ? { repo: base.repo, revision: base.revision }
        : { path: base.path },
    dataset: dataset(inputs.dataset, "spec.dataset"),
    ...(inputs.evalDataset ? { evalDataset: dataset(inputs.evalDataset, "spec.evalDataset") } : {}),
    outputDir: output.path ? join(localPath(paths, output.path), runId) : join(runDir, "model"),
    checkpointDir: join(runDir, "checkpoints"),
    mounts: [],
  };
}

function remoteLayout(
  object: TrainingJob,
  inputs: ResolvedInputs,
): RunLayout & { mounts: Mount[] } {
  const base = inputs.baseModel;
  if (base.source !== "huggingFace") {
    throw new LayoutError(
      "Hugging Face Jobs read the base model from the Hub: set spec.baseModel.repo",
      `spec.baseModel.${base.source}`,
    );
  }
  const dataset = (d: ResolvedDataset, field: string): TrainerDataset => {
    if (d.source !== "huggingFace") {
      throw new LayoutError(
        `Hugging Face Jobs read datasets from the Hub: set ${field}.huggingFace`,
        `${field}.${d.source}`,
      );
    }
    return {
      format: d.format,
      huggingFace: { repo: d.repo, revision: d.revision, split: d.split },
    };
  };
  if (!object.spec.output.huggingFace) {
    throw new LayoutError(
      "a Hugging Face Job can only keep its model by pushing it to the Hub: set spec.output.huggingFace",
      "spec.output",
    );
  }
  return {
    baseModel: { repo: base.repo, revision: base.revision },
    dataset: dataset(inputs.dataset, "spec.dataset"),
    ...(inputs.evalDataset ? { evalDataset: dataset(inputs.evalDataset, "spec.evalDataset") } : {}),
    outputDir: "/tmp/llmops/output",
    checkpointDir: "/tmp/llmops/checkpoints",
    mounts: [],
  };
}

/** Mount points inside the trainer's pod. */
const podPaths = {
  base: "/llmops/base-model",
  train: "/llmops/data/train",
  eval: "/llmops/data/eval",
  output: "/llmops/output",
  scratch: scratchPath,
} as const;

function kubernetesLayout(
  object: TrainingJob,
  inputs: ResolvedInputs,
  runId: string,
): RunLayout & { mounts: Mount[]; outputVolume?: string } {
  const mounts: Mount[] = [];
  const base = inputs.baseModel;
  let baseModel: RunLayout["baseModel"];
  if (base.source === "huggingFace") baseModel = { repo: base.repo, revision: base.revision };
  else if (base.source === "path") baseModel = { path: base.path };
  else {
    mounts.push({
      kind: "persistentVolumeClaim",
      claimName: base.claimName,
      mountPath: podPaths.base,
      readOnly: true,
    });
    baseModel = { path: join(podPaths.base, base.path) };
  }
  const dataset = (d: ResolvedDataset, mountPath: string, field: string): TrainerDataset => {
    switch (d.source) {
      case "huggingFace":
        return {
          format: d.format,
          huggingFace: { repo: d.repo, revision: d.revision, split: d.split },
        };
      case "configMap":
        mounts.push({ kind: "configMap", name: d.name, mountPath });
        return { format: d.format, path: join(mountPath, d.key) };
      case "volume":
        mounts.push({
          kind: "persistentVolumeClaim",
          claimName: d.claimName,
          mountPath,
          readOnly: true,
        });
        return { format: d.format, path: join(mountPath, d.path) };
      case "path":
        throw new LayoutError(
          `a Kubernetes Job cannot read a file on the controller's machine: set ${field}.configMap, ${field}.volume or ${field}.huggingFace`,
          `${field}.path`,
        );
    }
  };
  const train = dataset(inputs.dataset, podPaths.train, "spec.dataset");
  const evaluation = inputs.evalDataset
    ? dataset(inputs.evalDataset, podPaths.eval, "spec.evalDataset")
    : undefined;
  const output = object.spec.output;
  if (output.path) {
    throw new LayoutError(
      "a Kubernetes Job cannot write to the controller's machine: set spec.output.volume or spec.output.huggingFace",
      "spec.output.path",
    );
  }
  let outputDir: string;
  let checkpointDir: string;
  let outputVolume: string | undefined;
  if (output.volume) {
    mounts.push({
      kind: "persistentVolumeClaim",
      claimName: output.volume.claimName,
      mountPath: podPaths.output,
      readOnly: false,
    });
    const runDir = join(podPaths.output, output.volume.path ?? object.metadata.name ?? "", runId);
    outputDir = join(runDir, "model");
    checkpointDir = join(runDir, "checkpoints");
    outputVolume = output.volume.claimName;
  } else {
    // Pushed to the Hub; checkpoints live as long as the pod (an emptyDir the backend adds).
    outputDir = join(podPaths.scratch, "model");
    checkpointDir = join(podPaths.scratch, "checkpoints");
  }
  return {
    baseModel,
    dataset: train,
    ...(evaluation ? { evalDataset: evaluation } : {}),
    outputDir,
    checkpointDir,
    mounts,
    ...(outputVolume ? { outputVolume } : {}),
  };
}
