// spec.dataset.langfuse: a dataset in Langfuse, its ACTIVE items' input and expectedOutput. Read
// once per generation in this process: items added in Langfuse mid-run do not change the run (and
// its results) under it.
import { TransientError, errorMessage } from "../../kube/errors.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { DatasetError, finalizeItems } from "./items.js";
import type { DatasetProvider } from "./source.js";

/** The source of spec.dataset.langfuse. */
export const langfuseDataset: DatasetProvider<"langfuse"> = (lf, { limit }) => {
  const source = `langfuse dataset ${lf.name}`;
  const keyOf = (generation: number) => `${lf.baseURL ?? ""}/${lf.name}#${String(generation)}`;
  return {
    cacheKey: ({ generation }) => keyOf(generation),
    async load({ client, namespace, generation, signal }) {
      const connection = await langfuseKeys(client, namespace, lf, "spec.dataset.langfuse");
      // Imported on first use: most controllers never read Langfuse, and its client costs memory.
      const langfuse = await import("./langfuse-dataset.js");
      let loaded;
      try {
        loaded = await langfuse.loadLangfuseDataset({
          ...connection,
          name: lf.name,
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (error instanceof langfuse.LangfuseRequestError && !error.retryable) {
          throw new DatasetError(`spec.dataset.langfuse: ${error.message}`, { cause: error });
        }
        throw new TransientError(`reading Langfuse dataset ${lf.name}: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      const items = finalizeItems(
        loaded.items.map((item) => ({
          id: item.id,
          // An object input is the variables; anything else is one variable named input.
          vars:
            typeof item.input === "object" && item.input !== null && !Array.isArray(item.input)
              ? (item.input as Record<string, unknown>)
              : { input: item.input },
          ...(item.expectedOutput !== undefined && item.expectedOutput !== null
            ? { expected: item.expectedOutput }
            : {}),
        })),
        source,
        limit,
      );
      return {
        key: keyOf(generation),
        loaded: { items, source: { source, generation, items: items.length } },
      };
    },
  };
};
