// What an informer keeps of each object, when a watch opts in to keeping less than the default
// (the object without managedFields). Measured with 10,000 Prompts and their ConfigMaps (see
// bench/prompt-scale.ts): a Prompt as parsed is ~3.8 KB of heap, ~1.9 KB without managedFields,
// ~1.3 KB compacted below; an owned ConfigMap's metadata ~0.8 KB, its child view ~0.6 KB.
//
// - compactObject: the whole object minus what no reconciler reads (managedFields, kubectl's
//   last-applied-configuration, a second copy of the object), with repeated strings shared
//   (condition types and reasons, model names, label values, hashes: JSON.parse gives every
//   occurrence its own copy).
// - childView: an owned child as its owner's reconciler needs it — the metadata that says whose it
//   is and a digest of its content — so the owner can tell from the cache that a child it would
//   apply is already as desired, and not write it again.
import { createHash } from "node:crypto";
import type { KubeObject, StoredObject } from "../kube/resources.js";
import { canonicalJson } from "./hash.js";

/** kubectl's client-side apply annotation: a full copy of the object, read by kubectl only. */
export const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Shares equal strings between cached objects. Bounded: when full it starts over, so a stream of
 * distinct values (names, uids) costs at most `maxEntries` entries, while values that repeat
 * across objects are shared again from the next occurrence on.
 */
export class StringPool {
  readonly #maxEntries: number;
  readonly #maxLength: number;
  readonly #strings = new Map<string, string>();

  constructor(options: { maxEntries?: number; maxLength?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 4096;
    this.#maxLength = options.maxLength ?? 128;
  }

  get size(): number {
    return this.#strings.size;
  }

  intern(value: string): string {
    if (value.length > this.#maxLength) return value;
    const shared = this.#strings.get(value);
    if (shared !== undefined) return shared;
    if (this.#strings.size >= this.#maxEntries) this.#strings.clear();
    this.#strings.set(value, value);
    return value;
  }

  /** Replaces, in place, every string in a freshly parsed JSON value by its shared copy. */
  internAll<V>(value: V): V {
    if (typeof value === "string") return this.intern(value) as V;
    if (typeof value !== "object" || value === null) return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.internAll(value[i] as unknown);
      return value;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = this.internAll(record[key]);
    return value;
  }
}

/**
 * A transform for informers whose readers need the whole object: drops managedFields and the
 * last-applied annotation, and shares repeated strings through `pool` (one pool per manager).
 */
export function compactObject(pool: StringPool): (obj: StoredObject) => StoredObject {
  return (obj) => {
    const { managedFields: _managed, ...metadata } = obj.metadata;
    const annotations = metadata.annotations;
    if (annotations !== undefined && lastAppliedAnnotation in annotations) {
      const { [lastAppliedAnnotation]: _copy, ...rest } = annotations;
      metadata.annotations = rest;
    }
    return pool.internAll({ ...obj, metadata });
  };
}

/** Where a child view keeps its content digest: not a field of any Kubernetes object. */
export const childDigest: unique symbol = Symbol("llmops.childDigest");

/** A cached owned child: identity, its controller, and one digest of everything applied to it. */
export type ChildView = StoredObject & { [childDigest]: string };

/**
 * A digest of what an object holds besides apiVersion, kind, metadata and status (a ConfigMap's
 * `data` and `binaryData`), independent of key order: equal for the object we would apply and
 * the object the apiserver stored from it. 128 bits of SHA-256, as 22 characters.
 */
export function contentDigest(obj: KubeObject): string {
  return digestOf(contentOf(obj));
}

/**
 * The digest a child view keeps: its labels, annotations and owner references with its content,
 * so one string answers "is it exactly what we would apply?" (see childUpToDate).
 */
export function childDigestOf(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return digestOf({
    labels: nonEmpty(m.labels),
    annotations: nonEmpty(m.annotations),
    ownerReferences: m.ownerReferences?.length ? m.ownerReferences : undefined,
    content: contentOf(obj),
  });
}

function contentOf(obj: KubeObject): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    if (key !== "apiVersion" && key !== "kind" && key !== "metadata" && key !== "status") {
      content[key] = obj[key];
    }
  }
  return content;
}

function nonEmpty<V extends object>(value: V | undefined): V | undefined {
  return value !== undefined && Object.keys(value).length > 0 ? value : undefined;
}

function digestOf(value: unknown): string {
  return createHash("sha256")
    .update(canonicalJson(value))
    .digest()
    .subarray(0, 16)
    .toString("base64url");
}

/**
 * The child view transform (`OwnedType.contentDigest`): name, namespace, uid, resourceVersion,
 * the controller reference (what finds the owner) and deletion state, plus childDigestOf. ~0.5 KB
 * per child where its metadata alone is ~0.8 KB and the whole ConfigMap several.
 */
export function childView(pool: StringPool): (obj: StoredObject) => StoredObject {
  return (obj) => {
    const m = obj.metadata;
    const controller = m.ownerReferences?.find((ref) => ref.controller === true);
    const metadata: StoredObject["metadata"] = {
      name: m.name,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.namespace !== undefined && { namespace: m.namespace }),
      ...(controller !== undefined && { ownerReferences: [controller] }),
      ...(m.deletionTimestamp !== undefined && { deletionTimestamp: m.deletionTimestamp }),
    };
    const view = pool.internAll({ apiVersion: obj.apiVersion, kind: obj.kind, metadata });
    return Object.assign(view, { [childDigest]: childDigestOf(obj) });
  };
}

