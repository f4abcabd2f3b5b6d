// The edit a promotion commit makes to one manifest file: the Prompt's spec.labels gains the
// label and, when an earlier version wins, its versioned fields get that version's content. Pure
// text in, text out, through the yaml Document API so comments and the other documents of the
// file survive; only the Prompt's own document is re-printed.
import {
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
  type YAMLMap,
} from "yaml";
import type { PromptSpec } from "../api/generated/index.js";
import { promptContentHash } from "../prompts/content.js";
import type { PromptSnapshotSpec } from "../prompts/snapshots.js";

/** Why a file could not be edited; the message names the file, the Prompt and the fix. */
export type PromotionEditErrorCode =
  "NotFound" | "Ambiguous" | "InvalidYaml" | "InList" | "InvalidLabels" | "ContentMismatch";

export class PromotionEditError extends Error {
  override name = "PromotionEditError";
  constructor(
    readonly code: PromotionEditErrorCode,
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface PromotionEdit {
  /** Repository-relative path, for messages. */
  file: string;
  text: string;
  promptName: string;
  /** Only a document naming this namespace, or none, matches. */
  namespace?: string;
  label: string;
  /** The winning version's content, when it is not the live one. */
  snapshot?: PromptSnapshotSpec;
  /**
   * Without a snapshot: the content hash the Prompt in the file must have (the winning version).
   * Guards against labelling content that changed in git since the experiment ran.
   */
  expectContentHash?: string;
}

export interface PromotionEditResult {
  text: string;
  changed: boolean;
  /** spec.labels of the Prompt after the edit. */
  labels: string[];
}

/** The versioned fields a snapshot sets (and removes when the snapshot lacks them). */
const contentFields = ["template", "variables", "model", "responseFormat"] as const;

type AnyDocument = Document.Parsed;

function describePrompt(name: string, namespace: string | undefined): string {
  return `Prompt ${namespace === undefined ? "" : `${namespace}/`}${name}`;
}

function matches(value: unknown, name: string, namespace: string | undefined): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (v.kind !== "Prompt" || v.metadata?.name !== name) return false;
  const ns = v.metadata.namespace;
  return namespace === undefined || ns === undefined || ns === null || ns === namespace;
}

/** Index of the one document in `docs` that defines the Prompt; throws a PromotionEditError. */
function findPromptDocument(docs: AnyDocument[], edit: PromotionEdit): number {
  const who = describePrompt(edit.promptName, edit.namespace);
  const found: number[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      throw new PromotionEditError(
        "InvalidYaml",
        edit.file,
        `${edit.file}: not valid YAML (${first?.message ?? "parse error"}); fix the file first`,
      );
    }
    const value: unknown = doc.toJS();
    if (matches(value, edit.promptName, edit.namespace)) found.push(index);
    const items = (value as { kind?: unknown; items?: unknown } | null)?.items;
    if (
      (value as { kind?: unknown } | null)?.kind === "List" &&
      Array.isArray(items) &&
      items.some((item) => matches(item, edit.promptName, edit.namespace))
    ) {
      throw new PromotionEditError(
        "InList",
        edit.file,
        `${edit.file}: ${who} is inside a kind: List; move it to its own document or promote it by hand`,
      );
    }
  });
  if (found.length === 0) {
    throw new PromotionEditError(
      "NotFound",
      edit.file,
      `${edit.file}: no document defines ${who}; name the file that does`,
    );
  }
  if (found.length > 1) {
    throw new PromotionEditError(
      "Ambiguous",
      edit.file,
      `${edit.file}: ${who} is defined ${String(found.length)} times; give each document a metadata.namespace`,
    );
  }
  return found[0] as number;
}

function plainEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * `node` changed to hold `value`, keeping the nodes (and their comments and styles) of every part
 * that stays the same; a new node where the shape differs.
 */
function updateNode(doc: AnyDocument, node: unknown, value: unknown): unknown {
  if (isMap(node) && typeof value === "object" && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const pair of [...node.items]) {
      const key: unknown = isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof key !== "string" || !(key in record) || record[key] === undefined) {
        node.delete(pair.key);
      }
    }
    for (const [key, v] of Object.entries(record)) {
      if (v === undefined) continue;
      const existing: unknown = node.get(key, true);
      node.set(key, existing === undefined ? doc.createNode(v) : updateNode(doc, existing, v));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    const items = value as unknown[];
    node.items = items.map((v, i) =>
      i < node.items.length ? updateNode(doc, node.items[i], v) : doc.createNode(v),
    );
    return node;
  }
  if (isScalar(node) && node.value === value) return node;
  // A different type or shape: a fresh node (quoted as needed), keeping the comments around it.
  const fresh = doc.createNode(value) as YamlNode;
  if (isScalar(node) || isMap(node) || isSeq(node)) {
    if (node.commentBefore !== undefined) fresh.commentBefore = node.commentBefore;
    if (node.comment !== undefined) fresh.comment = node.comment;
  }
  return fresh;
}

