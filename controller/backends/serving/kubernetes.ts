// Revisions as a Deployment and a Service each, owned by the ModelDeployment (garbage collection
// removes them with it); availability from the Deployment in the cache.
import type { ModelDeployment } from "../../api/generated/index.js";
import {
  DeploymentType,
  ServiceType,
  type KubeObject,
  type StoredObject,
} from "../../kube/resources.js";
import { OwnedChildren } from "../../runtime/owned-children.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import {
  modelDeploymentLabel,
  revisionDeployment,
  revisionService,
} from "../../reconcilers/model-deployment/workloads.js";
import type { RevisionState, ServingBackend } from "./backend.js";

type Deployment = KubeObject & {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string }[];
  };
};

/** The revision's Service DNS name, as pods in the cluster reach it. */
export function revisionServiceURL(object: ModelDeployment, revision: string): string {
  const port = object.spec.runtime?.port ?? 8000;
  return `http://${revision}.${object.metadata.namespace ?? ""}.svc.cluster.local:${String(port)}/v1`;
}

function children(object: StoredObject<ModelDeployment>, context: ObjectContext): OwnedChildren {
  return new OwnedChildren({
    client: context.deps.client,
    owner: object,
    labels: { [modelDeploymentLabel]: object.metadata.name },
  });
}

export function createKubernetesServing(): ServingBackend {
  return {
    type: "kubernetes",
    // Deployments in full (their availability decides the weights); Services by metadata only.
    owns: [
      { type: DeploymentType, labelSelector: modelDeploymentLabel },
      { type: ServiceType, labelSelector: modelDeploymentLabel, metadataOnly: true },
    ],
    pollWhileStartingMs: undefined,
    needsFinalizer: false,

    observe(object, { deps }) {
      const namespace = object.metadata.namespace ?? "";
      const revisions = new Map<string, RevisionState>();
      for (const d of deps.cache.list<Deployment>(DeploymentType, { namespace })) {
        if (d.metadata.labels?.[modelDeploymentLabel] !== object.metadata.name) continue;
        if (
          !d.metadata.ownerReferences?.some(
            (o) => o.controller === true && o.uid === object.metadata.uid,
          )
        )
          continue;
        const current = (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
        const available =
          current &&
          (d.status?.availableReplicas ?? 0) >= 1 &&
          d.status?.conditions?.some((c) => c.type === "Available" && c.status === "True") === true;
        revisions.set(d.metadata.name, {
          available,
          replicas: d.spec?.replicas ?? 1,
          url: revisionServiceURL(object, d.metadata.name),
        });
      }
      return Promise.resolve(revisions);
    },

    async ensure({ object, revision, model, replicas }, context) {
      const owned = children(object, context);
      await owned.apply(DeploymentType, [
        revisionDeployment({ object, revision, model, replicas }),
      ]);
      await owned.apply(ServiceType, [revisionService(object, revision)]);
    },

    async scale(object, revision, replicas, { deps }) {
      await deps.client.mergePatch(
        DeploymentType,
        { namespace: object.metadata.namespace ?? "", name: revision },
        { spec: { replicas } },
      );
    },

    async remove(object, revisions, context) {
      const owned = children(object, context);
      await owned.delete(DeploymentType, revisions);
      await owned.delete(ServiceType, revisions);
    },

    // Garbage collection removes the Deployments and Services with their owner.
    finalize: () => Promise.resolve(),
  };
}
