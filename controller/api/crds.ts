import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { OpenApiSchema } from "./schema.js";

/** One served version of one kind, as declared by a CustomResourceDefinition in crds/. */
export interface CrdVersion {
  group: string;
  version: string;
  /** `group/version`, as written in manifests. */
  apiVersion: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
  categories: readonly string[];
  namespaced: boolean;
  hasStatusSubresource: boolean;
  /** The version's openAPIV3Schema: the single source of truth for the kind's shape. */
  schema: OpenApiSchema;
  /** File the CRD was read from. */
  file: string;
}

/** The kinds declared by a set of CRDs, looked up the way manifests name them. */
export interface CrdSet {
  readonly versions: readonly CrdVersion[];
  /** The groups the set declares (llmops.dev): an unknown kind in them is an error, not a note. */
  readonly groups: ReadonlySet<string>;
  find(apiVersion: string, kind: string): CrdVersion | undefined;
}

/** A CRD file that cannot be read or is not a usable CustomResourceDefinition. */
export class CrdLoadError extends Error {
  constructor(
    message: string,
    readonly file: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${message}`, options);
    this.name = "CrdLoadError";
  }
}

/**
 * crds/ at the package root. Resolved from this module so that it works from the TypeScript
 * sources (controller/api/) and from the build (dist/api/) alike.
 */
export function defaultCrdDirectory(): string {
  return fileURLToPath(new URL("../../crds/", import.meta.url));
}

/** Reads every CustomResourceDefinition in `directory` (*.yaml, *.yml). */
export async function loadCrds(directory: string = defaultCrdDirectory()): Promise<CrdSet> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (err: unknown) {
    throw new CrdLoadError("cannot read the CRD directory", directory, { cause: err });
  }
  const files = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  const versions: CrdVersion[] = [];
  for (const name of files) {
    const file = join(directory, name);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err: unknown) {
      throw new CrdLoadError("cannot read the file", file, { cause: err });
    }
    versions.push(...parseCrdFile(file, text));
  }
  return createCrdSet(versions);
}

/** Builds the lookup over already-parsed CRD versions. */
export function createCrdSet(versions: readonly CrdVersion[]): CrdSet {
  const byKey = new Map(versions.map((v) => [`${v.apiVersion}/${v.kind}`, v]));
  return {
    versions,
    groups: new Set(versions.map((v) => v.group)),
    find: (apiVersion, kind) => byKey.get(`${apiVersion}/${kind}`),
  };
}

interface CrdDocument {
  kind?: unknown;
  spec?: {
    group?: string;
    scope?: string;
    names?: {
      kind?: string;
      listKind?: string;
      plural?: string;
      singular?: string;
      shortNames?: string[];
      categories?: string[];
    };
    versions?: {
      name?: string;
      served?: boolean;
      subresources?: { status?: unknown };
      schema?: { openAPIV3Schema?: OpenApiSchema };
    }[];
  };
}

/** Parses the CustomResourceDefinitions of one file; other documents are ignored. */
export function parseCrdFile(file: string, text: string): CrdVersion[] {
  const out: CrdVersion[] = [];
  for (const doc of parseAllDocuments(text)) {
    const first = doc.errors[0];
    if (first !== undefined) {
      throw new CrdLoadError(`invalid YAML: ${first.message}`, file, { cause: first });
    }
    const crd = doc.toJS() as CrdDocument | null;
    if (crd?.kind !== "CustomResourceDefinition") continue;
    const spec = crd.spec;
    const names = spec?.names;
    if (
      spec?.group === undefined ||
      names?.kind === undefined ||
      names.plural === undefined ||
      spec.versions === undefined
    ) {
      throw new CrdLoadError("CustomResourceDefinition lacks spec.group, names or versions", file);
    }
    for (const version of spec.versions) {
      if (version.served === false) continue;
      const schema = version.schema?.openAPIV3Schema;
      if (version.name === undefined || schema === undefined) {
        throw new CrdLoadError(
          `version ${version.name ?? "?"} of ${names.kind} has no openAPIV3Schema`,
          file,
        );
      }
      out.push({
        group: spec.group,
        version: version.name,
        apiVersion: `${spec.group}/${version.name}`,
        kind: names.kind,
        listKind: names.listKind ?? `${names.kind}List`,
        plural: names.plural,
        singular: names.singular ?? names.kind.toLowerCase(),
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        namespaced: spec.scope !== "Cluster",
        hasStatusSubresource: version.subresources?.status !== undefined,
        schema,
        file,
      });
    }
  }
  return out;
}
