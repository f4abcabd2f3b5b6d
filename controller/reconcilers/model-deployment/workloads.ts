// What serves one revision, and the route in front of all of them: the revision's identity (a
// hash of the resolved model and the runtime), its Deployment and Service, and the HTTPRoute whose
// backend weights carry the split. Pure.
import { gpuPlacement, gpuResource } from "../../kube/gpus.js";
import type { ModelDeployment, ModelDeploymentRuntime } from "../../api/generated/index.js";
import { contentHash } from "../../runtime/hash.js";
import type { ChildObject } from "../../runtime/owned-children.js";

/** The model a revision serves, resolved to something immutable. */
export interface ResolvedModel {
  /** repo@commit, or trainingjob/<name>@<runId>: what status.revisions[].model shows. */
  source: string;
  /** The weights to load: a Hub repo (with its commit) or a path on a volume. */
  model: { repo: string; revision?: string } | { path: string };
  /** A LoRA adapter served on `model` (a TrainingJob's LoRA output). */
  adapter?: { repo: string; revision?: string } | { path: string };
}

/** Label on every child: the ModelDeployment it belongs to. */
export const modelDeploymentLabel = "llmops.dev/model-deployment";
/** Label on a revision's Deployment, Service and pods: the revision. */
export const modelRevisionLabel = "llmops.dev/model-revision";

const defaultImages = {
  vllm: "vllm/vllm-openai:v0.11.0",
  tgi: "ghcr.io/huggingface/text-generation-inference:3.3.6",
} as const;

/** `<deployment>-<hash>` of what decides what is served; replicas are not part of it. */
export function revisionName(object: ModelDeployment, model: ResolvedModel): string {
  const { replicas: _replicas, ...runtime } = object.spec.runtime ?? {};
  const hash = contentHash({
    model,
    servedName: servedName(object),
    runtime,
  })
    .replace(/^sha256:/, "")
    .slice(0, 10);
  return `${object.metadata.name ?? ""}-${hash}`;
}

export function servedName(object: ModelDeployment): string {
  return object.spec.model.servedName ?? object.metadata.name ?? "";
}

function where(ref: ResolvedModel["model"]): { id: string; revision?: string } {
  return "path" in ref
    ? { id: ref.path }
    : { id: ref.repo, ...(ref.revision ? { revision: ref.revision } : {}) };
}

/** The server's command-line arguments for `model` (vLLM, TGI; custom gets only its own). */
export function servingArgs(
  runtime: ModelDeploymentRuntime,
  model: ResolvedModel,
  name: string,
): string[] {
  const port = String(runtime.port ?? 8000);
  const base = where(model.model);
  const adapter = model.adapter ? where(model.adapter) : undefined;
  const extra = runtime.args ?? [];
  switch (runtime.type ?? "vllm") {
    case "vllm":
      return [
        "--model",
        base.id,
        ...(base.revision ? ["--revision", base.revision] : []),
        "--served-model-name",
        adapter ? `${name}-base` : name,
        ...(adapter ? ["--enable-lora", "--lora-modules", `${name}=${adapter.id}`] : []),
        "--port",
        port,
        ...extra,
      ];
    case "tgi":
      return [
        "--model-id",
        base.id,
        ...(base.revision ? ["--revision", base.revision] : []),
        ...(adapter ? ["--lora-adapters", `${name}=${adapter.id}`] : []),
        "--port",
        port,
        ...extra,
      ];
    case "custom":
      return [...extra];
  }
}

type Container = Record<string, unknown>;

/** The Deployment that serves `revision` with `replicas` pods. */
export function revisionDeployment(options: {
  object: ModelDeployment;
  revision: string;
  model: ResolvedModel;
  replicas: number;
}): ChildObject {
  const { object, revision, model, replicas } = options;
  const runtime = object.spec.runtime ?? {};
  const type = runtime.type ?? "vllm";
  const name = servedName(object);
  const labels = {
    [modelDeploymentLabel]: object.metadata.name ?? "",
    [modelRevisionLabel]: revision,
  };
  const gpu = runtime.resources?.gpu ?? {};
  const gpus = gpu.count ?? 1;
  const quantities: Record<string, string> = {
    ...(runtime.resources?.cpu !== undefined ? { cpu: String(runtime.resources.cpu) } : {}),
    ...(runtime.resources?.memory !== undefined
      ? { memory: String(runtime.resources.memory) }
      : {}),
    ...(gpus > 0 ? { [gpuResource]: String(gpus) } : {}),
  };
  const base = where(model.model);
  const token = object.spec.model.huggingFace?.tokenSecretRef;
  const env = [
    { name: "MODEL_ID", value: base.id },
    ...(base.revision ? [{ name: "MODEL_REVISION", value: base.revision }] : []),
    { name: "SERVED_MODEL_NAME", value: name },
    // A gated or private model: the server downloads it with the token, from its Secret.
    ...(token ? [{ name: "HF_TOKEN", valueFrom: { secretKeyRef: token } }] : []),
    ...(runtime.env ?? []),
  ];
  const container: Container = {
    name: "server",
    image: runtime.image ?? defaultImages[type === "custom" ? "vllm" : type],
    args: servingArgs(runtime, model, name),
    ports: [{ name: "http", containerPort: runtime.port ?? 8000, protocol: "TCP" }],
    env,
    readinessProbe: {
      httpGet: { path: "/health", port: "http" },
      periodSeconds: 5,
      failureThreshold: 3,
    },
    resources: { requests: quantities, limits: quantities },
  };
  return {
    metadata: { name: revision, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [container],
          ...gpuPlacement(gpu.type, gpus),
        },
      },
    },
  };
}

/** The Service in front of a revision's pods. */
export function revisionService(object: ModelDeployment, revision: string): ChildObject {
  const labels = {
    [modelDeploymentLabel]: object.metadata.name ?? "",
    [modelRevisionLabel]: revision,
  };
  return {
    metadata: { name: revision, labels },
    spec: {
      selector: labels,
      ports: [
        {
          name: "http",
          port: object.spec.runtime?.port ?? 8000,
          targetPort: "http",
          protocol: "TCP",
        },
      ],
    },
  };
}

/** The HTTPRoute: spec.route's parents, hostnames and path, one backendRef per serving revision. */
export function desiredRoute(
  object: ModelDeployment,
  backends: readonly { revision: string; weight: number }[],
): ChildObject | undefined {
  const route = object.spec.route;
  if (route === undefined) return undefined;
  const port = object.spec.runtime?.port ?? 8000;
  return {
    metadata: { name: object.metadata.name ?? "" },
    spec: {
      parentRefs: route.parentRefs.map((p) => ({
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        name: p.name,
        ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        ...(p.sectionName !== undefined ? { sectionName: p.sectionName } : {}),
      })),
      ...(route.hostnames !== undefined ? { hostnames: route.hostnames } : {}),
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: route.path ?? "/" } }],
          backendRefs: backends.map((b) => ({
            group: "",
            kind: "Service",
            name: b.revision,
            port,
            weight: b.weight,
          })),
        },
      ],
    },
  };
}
