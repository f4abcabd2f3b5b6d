// metadata checks the apiserver makes on every object, whatever its schema
// (k8s.io/apimachinery/pkg/api/validation ValidateObjectMeta with NameIsDNSSubdomain, which is
// what custom resources use), plus strict decoding of ObjectMeta's fields.
import type { FieldPath, FieldProblem } from "./field-path.js";
import type { Json } from "./structural.js";

const dns1123SubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123LabelRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const qualifiedNameRe = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const totalAnnotationSizeLimit = 256 * 1024;

/** ObjectMeta fields a manifest may carry; anything else is an unknown field. */
const knownFields = new Set([
  "name",
  "generateName",
  "namespace",
  "labels",
  "annotations",
  "finalizers",
  "ownerReferences",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
]);

/** Fields the server owns; in a manifest in git they are leftovers of `kubectl get -o yaml`. */
const serverOwnedFields = new Set([
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
]);

function isMapping(value: Json | undefined): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why `name` is not a DNS-1123 subdomain, or undefined when it is one. */
export function dns1123SubdomainProblem(name: string): string | undefined {
  if (name.length > 253)
    return `must be at most 253 characters long (it has ${String(name.length)})`;
  if (!dns1123SubdomainRe.test(name)) {
    return (
      `${JSON.stringify(name)} is not a valid name: use lowercase letters, digits, '-' and '.', ` +
      `starting and ending with a letter or digit (a DNS-1123 subdomain, such as support-triage)`
    );
  }
  return undefined;
}

function dns1123LabelProblem(name: string): string | undefined {
  if (name.length > 63) return `must be at most 63 characters long (it has ${String(name.length)})`;
  if (!dns1123LabelRe.test(name)) {
    return (
      `${JSON.stringify(name)} is not a valid namespace: use lowercase letters, digits and '-', ` +
      `starting and ending with a letter or digit (a DNS-1123 label)`
    );
  }
  return undefined;
}

function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return `${JSON.stringify(key)} is not a valid key: use at most one '/'`;
  const [prefixOrName, maybeName] = parts as [string, string | undefined];
  const name = maybeName ?? prefixOrName;
  if (maybeName !== undefined) {
    if (prefixOrName === "")
      return `${JSON.stringify(key)} is not a valid key: the prefix before '/' is empty`;
    if (dns1123SubdomainProblem(prefixOrName) !== undefined) {
      return `${JSON.stringify(key)} is not a valid key: the prefix must be a DNS subdomain, such as example.com`;
    }
  }
  if (name.length === 0 || name.length > 63 || !qualifiedNameRe.test(name)) {
    return (
      `${JSON.stringify(key)} is not a valid key: the name part must be 1 to 63 letters, digits, '-', '_' ` +
      `or '.', starting and ending with a letter or digit, optionally after a DNS prefix and '/'`
    );
  }
  return undefined;
}

const stringFields = ["generateName", "uid", "resourceVersion", "selfLink"] as const;
const integerFields = ["generation", "deletionGracePeriodSeconds"] as const;
const timeFields = ["creationTimestamp", "deletionTimestamp"] as const;
// Go's time.RFC3339, which metav1.Time decodes with.
const rfc3339Re = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ownerReferenceFields = new Set([
  "apiVersion",
  "kind",
  "name",
  "uid",
  "controller",
  "blockOwnerDeletion",
]);

/** ObjectMeta decodes into typed Go fields: a value of the wrong type fails the whole object. */
function checkFieldTypes(
  metadata: Record<string, Json>,
  add: (path: FieldPath, message: string) => void,
): void {
  for (const field of stringFields) {
    const v = metadata[field];
    if (v !== undefined && v !== null && typeof v !== "string") add([field], "must be a string");
  }
  for (const field of integerFields) {
    const v = metadata[field];
    if (v !== undefined && v !== null && !(typeof v === "number" && Number.isInteger(v))) {
      add([field], "must be a whole number");
    }
  }
  for (const field of timeFields) {
    const v = metadata[field];
    if (v !== undefined && v !== null && !(typeof v === "string" && rfc3339Re.test(v))) {
      add([field], "must be an RFC 3339 time such as 2025-01-31T12:00:00Z, or be left out");
    }
  }
  const managed = metadata.managedFields;
  if (managed !== undefined && managed !== null) {
    add(
      ["managedFields"],
      "must not be set: server-side apply refuses it; remove metadata.managedFields",
    );
  }
  const owners = metadata.ownerReferences;
  if (owners === undefined || owners === null) return;
  if (!Array.isArray(owners)) {
    add(["ownerReferences"], "must be a list");
    return;
  }
  owners.forEach((ref, i) => {
    if (!isMapping(ref)) {
      add(["ownerReferences", i], "must be a mapping with apiVersion, kind, name and uid");
      return;
    }
    for (const key of Object.keys(ref)) {
      if (!ownerReferenceFields.has(key)) {
        add(["ownerReferences", i, key], `unknown field ${JSON.stringify(key)}`);
      }
    }
    for (const key of ["apiVersion", "kind", "name", "uid"]) {
      const v = ref[key];
      if (typeof v !== "string" || v === "")
        add(["ownerReferences", i, key], "required; must not be empty");
    }
  });
}

