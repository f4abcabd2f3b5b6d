// Shared pieces of the ModelDeployment tests: our CRDs and the Gateway API's HTTPRoute CRD
// (shared/crds, for tests) installed, and the weights of the HTTPRoute the controller writes.
import { join } from "node:path";
import type { ModelDeployment } from "../../controller/api/generated/index.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { HTTPRouteType, type KubeObject } from "../../controller/kube/resources.js";
import { kubectl } from "../support/cluster.js";
import { installCrds, waitForCrdsEstablished } from "../validate/install-crds.js";
import { repositoryRoot } from "../validate/fixtures.js";

export type StoredModelDeployment = ModelDeployment & KubeObject;

type Route = KubeObject & {
  spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
};

/** crds/ and gateway.networking.k8s.io/v1 HTTPRoute, established. */
export async function installModelDeploymentCrds(): Promise<void> {
  await installCrds();
  const crd = join(repositoryRoot, "..", "shared", "crds", "gateway-api-v1.6.1", "httproutes.yaml");
  const applied = await kubectl(["apply", "--server-side", "-f", crd]);
  if (applied.code !== 0) throw new Error(`installing ${crd} failed: ${applied.stderr}`);
  await waitForCrdsEstablished(["httproutes.gateway.networking.k8s.io"]);
}

/** backendRef name → weight of the HTTPRoute `name` (empty when there is none). */
export async function routeWeights(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<Record<string, number>> {
  const route = await client.tryGet<Route>(HTTPRouteType, { namespace, name });
  return Object.fromEntries(
    (route?.spec?.rules?.[0]?.backendRefs ?? []).map((b) => [b.name, b.weight ?? 1]),
  );
}

/**
 * Every version of HTTPRoute `name` as a watch delivers it, as `stable/canary` weight pairs of
 * the given revisions: no polling, so a step that lasts a moment is not missed.
 */
export async function recordRouteWeights(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<{ pairOf: (a: string, b: string) => string[]; stop: () => void }> {
  const versions: Record<string, number>[] = [];
  const stream = await client.watch(HTTPRouteType, {
    namespace,
    fieldSelector: `metadata.name=${name}`,
  });
  void (async () => {
    try {
      for await (const event of stream) {
        const route = event.object as Route;
        if (event.type !== "ADDED" && event.type !== "MODIFIED") continue;
        versions.push(
          Object.fromEntries(
            (route.spec?.rules?.[0]?.backendRefs ?? []).map((b) => [b.name, b.weight ?? 1]),
          ),
        );
      }
    } catch {
      // Closed by stop().
    }
  })();
  return {
    pairOf: (a, b) => versions.map((w) => `${String(w[a] ?? 0)}/${String(w[b] ?? 0)}`),
    stop: () => {
      stream.close();
    },
  };
}
