// spec.dataset.huggingFace: a JSON Lines file in a dataset repository on the Hugging Face Hub.
//
// The revision is resolved once per generation: a branch that moves mid-run must not change the
// items (and so the run id) of a run that has already paid for calls. The commit it resolved to is
// written to status.dataset.revision, and later reconciles of the same generation read that commit
// (context.pinned). A commit's file never changes, so once pinned it is downloaded once per run,
// not once per batch (cacheKey names it).
import { readSecretValue } from "../../kube/secrets.js";
import { TransientError } from "../../kube/errors.js";
import { DatasetError, finalizeItems, parseJsonLines } from "./items.js";
import { defaultMaxDatasetBytes, type DatasetContext, type DatasetProvider } from "./source.js";

/** The source of spec.dataset.huggingFace. */
export const huggingFaceDataset: DatasetProvider<"huggingFace"> = (hf, { limit }) => {
  const where = `hf://datasets/${hf.repo}/${hf.file}`;
  /** The commit status.dataset pinned for this generation and this file, if any. */
  const pinnedCommit = ({ pinned, generation }: DatasetContext): string | undefined =>
    pinned?.generation === generation && pinned.source === where ? pinned.revision : undefined;
  return {
    cacheKey(context) {
      const commit = pinnedCommit(context);
      return commit && `${where}@${commit}`;
    },
    async load(context) {
      const commit = pinnedCommit(context);
      const token = hf.tokenSecretRef
        ? await readSecretValue(
            context.client,
            context.namespace,
            hf.tokenSecretRef,
            "spec.dataset.huggingFace.tokenSecretRef",
          )
        : null;
      // Imported on first use: most controllers never read the Hub, and it costs memory.
      const hub = await import("../hub/huggingface.js");
      let file;
      try {
        file = await hub.fetchHubDatasetFile({
          endpoint: hf.endpoint ?? context.huggingFaceEndpoint ?? "https://huggingface.co",
          repo: hf.repo,
          file: hf.file,
          revision: commit ?? hf.revision ?? "main",
          token,
          maxBytes: context.maxBytes ?? defaultMaxDatasetBytes,
          ...(context.signal ? { signal: context.signal } : {}),
        });
      } catch (error) {
        if (error instanceof hub.HubUnavailableError) {
          throw new TransientError(`reading ${where}: ${error.message}`, { cause: error });
        }
        if (error instanceof hub.HubError) {
          throw new DatasetError(`spec.dataset.huggingFace: ${error.message}`, { cause: error });
        }
        throw error;
      }
      const source = `${where}@${file.commit.slice(0, 12)}`;
      const items = finalizeItems(parseJsonLines(file.text, source), source, limit);
      return {
        key: `${where}@${file.commit}`,
        loaded: {
          items,
          source: {
            source: where,
            revision: file.commit,
            generation: context.generation,
            items: items.length,
          },
        },
      };
    },
  };
};
