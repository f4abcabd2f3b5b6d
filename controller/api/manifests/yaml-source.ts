// Reads manifest files the way kubectl does (YAML 1.1 scalars: yes/no/on/off are booleans, 0777
// is octal, timestamps stay strings; `---` separated documents; `kind: List` expanded) and keeps
// the source positions so every finding can be reported as file:line:col.
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  Scalar,
  visit,
  type Document,
  type Node,
  type Tags,
  type YAMLError,
} from "yaml";
import type { FieldPath } from "../validation/field-path.js";

/** 1-based line and column. */
export interface SourcePosition {
  line: number;
  col: number;
}

/** One Kubernetes object found in a file, with a way to find where its fields are written. */
export interface ManifestObject {
  file: string;
  /** 0-based index of the `---` document in the file. */
  documentIndex: number;
  /** Path of the object inside the document: [] for a plain object, ["items", i] inside a List. */
  basePath: FieldPath;
  value: unknown;
  /** Where the object itself starts. */
  position: SourcePosition;
  /** Where the deepest existing node along `path` (relative to the object) is written. */
  locate(path: FieldPath): SourcePosition;
}

/** A document that cannot be read as data: bad YAML, or a value JSON cannot hold. */
export interface SourceError {
  file: string;
  position: SourcePosition;
  message: string;
  severity: "error" | "warning";
}

export interface ParsedSource {
  objects: ManifestObject[];
  errors: SourceError[];
}

// go-yaml v2 (behind sigs.k8s.io/yaml, which kubectl uses) leaves timestamps and base-60
// numbers as strings, and knows no !!binary/!!omap/!!pairs/!!set.
const droppedTags = new Set([
  "tag:yaml.org,2002:timestamp",
  "tag:yaml.org,2002:binary",
  "tag:yaml.org,2002:omap",
  "tag:yaml.org,2002:pairs",
  "tag:yaml.org,2002:set",
]);
const sexagesimal = /:\[0-5\]/;

function kubectlTags(tags: Tags): Tags {
  return tags.filter((tag) => {
    if (typeof tag === "string") return true;
    if (droppedTags.has(tag.tag)) return false;
    return !("test" in tag && tag.test instanceof RegExp && sexagesimal.test(tag.test.source));
  });
}

interface DuplicateKey {
  key: string;
  offset: number;
  laterOffset: number;
}

/** Keys written more than once in the same mapping. */
function duplicateKeys(doc: Document): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        if (!isScalar(pair.key) || isMergeKey(pair.key)) continue;
        const key = String(pair.key.value);
        const offset = startOf(pair.key) ?? 0;
        const earlier = seen.get(key);
        if (earlier !== undefined && key !== "<<")
          out.push({ key, offset: earlier, laterOffset: offset });
        seen.set(key, offset);
      }
    },
  });
  return out;
}

/** The yaml package's message without the position and source excerpt we print ourselves. */
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

/**
 * Where a document's error is, and what to say. The yaml package reports an unclosed quote where
 * the input ends (past the last line); the reader has to find the quote that opens it, so point
 * there: the last quoted scalar that reaches the error.
 */
