// A revision as a whole: every manifest file under a source's paths at one commit (or in a
// working tree), validated together with the same code as `llmops validate`, and turned into the
// objects to apply. Pure: no I/O; the caller reads the files.
import type { CrdSet } from "../api/crds.js";
import {
  validateManifests,
  type ManifestInput,
  type ManifestProblem,
  type ManifestReport,
} from "../api/manifests/validate-manifests.js";
import { parseManifestSource } from "../api/manifests/yaml-source.js";
import type { ObjectValidator } from "../api/validation/object-validator.js";
import type { KubeObject, ResourceType } from "../kube/resources.js";
import { contentHash } from "../runtime/hash.js";
import { pathAnnotation, revisionAnnotation, sourceAnnotation } from "../api/well-known.js";

const manifestFile = /\.(ya?ml|json)$/i;

/**
 * Whether `file` (repository-relative, `/`-separated) is read for a source with `paths`: the
 * same selection `llmops validate` makes when walking a directory (manifest extensions; no
 * hidden directories, no node_modules).
 */
export function isManifestPath(file: string, paths: readonly string[]): boolean {
  if (!manifestFile.test(file)) return false;
  const segments = file.split("/");
  if (segments.slice(0, -1).some((s) => s.startsWith(".") || s === "node_modules")) return false;
  return paths.some((p) => {
    const prefix = p.replace(/^\.\//, "").replace(/\/+$/, "");
    return prefix === "" || prefix === "." || file === prefix || file.startsWith(`${prefix}/`);
  });
}

/** An object to apply, with where it came from. */
export interface DesiredObject {
  type: ResourceType;
  /** The manifest as written, plus namespace and the gitsync annotations. */
  object: KubeObject & { metadata: { name: string; namespace: string } };
  file: string;
  line: number;
  /** Hash of the manifest as written (without gitsync's annotations): what "changed" means. */
  hash: string;
}

export interface LoadedRevision {
  revision: string;
  report: ManifestReport;
  /** Error findings; empty when the revision may be applied. */
  errors: ManifestProblem[];
  objects: DesiredObject[];
  /** Objects of other APIs: not applied by gitsync (Flux, Argo CD or kubectl own those). */
  skipped: { file: string; line: number; kind: string; name: string }[];
}

export interface LoadRevisionOptions {
  source: string;
  revision: string;
  /** For objects whose manifest names no namespace. */
  defaultNamespace: string;
}

/** Resource type of one of our kinds, from its CRD. */
export function resourceTypeFor(crds: CrdSet, apiVersion: string, kind: string): ResourceType {
  const crd = crds.find(apiVersion, kind);
  if (crd === undefined) throw new Error(`${apiVersion} ${kind} is not a kind in crds/`);
  return {
    apiVersion: crd.apiVersion,
    kind: crd.kind,
    plural: crd.plural,
    namespaced: crd.namespaced,
  };
}

/** Validates every file together; when valid, returns the objects to apply. */
export function loadRevision(
  inputs: readonly ManifestInput[],
  validator: ObjectValidator,
  options: LoadRevisionOptions,
): LoadedRevision {
  const report = validateManifests(inputs, validator);
  const errors = report.problems.filter((p) => p.severity === "error");
  const verdicts = new Map(
    report.objects.map((o) => [`${o.file}:${String(o.line)}:${String(o.col)}`, o]),
  );
  const objects: DesiredObject[] = [];
  const skipped: LoadedRevision["skipped"] = [];
  if (errors.length > 0) return { revision: options.revision, report, errors, objects, skipped };

  for (const input of inputs) {
    for (const parsed of parseManifestSource(input.file, input.text).objects) {
      const at = `${parsed.file}:${String(parsed.position.line)}:${String(parsed.position.col)}`;
      const verdict = verdicts.get(at);
      const value = parsed.value as KubeObject;
      if (verdict?.status !== "checked") {
        skipped.push({
          file: parsed.file,
          line: parsed.position.line,
          kind: typeof value.kind === "string" ? value.kind : "",
          name: typeof value.metadata?.name === "string" ? value.metadata.name : "",
        });
        continue;
      }
      const type = resourceTypeFor(validator.crds, String(value.apiVersion), String(value.kind));
      const metadata = value.metadata ?? {};
      const namespace = type.namespaced ? (metadata.namespace ?? options.defaultNamespace) : "";
      const object = {
        ...value,
        metadata: {
          ...metadata,
          name: String(metadata.name),
          namespace,
          labels: { ...metadata.labels, [sourceAnnotation]: options.source },
          annotations: {
            ...metadata.annotations,
            [sourceAnnotation]: options.source,
            [revisionAnnotation]: options.revision,
            [pathAnnotation]: parsed.file,
          },
        },
      };
      objects.push({
        type,
        object,
        file: parsed.file,
        line: parsed.position.line,
        hash: contentHash({ ...value, metadata: { ...metadata, namespace } }),
      });
    }
  }
  return { revision: options.revision, report, errors, objects, skipped };
}

/** `Prompt team-a/triage`: how objects are named in messages, inventory keys and the CLI. */
export function objectId(ref: { kind: string; namespace: string; name: string }): string {
  return `${ref.kind} ${ref.namespace === "" ? "" : `${ref.namespace}/`}${ref.name}`;
}
