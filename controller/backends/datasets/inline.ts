// spec.dataset.inline: items written in the manifest. Parsed on every reconcile (they are in the
// object already), never kept.
import { finalizeItems, inlineItems } from "./items.js";
import type { DatasetProvider } from "./source.js";

const where = "spec.dataset.inline";

/** The source of spec.dataset.inline. */
export const inlineDataset: DatasetProvider<"inline"> = (spec, { limit }) => ({
  cacheKey: () => undefined,
  // Nothing to await, but a bad item must reject the promise, not throw at the call.
  load: ({ generation }) =>
    Promise.resolve().then(() => {
      const items = finalizeItems(inlineItems({ inline: spec }), where, limit);
      return {
        key: undefined,
        loaded: { items, source: { source: where, generation, items: items.length } },
      };
    }),
});
