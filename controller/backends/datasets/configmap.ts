// spec.dataset.configMap: JSON Lines in a ConfigMap of the Experiment's namespace. Read on every
// reconcile, never kept: an edited ConfigMap changes the items, and so the run id.
import { ConfigMapType, type KubeObject } from "../../kube/resources.js";
import { DatasetError, configMapSource, finalizeItems, parseJsonLines } from "./items.js";
import type { DatasetProvider } from "./source.js";

/** The source of spec.dataset.configMap (key default dataset.jsonl). */
export const configMapDataset: DatasetProvider<"configMap"> = (spec, { limit }) => ({
  cacheKey: () => undefined,
  async load({ client, namespace, generation }) {
    const key = spec.key ?? "dataset.jsonl";
    const source = configMapSource(spec.name, key);
    const cm = await client.tryGet<KubeObject & { data?: Record<string, string> }>(ConfigMapType, {
      namespace,
      name: spec.name,
    });
    if (cm === undefined) {
      throw new DatasetError(`${source}: ConfigMap ${spec.name} does not exist`);
    }
    const text = cm.data?.[key];
    if (text === undefined) {
      throw new DatasetError(
        `${source}: the ConfigMap has no key ${key} (keys: ${Object.keys(cm.data ?? {}).join(", ")})`,
      );
    }
    const items = finalizeItems(parseJsonLines(text, source), source, limit);
    return {
      key: undefined,
      loaded: { items, source: { source, generation, items: items.length } },
    };
  },
});
