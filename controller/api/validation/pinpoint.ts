// The apiserver reports a failed CEL rule at the node that carries it (a list, say), but the
// reader has to change one entry of it: the duplicate name, the second `control: true`, the step
// whose weight goes down. For the rule shapes the CRDs use, this finds those entries, so that
// `llmops validate` can point at the line to change as well (and GitHub annotations land on it).
// Only locations come from here; whether the object is valid is decided by the CEL rule alone.
import type { FieldPath } from "./field-path.js";
import type { Json } from "./structural.js";

/** An entry a failed rule is about, with what is wrong with it. */
export interface Pinpoint {
  path: FieldPath;
  detail: string;
}

type Mapping = Record<string, Json>;

function isMapping(value: Json | undefined): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function at(value: Json | undefined, dotted: string): Json | undefined {
  let node = value;
  for (const key of dotted.split(".")) {
    if (!isMapping(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function show(value: Json | undefined): string {
  return JSON.stringify(value ?? null);
}

function pathText(path: FieldPath): string {
  return path
    .map((s) => (typeof s === "number" ? `[${String(s)}]` : `.${s}`))
    .join("")
    .slice(1);
}

const uniqueRe = /^self\.all\((\w+), self\.exists_one\((\w+), \2\.(\w+) == \1\.\3\)\)$/;
const onlyOneFlaggedRe = /^self\.filter\((\w+), \1\.(\w+)\)\.size\(\) == 1$/;
const nonDecreasingRe =
  /^self\.filter\((\w+), has\(\1\.(\w+)\)\)\.map\(\1, \1\.\2\)\.isSorted\(\)$/;
const exactlyOneCountRe = /^(\(has\(self\.\w+\) \? 1 : 0\)( \+ )?)+ == 1$/;
const exactlyOneOfTwoRe = /^has\(self\.(\w+)\) != has\(self\.(\w+)\)$/;
const nestedReferencesRe =
  /^!has\(self\.(\w+)\) \|\| self\.(\w+)\.all\((\w+), !has\(\3\.(\w+)\) \|\| \3\.\4\.(\w+)\.all\((\w+), self\.\1\.(\w+)\.exists\((\w+), \8\.(\w+) == \6\)\)\)$/;
const referencesRe =
  /^(?:!has\(self\.[\w.]+\) \|\| )*self\.([\w.]+)\.all\((\w+), self\.([\w.]+)\.exists\((\w+), \4\.(\w+) == \2\.(\w+)\)\)$/;

const selfReferenceRe = /\bself((?:\.[A-Za-z_]\w*)+)/g;

/**
 * For a rule reported at a `fieldPath`, the other scalar fields it compares that field with
 * (`maxCostUSD` for a rule about `warnAtCostUSD`, `method` for one about `dataset.format`): the
 * reader may have to change either, so both are pointed at.
 */
export function comparedFields(
  rule: string,
  self: Json,
  path: FieldPath,
  fieldPath: FieldPath,
): Pinpoint[] {
  const target = fieldPath.join(".");
  const seen = new Set<string>([target]);
  const out: Pinpoint[] = [];
  for (const match of rule.matchAll(selfReferenceRe)) {
    const dotted = (match[1] ?? "").slice(1);
    if (seen.has(dotted)) continue;
    seen.add(dotted);
    const value = at(self, dotted);
    if (value === undefined || value === null || typeof value === "object") continue;
    out.push({ path: [...path, ...dotted.split(".")], detail: "" });
  }
  return out;
}

/** Entries of `self` (the value at `path`) that made `rule` fail, when the rule's shape says. */
export function pinpoint(rule: string, self: Json, path: FieldPath): Pinpoint[] {
  const text = rule.replace(/\s+/g, " ").trim();
  let m: RegExpExecArray | null;

  if ((m = uniqueRe.exec(text)) !== null && Array.isArray(self)) {
    const field = m[3] ?? "";
    const first = new Map<string, number>();
    const out: Pinpoint[] = [];
    self.forEach((item, i) => {
      if (!isMapping(item) || item[field] === undefined) return;
      const key = show(item[field]);
      const earlier = first.get(key);
      if (earlier === undefined) first.set(key, i);
      else {
        out.push({
          path: [...path, i, field],
          detail: `${key} is already used by ${pathText([...path, earlier])}`,
        });
      }
    });
    return out;
  }

  if ((m = onlyOneFlaggedRe.exec(text)) !== null && Array.isArray(self)) {
    const field = m[2] ?? "";
    const flagged = self.flatMap((item, i) => (isMapping(item) && item[field] === true ? [i] : []));
    const [firstFlagged, ...others] = flagged;
    return others.map((i) => ({
      path: [...path, i, field],
      detail: `${pathText([...path, firstFlagged ?? 0])} is already marked ${field}`,
    }));
  }

  if ((m = nonDecreasingRe.exec(text)) !== null && Array.isArray(self)) {
    const field = m[2] ?? "";
    let previous: { value: number; index: number } | undefined;
    for (const [i, item] of self.entries()) {
      const value = isMapping(item) ? item[field] : undefined;
      if (typeof value !== "number") continue;
      if (previous !== undefined && value < previous.value) {
        return [
          {
            path: [...path, i, field],
            detail: `${String(value)} is below ${String(previous.value)} at ${pathText([...path, previous.index, field])}`,
          },
        ];
      }
      previous = { value, index: i };
    }
    return [];
  }

  const members =
    exactlyOneCountRe.test(text) || exactlyOneOfTwoRe.test(text)
      ? [...text.matchAll(/has\(self\.(\w+)\)/g)].map((x) => x[1] ?? "")
      : [];
  if (members.length > 0 && isMapping(self)) {
    const set = members.filter((name) => self[name] !== undefined);
    const [kept, ...extra] = set;
    return extra.map((name) => ({
      path: [...path, name],
      detail: `${String(kept)} is set as well; keep one of ${members.join(", ")}`,
    }));
  }

  if ((m = nestedReferencesRe.exec(text)) !== null && isMapping(self)) {
    // steps[i].analysis.metrics[j] must name one of analysis.metrics[].name
    const [, defs = "", list = "", , inner = "", names = "", , defList = "", , defField = ""] = m;
    const defined = at(self, `${defs}.${defList}`);
    const entries = at(self, list);
    if (!Array.isArray(defined) || !Array.isArray(entries)) return [];
    const known = new Set(defined.map((d) => (isMapping(d) ? show(d[defField]) : "")));
    const out: Pinpoint[] = [];
    entries.forEach((entry, i) => {
      const named = at(entry, `${inner}.${names}`);
      if (!Array.isArray(named)) return;
      named.forEach((n, j) => {
        if (!known.has(show(n))) {
          out.push({
            path: [...path, list, i, inner, names, j],
            detail: `${show(n)} is not defined in ${pathText([...path, defs, defList])}`,
          });
        }
      });
    });
    return out;
  }

  if ((m = referencesRe.exec(text)) !== null && isMapping(self)) {
    const [, listPath = "", , targetPath = "", , targetField = "", field = ""] = m;
    const list = at(self, listPath);
    const targets = at(self, targetPath);
    if (!Array.isArray(list) || !Array.isArray(targets)) return [];
    const known = new Set(targets.map((t) => (isMapping(t) ? show(t[targetField]) : "")));
    const out: Pinpoint[] = [];
    list.forEach((item, i) => {
      if (!isMapping(item) || item[field] === undefined || known.has(show(item[field]))) return;
      out.push({
        path: [...path, ...listPath.split("."), i, field],
        detail: `${show(item[field])} is not a ${targetField} in ${pathText([...path, ...targetPath.split(".")])}`,
      });
    });
    return out;
  }
  return [];
}