function locateError(doc: Document, error: YAMLError): { offset: number; message: string } {
  const fallback = { offset: error.pos[0], message: `malformed YAML: ${firstLine(error.message)}` };
  if (error.code !== "MISSING_CHAR" || !/^Missing closing ["']quote/.test(error.message)) {
    return fallback;
  }
  let opening: { start: number; quote: string } | undefined;
  visit(doc, {
    Scalar(_key, node) {
      const quote =
        node.type === Scalar.QUOTE_DOUBLE
          ? '"'
          : node.type === Scalar.QUOTE_SINGLE
            ? "'"
            : undefined;
      const start = node.range?.[0];
      const end = node.range?.[1];
      if (quote === undefined || start === undefined || end === undefined) return;
      const reachesError = start <= error.pos[0] && end >= error.pos[0];
      if (reachesError && (opening === undefined || start > opening.start)) {
        opening = { start, quote };
      }
    },
  });
  if (opening === undefined) return fallback;
  const { start, quote } = opening;
  return {
    offset: start,
    message: `malformed YAML: the ${quote} opened here is never closed; add the closing ${quote}`,
  };
}

function hasNonFiniteNumber(value: unknown): boolean {
  if (typeof value === "number") return !Number.isFinite(value);
  if (Array.isArray(value)) return value.some(hasNonFiniteNumber);
  if (value !== null && typeof value === "object")
    return Object.values(value).some(hasNonFiniteNumber);
  return false;
}

/** Parses one file's text into the objects it holds. */
export function parseManifestSource(file: string, text: string): ParsedSource {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: "1.1",
    customTags: kubectlTags,
    lineCounter,
    // kubectl accepts a key written twice and keeps the last value; so do we, with a warning.
    uniqueKeys: false,
    merge: true,
  });
  const objects: ManifestObject[] = [];
  const errors: SourceError[] = [];
  const position = (offset: number): SourcePosition => lineCounter.linePos(offset);
  const list = Array.isArray(docs) ? docs : [docs];

  list.forEach((doc, documentIndex) => {
    const firstError = doc.errors[0];
    if (firstError !== undefined) {
      // Later errors of the same document are mostly echoes of the first: report that one.
      const { offset, message } = locateError(doc, firstError);
      errors.push({ file, position: position(offset), message, severity: "error" });
      return;
    }
    for (const w of doc.warnings) {
      errors.push({
        file,
        position: position(w.pos[0]),
        message: `YAML: ${firstLine(w.message)}`,
        severity: "warning",
      });
    }
    for (const dup of duplicateKeys(doc)) {
      const again = position(dup.laterOffset);
      errors.push({
        file,
        position: position(dup.offset),
        message:
          `key ${JSON.stringify(dup.key)} is written again at line ${String(again.line)}; ` +
          "kubectl keeps the last one and ignores this one, so remove one of them",
        severity: "warning",
      });
    }
    if (doc.contents === null) return; // an empty document (comments only, or a trailing ---)
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err: unknown) {
      errors.push({
        file,
        position: position(doc.contents.range[0]),
        message: `malformed YAML: ${err instanceof Error ? err.message : String(err)}`,
        severity: "error",
      });
      return;
    }
    if (value === null || value === undefined) return;
    if (hasNonFiniteNumber(value)) {
      errors.push({
        file,
        position: position(doc.contents.range[0]),
        message:
          "the document holds .inf or .nan, which JSON (and so the Kubernetes API) cannot represent",
        severity: "error",
      });
      return;
    }
    const makeObject = (basePath: FieldPath, objectValue: unknown): ManifestObject => {
      const locate = (path: FieldPath): SourcePosition =>
        position(locateOffset(doc, [...basePath, ...path]));
      return { file, documentIndex, basePath, value: objectValue, position: locate([]), locate };
    };
    if (isKubernetesList(value)) {
      value.items.forEach((item, i) => objects.push(makeObject(["items", i], item)));
    } else {
      objects.push(makeObject([], value));
    }
  });
  return { objects, errors };
}

function isKubernetesList(value: unknown): value is { items: unknown[] } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const v = value as { apiVersion?: unknown; kind?: unknown; items?: unknown };
  return (
    typeof v.kind === "string" &&
    v.kind.endsWith("List") &&
    (v.apiVersion === "v1" || v.kind === "List") &&
    Array.isArray(v.items)
  );
}

function resolve(doc: Document, node: unknown): unknown {
  let current = node;
  for (let hops = 0; isAlias(current) && hops < 100; hops++) current = current.resolve(doc);
  return current;
}

/** A `<<` merge key: the yaml package resolves it to a symbol under YAML 1.1. */
function isMergeKey(key: unknown): boolean {
  if (!isScalar(key)) return false;
  const value = key.value;
  return value === "<<" || (typeof value === "symbol" && value.description === "<<");
}

function keyMatches(key: unknown, segment: string): boolean {
  if (isScalar(key)) return String(key.value) === segment;
  return false;
}

function startOf(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range === undefined || range === null ? undefined : range[0];
}

/**
 * Offset of the deepest node along `path`: a mapping entry is located at its key (`model:`), a
 * list item at its start. A path that leaves the document (a missing required field) stops at
 * the last node that exists, which is where the field has to be added.
 */
function locateOffset(doc: Document, path: FieldPath): number {
  let node: unknown = resolve(doc, doc.contents);
  let offset = startOf(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = findPair(doc, node.items, String(segment), 0);
      if (pair === undefined) break;
      offset = startOf(pair.key) ?? offset;
      node = resolve(doc, pair.value);
    } else if (isSeq(node) && typeof segment === "number") {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      offset = startOf(item) ?? offset;
      node = resolve(doc, item);
    } else {
      break;
    }
  }
  return offset;
}

interface FoundPair {
  key: unknown;
  value: unknown;
}

/** Finds `segment` among a mapping's pairs, looking through `<<` merge keys like toJS does. */
function findPair(
  doc: Document,
  items: unknown[],
  segment: string,
  depth: number,
): FoundPair | undefined {
  let merged: FoundPair | undefined;
  // The last occurrence of a key is the one that counts, as in kubectl.
  for (const item of [...items].reverse()) {
    if (!isPair(item)) continue;
    if (keyMatches(item.key, segment)) return { key: item.key, value: item.value };
    if (merged === undefined && depth < 10 && isMergeKey(item.key)) {
      const sources = resolve(doc, item.value);
      const maps = isSeq(sources) ? sources.items.map((s) => resolve(doc, s)) : [sources];
      for (const source of maps) {
        if (isMap(source)) {
          const found = findPair(doc, source.items, segment, depth + 1);
          if (found !== undefined) {
            // Report at the `<<` key: the value is written elsewhere, the object gets it here.
            merged = { key: item.key, value: found.value };
            break;
          }
        }
      }
    }
  }
  return merged;
}
