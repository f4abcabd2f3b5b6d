// Remote datasets read once per run rather than once per batch: the last read of each Experiment
// (by uid), kept with the key that names what was read. Per controller, passed in, never global.
import type { DatasetContext, DatasetRead, DatasetSource, LoadedDataset } from "./source.js";

/** The last dataset read of each Experiment, reused while its source's cacheKey is unchanged. */
export class DatasetCache {
  readonly #reads = new Map<string, DatasetRead & { key: string }>();

  /**
   * The items of `source` for Experiment `uid`: the kept read when source.cacheKey(context)
   * matches its key, else a fresh load (kept when the source names what it read). A failed load
   * leaves what was kept as it was.
   */
  async load(uid: string, source: DatasetSource, context: DatasetContext): Promise<LoadedDataset> {
    const kept = this.#reads.get(uid);
    // Until status shows this generation's pin (the informer cache can lag our own status write
    // by a reconcile or two), what this process read for the generation is the pin.
    const pinned =
      context.pinned?.generation === context.generation ? context.pinned : kept?.loaded.source;
    const key = source.cacheKey({ ...context, ...(pinned ? { pinned } : {}) });
    if (key !== undefined && kept?.key === key) return kept.loaded;
    const read = await source.load(context);
    if (read.key === undefined) this.#reads.delete(uid);
    else this.#reads.set(uid, { key: read.key, loaded: read.loaded });
    return read.loaded;
  }

  /** Drops what is kept for `uid` (its run finished, or it was deleted). */
  forget(uid: string): void {
    this.#reads.delete(uid);
  }

  /** How many Experiments have a dataset kept. */
  get size(): number {
    return this.#reads.size;
  }
}
