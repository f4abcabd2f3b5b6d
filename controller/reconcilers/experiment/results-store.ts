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
import { journalDataKey, journalObjectName, type JournalWrite } from "./journal.js";
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
  readonly #experiment: StoredObject<Experiment>;
  readonly #runId: string;
  readonly #children: OwnedChildren;
  /** The chunks as stored, kept current as records are saved (the next save appends to them). */
  #chunks: Chunk[] = [];

  constructor(options: {
    client: KubeClient;
    experiment: StoredObject<Experiment>;
    runId: string;
    /** The chunks as `load` read them, for a store that writes after another one read. */
    chunks?: readonly Chunk[];
  }) {
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
        journalTexts.push(cm.data?.[journalDataKey] ?? "");
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
    const changed = appendRecords(this.#chunks, records);
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

  /** Writes one journal object (create-only: each write is a new small object). */
  async writeJournal(write: JournalWrite): Promise<void> {
    const name = this.#experiment.metadata.name;
    await this.#children.create(ConfigMapType, {
      metadata: {
        name: journalObjectName(name, write),
        labels: { [journalLabel]: name },
        annotations: { [runIdAnnotation]: write.runId },
      },
      data: { [journalDataKey]: JSON.stringify(write) },
    });
  }

  /** Deletes every journal object of this Experiment, in one request. */
  async clearJournal(): Promise<void> {
    await this.#children.deleteAll(ConfigMapType, {
      [journalLabel]: this.#experiment.metadata.name,
    });
  }
}