/**
 * Whether `cached` (a child view) is exactly what applying `desired` would leave: the same
 * labels, annotations, owner references and content, and not being deleted. Anything else —
 * including a label someone else added — counts as different, so the child is applied as before.
 */
export function childUpToDate(desired: KubeObject, cached: StoredObject | undefined): boolean {
  if (cached === undefined) return false;
  const digest = (cached as Partial<ChildView>)[childDigest];
  if (digest === undefined || cached.metadata.deletionTimestamp !== undefined) return false;
  return digest === childDigestOf(desired);
}

/**
 * Whether `labels` match a label selector of equality and existence terms (`a=b,c!=d,e,!f`).
 * A selector with set-based terms (`in`, `notin`) is reported as not matching: callers use this
 * only to skip optional work.
 */
export function matchesLabelSelector(
  labels: Readonly<Record<string, string>> | undefined,
  selector: string | undefined,
): boolean {
  if (selector === undefined || selector.trim() === "") return true;
  for (const raw of selector.split(",")) {
    const term = raw.trim();
    if (/\s(in|notin)\s*\(/.test(term) || term.includes("(")) return false;
    const ne = term.indexOf("!=");
    if (ne !== -1) {
      if (labels?.[term.slice(0, ne).trim()] === term.slice(ne + 2).trim()) return false;
      continue;
    }
    const eq = term.indexOf("=");
    if (eq !== -1) {
      const value = term.slice(term[eq + 1] === "=" ? eq + 2 : eq + 1).trim();
      if (labels?.[term.slice(0, eq).trim()] !== value) return false;
      continue;
    }
    if (term.startsWith("!")) {
      if (labels?.[term.slice(1).trim()] !== undefined) return false;
      continue;
    }
    if (labels?.[term] === undefined) return false;
  }
  return true;
}

/**
 * Children this process is creating or just created, by key: their ADDED event tells the owner
 * nothing it does not know, so it enqueues no reconcile (one reconcile per new Prompt instead of
 * two). The event may come before the create's response: a key is expected from before the write
 * (`begin`) and, once the response is in, at the resourceVersion it returned (`created`). Bounded:
 * past `maxEntries` the oldest expectation is forgotten (its event then enqueues the owner, as
 * every event did before), so creates whose event never comes cannot pile up.
 */
export class ExpectedCreates {
  readonly #maxEntries: number;
  /** Key → the resourceVersion the create returned, or "" while it is in flight. */
  readonly #expected = new Map<string, string>();

  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 4096;
  }

  get size(): number {
    return this.#expected.size;
  }

  /** This process is about to create `key`. */
  begin(key: string): void {
    this.#set(key, "");
  }

  /** The create of `key` returned `resourceVersion` (undefined: it failed). */
  created(key: string, resourceVersion: string | undefined): void {
    if (resourceVersion === undefined) {
      if (this.#expected.get(key) === "") this.#expected.delete(key);
      return;
    }
    // The event came first and settled the key: it has been handled already.
    if (!this.#expected.has(key)) return;
    this.#set(key, resourceVersion);
  }

  /**
   * Whether an ADDED event of `key` at `resourceVersion` is one of ours (a create in flight, or one
   * that returned this version); any event for the key settles its expectation.
   */
  settle(key: string, resourceVersion: string): boolean {
    const expected = this.#expected.get(key);
    if (expected === undefined) return false;
    this.#expected.delete(key);
    return expected === "" || expected === resourceVersion;
  }

  #set(key: string, value: string): void {
    this.#expected.delete(key);
    this.#expected.set(key, value);
    if (this.#expected.size > this.#maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest expectation.
      const oldest = this.#expected.keys().next();
      if (oldest.done !== true) this.#expected.delete(oldest.value);
    }
  }
}
