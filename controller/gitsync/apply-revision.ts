// Applies a validated revision: ownership check, server-side dry run (a new revision is applied
// only when the apiserver accepts every object), apply (field manager llmops-gitsync, strict field
// validation, forced so a `kubectl edit` is taken back), then prune what left git.
import type { CrdSet } from "../api/crds.js";
import type { KubeClient } from "../kube/client.js";
import { TerminalError, errorMessage, findInCauseChain, isNotFound } from "../kube/errors.js";
import type { KubeObject, ResourceType, StoredObject } from "../kube/resources.js";
import {
  gitSyncFieldManager,
  pruneAnnotation,
  revisionAnnotation,
  sourceAnnotation,
} from "../api/well-known.js";
import { type DesiredObject, type LoadedRevision, objectId, resourceTypeFor } from "./revision.js";
import type { InventoryEntry } from "./sync-status.js";

export interface ObjectRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface ApplyOutcome {
  created: ObjectRef[];
  /** Changed because git changed. */
  updated: ObjectRef[];
  /** Changed in the cluster while git did not: put back (counted as drift). */
  driftCorrected: ObjectRef[];
  unchanged: ObjectRef[];
  pruned: ObjectRef[];
  /** Left git but kept: annotated `llmops.dev/prune: disabled`. */
  keptByAnnotation: ObjectRef[];
  /** Left git but not deleted: now owned by another source or by nobody. */
  notOurs: ObjectRef[];
  inventory: InventoryEntry[];
}

/** The revision cannot be applied as a whole; nothing from it was written. */
export class RevisionRejectedError extends Error {
  constructor(
    message: string,
    readonly reason: "OwnershipConflict" | "DryRunFailed",
    readonly problems: { file: string; line: number; message: string }[],
  ) {
    super(message);
    this.name = "RevisionRejectedError";
  }
}

/** Applying failed part-way (apiserver down…): retried; `inventory` covers what may exist. */
export class ApplyFailedError extends Error {
  constructor(
    message: string,
    readonly inventory: InventoryEntry[],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ApplyFailedError";
  }
}

export interface ApplyRevisionOptions {
  source: string;
  loaded: LoadedRevision;
  previous: readonly InventoryEntry[];
  crds: CrdSet;
  prune: boolean;
  /** Dry-run every object first (new revisions); periodic re-applies of a known-good one skip it. */
  dryRunFirst: boolean;
  signal?: AbortSignal;
}

const parallelism = 8;

async function mapLimit<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, items.length) }, worker));
  return out;
}

function refOf(desired: DesiredObject): ObjectRef {
  return {
    kind: desired.type.kind,
    namespace: desired.object.metadata.namespace,
    name: desired.object.metadata.name,
  };
}

function entryKey(e: { kind: string; namespace: string; name: string }): string {
  return `${e.kind}/${e.namespace}/${e.name}`;
}

export function inventoryOf(objects: readonly DesiredObject[]): InventoryEntry[] {
  return objects.map((d) => ({
    apiVersion: d.type.apiVersion,
    kind: d.type.kind,
    namespace: d.object.metadata.namespace,
    name: d.object.metadata.name,
    path: d.file,
    hash: d.hash,
  }));
}

/** Whether the labels/annotations gitsync sets (other than the revision) differ in `live`. */
function bookkeepingDiffers(desired: DesiredObject, live: KubeObject): boolean {
  const want = desired.object.metadata;
  const has = live.metadata ?? {};
  for (const [k, v] of Object.entries(want.labels ?? {})) {
    if (has.labels?.[k] !== v) return true;
  }
  for (const [k, v] of Object.entries(want.annotations ?? {})) {
    if (k !== revisionAnnotation && has.annotations?.[k] !== v) return true;
  }
  return false;
}

