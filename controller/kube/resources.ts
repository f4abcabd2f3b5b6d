// Resource descriptors: what the client needs to build a URL for a kind without a discovery
// round trip. Our own kinds are known at compile time (crds/), and so are the few built-ins the
// controller touches; an explicit table is cheaper and more predictable than discovery.

/** A Kubernetes object as the client sees it: only the envelope is typed. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: "Apply" | "Update";
  apiVersion?: string;
  subresource?: string;
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** An object read from the apiserver: metadata is always present. */
export type StoredObject<T extends KubeObject = KubeObject> = T & {
  metadata: ObjectMeta & { name: string; uid: string; resourceVersion: string };
};

export interface ResourceType {
  /** `v1`, `apps/v1`, `llmops.dev/v1alpha1`. */
  apiVersion: string;
  kind: string;
  /** Lower-case plural used in URLs: `configmaps`, `prompts`. */
  plural: string;
  namespaced: boolean;
}

/** Where an object lives: its namespace (empty for cluster-scoped kinds) and name. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

export const ConfigMapType: ResourceType = {
  apiVersion: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
};
/** A ConfigMap, typed as far as the controller reads it. */
export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}
export const SecretType: ResourceType = {
  apiVersion: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
};
export const NamespaceType: ResourceType = {
  apiVersion: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};
export const LeaseType: ResourceType = {
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  plural: "leases",
  namespaced: true,
};
export const EventType: ResourceType = {
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  plural: "events",
  namespaced: true,
};

// The workloads and routes the TrainingJob and ModelDeployment reconcilers own.
export const JobType: ResourceType = {
  apiVersion: "batch/v1",
  kind: "Job",
  plural: "jobs",
  namespaced: true,
};
export const PodType: ResourceType = {
  apiVersion: "v1",
  kind: "Pod",
  plural: "pods",
  namespaced: true,
};
export const DeploymentType: ResourceType = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  plural: "deployments",
  namespaced: true,
};
export const ServiceType: ResourceType = {
  apiVersion: "v1",
  kind: "Service",
  plural: "services",
  namespaced: true,
};
export const HTTPRouteType: ResourceType = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  plural: "httproutes",
  namespaced: true,
};

/** `group` part of an apiVersion (`""` for the core group). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash === -1 ? "" : apiVersion.slice(0, slash);
}

/**
 * URL path for a collection or one object, optionally a subresource. `namespace` is ignored for
 * cluster-scoped kinds and omitted for all-namespace lists.
 */
export function resourcePath(
  type: ResourceType,
  target: { namespace?: string; name?: string; subresource?: string } = {},
): string {
  const root = type.apiVersion.includes("/")
    ? `/apis/${type.apiVersion}`
    : `/api/${type.apiVersion}`;
  const parts = [root];
  if (type.namespaced && target.namespace !== undefined && target.namespace !== "") {
    parts.push("namespaces", encodeURIComponent(target.namespace));
  }
  parts.push(type.plural);
  if (target.name !== undefined) {
    parts.push(encodeURIComponent(target.name));
    if (target.subresource !== undefined) parts.push(target.subresource);
  }
  return parts.join("/");
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key the queue and cache use. */
export function objectKeyString(key: ObjectKey): string {
  return key.namespace === "" ? key.name : `${key.namespace}/${key.name}`;
}

/** Inverse of objectKeyString. */
export function parseObjectKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return slash === -1
    ? { namespace: "", name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The key of a stored object. */
export function keyOf(obj: KubeObject): ObjectKey {
  return { namespace: obj.metadata?.namespace ?? "", name: obj.metadata?.name ?? "" };
}

/** A human label for logs and errors: `Prompt ns/name`. */
export function describeObject(type: { kind: string }, key: ObjectKey): string {
  return `${type.kind} ${objectKeyString(key)}`;
}