/** Whether the source writes block sequences flush with their key (`labels:\n- a`), as kubectl does. */
function flushSequences(source: string): boolean {
  return /^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(source);
}

/**
 * The file with the promotion applied to the Prompt's document. Throws PromotionEditError when
 * the document is missing, ambiguous, inside a List, has a spec.labels that is not a list, or
 * (without a snapshot) no longer holds the winning content.
 */
export function applyPromotionEdit(edit: PromotionEdit): PromotionEditResult {
  const docs = parseAllDocuments(edit.text) as AnyDocument[] | { errors: unknown[] };
  if (!Array.isArray(docs)) {
    throw new PromotionEditError("InvalidYaml", edit.file, `${edit.file}: not valid YAML`);
  }
  const index = findPromptDocument(docs, edit);
  const doc = docs[index] as AnyDocument;
  const who = describePrompt(edit.promptName, edit.namespace);
  const before = doc.toJS() as { spec?: PromptSpec };

  if (edit.snapshot === undefined && edit.expectContentHash !== undefined) {
    const spec = before.spec;
    const hash = spec === undefined ? undefined : promptContentHash(spec);
    if (hash !== edit.expectContentHash) {
      throw new PromotionEditError(
        "ContentMismatch",
        edit.file,
        `${edit.file}: ${who} no longer holds the winning content (${edit.expectContentHash}; the file's hashes to ${hash ?? "nothing"}): it changed in git since the experiment ran; re-run the experiment on the new version or promote by hand`,
      );
    }
  }

  if (!isMap(doc.contents)) {
    throw new PromotionEditError("InvalidYaml", edit.file, `${edit.file}: ${who} is not a mapping`);
  }
  const contents = doc.contents as YAMLMap;
  let spec: unknown = contents.get("spec", true);
  if (!isMap(spec)) {
    spec = doc.createNode({});
    contents.set("spec", spec);
  }
  const specMap = spec as YAMLMap;
  const current = (before.spec ?? {}) as Record<string, unknown>;

  if (edit.snapshot !== undefined) {
    const snapshot = edit.snapshot as Record<string, unknown>;
    for (const field of contentFields) {
      const value = snapshot[field];
      const existing: unknown = specMap.get(field, true);
      if (value === undefined) {
        if (existing !== undefined) specMap.delete(field);
      } else if (existing === undefined) {
        specMap.set(field, doc.createNode(value));
      } else if (!plainEqual(current[field], value)) {
        specMap.set(field, updateNode(doc, existing, value));
      }
    }
  }

  const labelsNode: unknown = specMap.get("labels", true);
  if (labelsNode === undefined || (isScalar(labelsNode) && labelsNode.value === null)) {
    specMap.set("labels", doc.createNode([edit.label]));
  } else if (isSeq(labelsNode)) {
    const present = labelsNode.items.some((item) => isScalar(item) && item.value === edit.label);
    if (!present) labelsNode.add(doc.createNode(edit.label));
  } else {
    throw new PromotionEditError(
      "InvalidLabels",
      edit.file,
      `${edit.file}: spec.labels of ${who} is not a list; write it as a list of labels`,
    );
  }

  const after = doc.toJS() as { spec?: { labels?: string[] } };
  const labels = after.spec?.labels ?? [];
  if (plainEqual(before, after)) return { text: edit.text, changed: false, labels };

  // Replace only this document's source: the text from the end of the previous document (its
  // separator and leading comments belong to this one) to the end of this one.
  const start = index === 0 ? 0 : (docs[index - 1] as AnyDocument).range[2];
  const end = doc.range[2];
  const source = edit.text.slice(start, end);
  let printed = doc.toString({ lineWidth: 0, indentSeq: !flushSequences(source) });
  if (end === edit.text.length && !edit.text.endsWith("\n")) printed = printed.replace(/\n$/, "");
  const text = edit.text.slice(0, start) + printed + edit.text.slice(end);
  return { text, changed: text !== edit.text, labels };
}
