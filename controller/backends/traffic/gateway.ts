// The split as a Gateway API HTTPRoute (spec.route): one backendRef per serving revision's
// Service, weighted. Without spec.route there is no route, and nothing to write.
import { NotFoundError, errorMessage } from "../../kube/errors.js";
import { HTTPRouteType } from "../../kube/resources.js";
import { OwnedChildren } from "../../runtime/owned-children.js";
import {
  desiredRoute,
  modelDeploymentLabel,
} from "../../reconcilers/model-deployment/workloads.js";
import type { TrafficBackend } from "./backend.js";

export function createGatewayTraffic(): TrafficBackend {
  return {
    type: "gateway",
    check(object) {
      if (object.spec.strategy?.type === "Canary" && object.spec.route === undefined) {
        return {
          reason: "RouteRequired",
          message:
            "spec.strategy.type Canary splits traffic with an HTTPRoute on the kubernetes serving backend: set spec.route.parentRefs (the Gateway to attach to), or use strategy Immediate",
        };
      }
      return undefined;
    },
    async route(object, split, { deps }) {
      const route = desiredRoute(object, split);
      if (route === undefined) return { ok: true };
      const children = new OwnedChildren({
        client: deps.client,
        owner: object,
        labels: { [modelDeploymentLabel]: object.metadata.name },
      });
      try {
        await children.apply(HTTPRouteType, [route]);
      } catch (error) {
        const missing = error instanceof NotFoundError;
        return {
          ok: false,
          reason: missing ? "GatewayAPINotInstalled" : "RouteFailed",
          message: missing
            ? "cannot write the HTTPRoute: the Gateway API CRDs (gateway.networking.k8s.io/v1) are not installed in this cluster; install them or remove spec.route"
            : `writing the HTTPRoute failed: ${errorMessage(error)}`,
          error,
        };
      }
      const host = object.spec.route?.hostnames?.[0];
      return host !== undefined
        ? { ok: true, url: `http://${host}${object.spec.route?.path ?? "/"}` }
        : { ok: true };
    },
    // The HTTPRoute is owned: garbage collection removes it.
    finalize: () => Promise.resolve(),
  };
}