/** Applies `loaded` as a whole and prunes what left it. */
export async function applyRevision(
  client: KubeClient,
  options: ApplyRevisionOptions,
): Promise<ApplyOutcome> {
  const { source, loaded, signal } = options;
  const desired = loaded.objects;
  const request = signal === undefined ? {} : { signal };

  // 1. Read what is live: for the ownership check and to tell a change from drift.
  const live = await mapLimit(desired, (d) =>
    client.tryGet(
      d.type,
      { namespace: d.object.metadata.namespace, name: d.object.metadata.name },
      request,
    ),
  );
  const conflicts = desired.flatMap((d, i) => {
    const owner = live[i]?.metadata.annotations?.[sourceAnnotation];
    return owner !== undefined && owner !== source
      ? [
          {
            file: d.file,
            line: d.line,
            message: `${objectId(refOf(d))} is already managed by git source "${owner}"; remove it from one of the sources`,
          },
        ]
      : [];
  });
  if (conflicts.length > 0) {
    throw new RevisionRejectedError(
      conflicts.map((c) => `${c.file}:${String(c.line)}: ${c.message}`).join("; "),
      "OwnershipConflict",
      conflicts,
    );
  }

  const applyOne = (d: DesiredObject, dryRun: boolean): Promise<StoredObject> =>
    client.apply(d.type, d.object, {
      ...request,
      fieldManager: gitSyncFieldManager,
      force: true,
      dryRun,
      fieldValidation: "Strict",
    });

  // 2. A new revision goes in only if the apiserver accepts all of it.
  if (options.dryRunFirst) {
    const rejected: RevisionRejectedError["problems"] = [];
    await mapLimit(desired, async (d) => {
      try {
        await applyOne(d, true);
      } catch (err: unknown) {
        if (isNotFound(err)) {
          rejected.push({
            file: d.file,
            line: d.line,
            message: `${objectId(refOf(d))}: namespace "${d.object.metadata.namespace}" does not exist; create it or set metadata.namespace`,
          });
        } else if (findInCauseChain(err, TerminalError) !== undefined) {
          rejected.push({ file: d.file, line: d.line, message: errorMessage(err) });
        } else {
          throw err;
        }
      }
    });
    if (rejected.length > 0) {
      throw new RevisionRejectedError(
        rejected.map((c) => `${c.file}:${String(c.line)}: ${c.message}`).join("; "),
        "DryRunFailed",
        rejected,
      );
    }
  }

  // 3. Apply.
  const previousByKey = new Map(options.previous.map((e) => [entryKey(e), e]));
  const inventory = inventoryOf(desired);
  const outcome: ApplyOutcome = {
    created: [],
    updated: [],
    driftCorrected: [],
    unchanged: [],
    pruned: [],
    keptByAnnotation: [],
    notOurs: [],
    inventory,
  };
  let applied: StoredObject[];
  try {
    applied = await mapLimit(desired, (d) => applyOne(d, false));
  } catch (err: unknown) {
    const union = new Map([...options.previous, ...inventory].map((e) => [entryKey(e), e]));
    throw new ApplyFailedError(
      `applying revision ${loaded.revision} failed: ${errorMessage(err)}`,
      [...union.values()],
      {
        cause: err,
      },
    );
  }
  desired.forEach((d, i) => {
    const ref = refOf(d);
    const before = live[i];
    const after = applied[i];
    if (before === undefined) {
      outcome.created.push(ref);
      return;
    }
    const changed =
      before.metadata.generation !== after?.metadata.generation || bookkeepingDiffers(d, before);
    if (!changed) outcome.unchanged.push(ref);
    else if (previousByKey.get(entryKey(ref))?.hash === d.hash) outcome.driftCorrected.push(ref);
    else outcome.updated.push(ref);
  });

  // 4. Prune: only what this source applied before, still carries its annotation, and may go.
  if (options.prune) {
    const wanted = new Set(inventory.map(entryKey));
    const gone = options.previous.filter((e) => !wanted.has(entryKey(e)));
    await mapLimit(gone, async (entry) => {
      let type: ResourceType;
      try {
        type = resourceTypeFor(options.crds, entry.apiVersion, entry.kind);
      } catch {
        return;
      }
      const ref = { kind: entry.kind, namespace: entry.namespace, name: entry.name };
      const key = { namespace: entry.namespace, name: entry.name };
      const current = await client.tryGet(type, key, request);
      if (current === undefined) return;
      if (current.metadata.annotations?.[sourceAnnotation] !== source) {
        outcome.notOurs.push(ref);
        return;
      }
      if (current.metadata.annotations[pruneAnnotation] === "disabled") {
        outcome.keptByAnnotation.push(ref);
        return;
      }
      await client.delete(type, key, {
        ...request,
        propagationPolicy: "Background",
        preconditions: { uid: current.metadata.uid },
      });
      outcome.pruned.push(ref);
    });
  } else {
    // Without pruning, objects that left git stay managed: keep them in the inventory.
    const wanted = new Set(inventory.map(entryKey));
    for (const e of options.previous) if (!wanted.has(entryKey(e))) inventory.push(e);
  }
  return outcome;
}
