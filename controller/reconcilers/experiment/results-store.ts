// Where an Experiment's results live in the cluster: results chunks (JSON Lines, results.ts) and
// the call journal (journal.ts), all ConfigMaps owned by the Experiment and labelled with its
// name. Read from the API, not the cache: the cache may lag our own writes, and a stale result
// set would pay for an item twice. `load` only reads; the writes are their own methods, which the
// reconciler's act step calls.
import type { Experiment } from "../../api/generated/index.js";
import {
  chunkAnnotation,
  experimentLabel,
  journalLabel,
  runIdAnnotation,
} from "../../api/well-known.js";
import type { KubeClient } from "../../kube/client.js";
import { ConfigMapType, type ConfigMap, type StoredObject } from "../../kube/resources.js";
import { OwnedChildren } from "../../runtime/owned-children.js";
import { ConflictError, NotFoundError } from "../../kube/errors.js";
import { journalDataKey, journalObjectName, type JournalWrite } from "./journal.js";

/** Journal objects per batch that writes go round-robin to. */
const journalSlots = 16;
/** A journal object is continued in a new one beyond this size (the apiserver takes 1 MiB). */
const journalObjectBytes = 512 * 1024;
/**
 * Chunks are appended to up to this size, below the 1 MiB the apiserver takes: every batch
 * rewrites the last chunk whole, so a smaller chunk keeps that write short (a 900 KB chunk took
 * longer to save than a tenth of a batch); longer runs get more chunks.
 */
const appendChunkBytes = 256 * 1024;
/** Data keys of journal writes: `w-<seq>.json`. */
const journalWriteKey = /^w-\d+\.json$/;
import { appendRecords, chunkKey, chunkName, type Chunk, type ResultRecord } from "./results.js";

/** What is stored for one run, as read. */
export interface StoredResults {
  /** This run's results chunks, by index. */
  chunks: Chunk[];
  /** The texts of this run's journal objects (left by a controller that was killed mid-batch). */
  journalTexts: string[];
  /** Objects of earlier runs (the spec changed): their results do not apply to this one. */
  stale: string[];
}

/** The results and journal objects of one Experiment's run. */
export class ResultsStore {
  readonly #client: KubeClient;
  readonly #experiment: StoredObject<Experiment>;
  readonly #runId: string;
  readonly #children: OwnedChildren;
  /** The chunks as stored, kept current as records are saved (the next save appends to them). */
  #chunks: Chunk[] = [];
  /** Journal objects this store wrote (or tried to): what clearJournal deletes by name. */
  readonly #journalNames = new Set<string>();
  /** The journal object each slot writes to now, and the bytes it holds (see writeJournal). */
  readonly #journalSlots = new Map<number, { name: string; bytes: number; exists: boolean }>();

