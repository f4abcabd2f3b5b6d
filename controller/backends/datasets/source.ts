// Where an Experiment's items come from: one DatasetSource per spec.dataset field, each in its own
// file beside this one and found through the table in registry.ts. A source reads and parses; the
// per-run memo (cache.ts) decides whether it needs to read at all.
import type { ExperimentDataset, ExperimentStatus } from "../../api/generated/index.js";
import type { KubeClient } from "../../kube/client.js";
import type { DatasetItem } from "./items.js";

/** What a source may use to read: the Experiment's namespace and generation, controller settings. */
export interface DatasetContext {
  client: KubeClient;
  /** The Experiment's namespace: its ConfigMaps and Secrets. */
  namespace: string;
  /** metadata.generation of the Experiment (remote sources are pinned per generation). */
  generation: number;
  /** status.dataset as last written: the Hub commit pinned for this generation, if any. */
  pinned?: ExperimentStatus["dataset"];
  /** Hub URL for huggingFace datasets that set no endpoint (the HF_ENDPOINT convention). */
  huggingFaceEndpoint?: string;
  /** Largest file read from a remote source; default defaultMaxDatasetBytes. */
  maxBytes?: number;
  /** Stops a download that is under way (the reconcile was cancelled). */
  signal?: AbortSignal;
}

/** Largest dataset file read from a remote source when the controller sets no limit: 64 MiB. */
export const defaultMaxDatasetBytes = 64 * 1024 * 1024;

/** Items, and where they came from (status.dataset). */
export interface LoadedDataset {
  items: DatasetItem[];
  source: NonNullable<ExperimentStatus["dataset"]>;
}

/** What one load read. */
export interface DatasetRead {
  /** Names what was read (a Hub commit, a Langfuse dataset for one generation); undefined: keep nothing. */
  key: string | undefined;
  loaded: LoadedDataset;
}

/** One spec.dataset source. */
export interface DatasetSource {
  /**
   * Names what load would read, when that is known without I/O (a pinned Hub commit, a Langfuse
   * dataset for one generation); undefined: read it every time. DatasetCache skips load when this
   * equals the key of the last read.
   */
  cacheKey(context: DatasetContext): string | undefined;
  /**
   * Reads and parses the items. Throws DatasetError (permanent: the spec or the data must change),
   * MissingSecretError (a Secret it names is missing) or TransientError (try again later).
   */
  load(context: DatasetContext): Promise<DatasetRead>;
}

/** The spec.dataset fields that name a source. */
export type DatasetSourceField = "inline" | "configMap" | "huggingFace" | "langfuse";

/** Builds the source for spec.dataset[F]; `limit` is spec.dataset.limit. */
export type DatasetProvider<F extends DatasetSourceField> = (
  spec: NonNullable<ExperimentDataset[F]>,
  options: { limit?: number },
) => DatasetSource;