/** Checks metadata the way the apiserver does on create, for a namespaced or cluster kind. */
export function checkObjectMeta(
  metadata: Json | undefined,
  options: { namespaced: boolean },
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (path: FieldPath, message: string, severity: FieldProblem["severity"] = "error") => {
    problems.push({ severity, path: ["metadata", ...path], message, source: "metadata" });
  };
  if (metadata === undefined || metadata === null) {
    problems.push({
      severity: "error",
      path: ["metadata"],
      message: "required field is missing; add metadata with at least a name",
      source: "metadata",
    });
    return problems;
  }
  if (!isMapping(metadata)) {
    add([], "must be a mapping with name (and optionally namespace, labels, annotations)");
    return problems;
  }

  for (const key of Object.keys(metadata)) {
    if (!knownFields.has(key))
      add([key], `unknown field ${JSON.stringify(key)} in metadata; remove it`);
    else if (serverOwnedFields.has(key) && metadata[key] !== null && key !== "managedFields") {
      add([key], `is set by the apiserver; remove it from the manifest`, "warning");
    }
  }
  checkFieldTypes(metadata, add);

  const name = metadata.name;
  if (name === undefined || name === null || name === "") {
    add(["name"], "required field is missing; every object in git needs metadata.name");
  } else if (typeof name !== "string") {
    add(["name"], "must be a string");
  } else {
    const why = dns1123SubdomainProblem(name);
    if (why !== undefined) add(["name"], why);
  }

  const namespace = metadata.namespace;
  if (namespace !== undefined && namespace !== null && namespace !== "") {
    if (typeof namespace !== "string") add(["namespace"], "must be a string");
    else if (!options.namespaced) add(["namespace"], "is not allowed: this kind is cluster-scoped");
    else {
      const why = dns1123LabelProblem(namespace);
      if (why !== undefined) add(["namespace"], why);
    }
  }

  for (const field of ["labels", "annotations"] as const) {
    const map = metadata[field];
    if (map === undefined || map === null) continue;
    if (!isMapping(map)) {
      add([field], "must be a mapping of string keys to string values");
      continue;
    }
    let total = 0;
    for (const [key, value] of Object.entries(map)) {
      const keyProblem = qualifiedNameProblem(key);
      if (keyProblem !== undefined) add([field, key], keyProblem);
      if (typeof value !== "string") {
        add([field, key], `must be a string; quote it ("${JSON.stringify(value)}")`);
        continue;
      }
      total += key.length + value.length;
      if (field === "labels" && (value.length > 63 || !labelValueRe.test(value))) {
        add(
          [field, key],
          `${JSON.stringify(value)} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', ` +
            `starting and ending with a letter or digit`,
        );
      }
    }
    if (field === "annotations" && total > totalAnnotationSizeLimit) {
      add(
        [field],
        `annotations may hold at most 256 KiB in total (they hold ${String(total)} bytes)`,
      );
    }
  }

  const finalizers = metadata.finalizers;
  if (finalizers !== undefined && finalizers !== null) {
    if (!Array.isArray(finalizers)) add(["finalizers"], "must be a list of strings");
    else {
      finalizers.forEach((f, i) => {
        if (typeof f !== "string") add(["finalizers", i], "must be a string");
        else {
          const why = qualifiedNameProblem(f);
          if (why !== undefined) add(["finalizers", i], why);
        }
      });
    }
  }
  return problems;
}