  constructor(options: {
    client: KubeClient;
    experiment: StoredObject<Experiment>;
    runId: string;
    /** The chunks as `load` read them, for a store that writes after another one read. */
    chunks?: readonly Chunk[];
  }) {
    this.#client = options.client;
    this.#experiment = options.experiment;
    this.#runId = options.runId;
    this.#chunks = (options.chunks ?? []).map((c) => ({ ...c }));
    this.#children = new OwnedChildren({
      client: options.client,
      owner: options.experiment,
      labels: { [experimentLabel]: options.experiment.metadata.name },
    });
  }

  /** Reads this run's chunks and journal, and names the objects of earlier runs. */
  async load(): Promise<StoredResults> {
    const chunks: Chunk[] = [];
    const journalTexts: string[] = [];
    const stale: string[] = [];
    for (const cm of await this.#children.list<ConfigMap>(ConfigMapType)) {
      const annotations = cm.metadata.annotations ?? {};
      if (annotations[runIdAnnotation] !== this.#runId) {
        stale.push(cm.metadata.name);
      } else if (cm.metadata.labels?.[journalLabel] !== undefined) {
        // One journal write per key (see writeJournal); older objects hold one, under journal.json.
        for (const [key, text] of Object.entries(cm.data ?? {})) {
          if (key === journalDataKey || journalWriteKey.test(key)) journalTexts.push(text);
        }
      } else {
        const index = Number(annotations[chunkAnnotation] ?? "-1");
        if (Number.isInteger(index) && index >= 0) {
          chunks.push({ index, text: cm.data?.[chunkKey] ?? "" });
        }
      }
    }
    this.#chunks = chunks.sort((a, b) => a.index - b.index);
    return { chunks: this.#chunks.map((c) => ({ ...c })), journalTexts, stale };
  }

  /** Deletes the objects of earlier runs. */
  async deleteStale(names: readonly string[]): Promise<void> {
    await this.#children.delete(ConfigMapType, names);
  }

  /** Appends `records` to the chunks (the last one while it has room, then new ones). */
  async save(records: readonly ResultRecord[]): Promise<void> {
    if (records.length === 0) return;
    const name = this.#experiment.metadata.name;
    const changed = appendRecords(this.#chunks, records, appendChunkBytes);
    await this.#children.apply(
      ConfigMapType,
      changed.map((chunk) => ({
        metadata: {
          name: chunkName(name, chunk.index),
          annotations: {
            [runIdAnnotation]: this.#runId,
            [chunkAnnotation]: String(chunk.index),
          },
        },
        data: { [chunkKey]: chunk.text },
      })),
    );
    for (const chunk of changed) {
      const existing = this.#chunks.find((c) => c.index === chunk.index);
      if (existing) existing.text = chunk.text;
      else this.#chunks.push(chunk);
    }
  }

  /**
   * Writes one journal write durably. Writes go round-robin to a few objects per batch (slot =
   * seq mod journalSlots), each write a key of its own added by merge patch, so no write resends
   * earlier ones (a write costs the same at the end of a batch as at its start) and a batch leaves
   * a handful of objects to delete instead of one per write (over a hundred for a 32-call-wide
   * batch, a second to delete). An object that would grow past journalObjectBytes is
   * continued in a new one.
   */
  async writeJournal(write: JournalWrite): Promise<void> {
    const experiment = this.#experiment.metadata.name;
    const text = JSON.stringify(write);
    const slotIndex = write.seq % journalSlots;
    let slot = this.#journalSlots.get(slotIndex);
    if (slot === undefined || slot.bytes + text.length > journalObjectBytes) {
      const generation = slot === undefined ? slotIndex : write.seq;
      slot = {
        name: journalObjectName(experiment, { batch: write.batch, seq: generation }),
        bytes: 0,
        exists: false,
      };
      this.#journalSlots.set(slotIndex, slot);
    }
    // Remembered before the request: a write that timed out may still have been stored.
    this.#journalNames.add(slot.name);
    const data = { [`w-${String(write.seq)}.json`]: text };
    const namespace = this.#experiment.metadata.namespace ?? "";
    if (slot.exists) {
      try {
        await this.#client.mergePatch(ConfigMapType, { namespace, name: slot.name }, { data });
        slot.bytes += text.length;
        return;
      } catch (error) {
        // Gone (deleted by hand): start it again.
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    try {
      await this.#children.create(ConfigMapType, {
        metadata: {
          name: slot.name,
          labels: { [journalLabel]: experiment },
          annotations: { [runIdAnnotation]: write.runId },
        },
        data,
      });
    } catch (error) {
      // An earlier create that seemed to fail (a timeout) was stored after all: add to it.
      if (!(error instanceof ConflictError)) throw error;
      await this.#client.mergePatch(ConfigMapType, { namespace, name: slot.name }, { data });
    }
    slot.exists = true;
    slot.bytes += text.length;
  }

  /**
   * Deletes the journal. The objects this store wrote go by name, several requests at a time: the
   * apiserver deletes a collection one object after another, which took a second per batch of a
   * 32-call-wide run (over a hundred journal objects), longer than a tenth of the batch itself.
   * Objects it did not write (left by a controller that was killed) go in one collection delete.
   */
  async clearJournal(): Promise<void> {
    this.#journalSlots.clear();
    if (this.#journalNames.size === 0) {
      await this.#children.deleteAll(ConfigMapType, {
        [journalLabel]: this.#experiment.metadata.name,
      });
      return;
    }
    const names = [...this.#journalNames];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const name = names[next++] as string;
        await this.#children.delete(ConfigMapType, [name]);
        this.#journalNames.delete(name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, names.length) }, worker));
  }
}
