// What splits a ModelDeployment's traffic across its revisions: a Gateway API HTTPRoute's backend
// weights in a cluster (gateway.ts), or a local HTTP proxy per ModelDeployment (local-proxy.ts).
import type { ModelDeployment } from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";

/** One revision's share: percent of requests, and its own base URL when the backend knows it. */
export interface TrafficShare {
  revision: string;
  weight: number;
  url?: string;
}

export type TrafficResult =
  | {
      ok: true;
      /** Where clients send requests (status.url), when known. */
      url?: string;
    }
  | { ok: false; reason: string; message: string; error: unknown };

export interface TrafficBackend {
  /** Which traffic backend this is. */
  readonly type: "gateway" | "local-proxy";
  /** Why this backend cannot split traffic for `object` as specified (stalled), or undefined. Pure. */
  check?(object: ModelDeployment): { reason: string; message: string } | undefined;
  /** Sets the weights across revisions (takes effect at once); says where clients send requests. */
  route(
    object: StoredObject<ModelDeployment>,
    split: readonly TrafficShare[],
    context: ObjectContext,
  ): Promise<TrafficResult>;
  /** Stops routing for a ModelDeployment that is being deleted. */
  finalize(object: StoredObject<ModelDeployment>): Promise<void>;
}
