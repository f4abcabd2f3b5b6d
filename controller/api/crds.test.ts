// House rules for crds/ that the apiserver does not enforce but users and the CEL cost
// estimator depend on.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import { loadCrds, type CrdVersion } from "./crds.js";
import type { OpenApiSchema } from "./schema.js";

const crds = await loadCrds();

function walk(
  schema: OpenApiSchema,
  path: string,
  visit: (s: OpenApiSchema, path: string) => void,
) {
  visit(schema, path);
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    walk(prop, `${path}.${name}`, visit);
  }
  if (schema.items !== undefined) walk(schema.items, `${path}[]`, visit);
  if (typeof schema.additionalProperties === "object") {
    walk(schema.additionalProperties, `${path}{}`, visit);
  }
}

function eachKind(fn: (crd: CrdVersion) => void) {
  return () => {
    for (const crd of crds.versions) fn(crd);
  };
}

describe("crds/", () => {
  it("declares the four kinds in llmops.dev/v1alpha1, namespaced, in the llmops category", () => {
    expect(crds.versions.map((v) => `${v.apiVersion} ${v.kind}`).sort()).toEqual([
      "llmops.dev/v1alpha1 Experiment",
      "llmops.dev/v1alpha1 ModelDeployment",
      "llmops.dev/v1alpha1 Prompt",
      "llmops.dev/v1alpha1 TrainingJob",
    ]);
    for (const crd of crds.versions) {
      expect(crd.namespaced).toBe(true);
      expect(crd.categories).toContain("llmops");
      expect(crd.shortNames.length).toBeGreaterThan(0);
      expect(crd.hasStatusSubresource).toBe(true);
    }
  });

  it(
    "describes every field (so `kubectl explain` is useful)",
    eachKind((crd) => {
      const missing: string[] = [];
      walk(crd.schema, crd.kind, (s, path) => {
        const isPlainItem = path.endsWith("[]") && s.type !== "object";
        if (
          s.description === undefined &&
          !isPlainItem &&
          !path.endsWith(".metadata") &&
          !path.endsWith("{}")
        ) {
          missing.push(path);
        }
      });
      expect(missing).toEqual([]);
    }),
  );

  it(
    "bounds every list and every string that CEL may read (the apiserver estimates rule cost from them)",
    eachKind((crd) => {
      const unbounded: string[] = [];
      walk(crd.schema, crd.kind, (s, path) => {
        if (s.type === "array" && s.maxItems === undefined) unbounded.push(path);
        const isStatus = path.startsWith(`${crd.kind}.status`);
        if (s.type === "string" && !isStatus && s.maxLength === undefined && s.enum === undefined) {
          if (!/\.(apiVersion|kind)$/.test(path)) unbounded.push(path);
        }
      });
      expect(unbounded).toEqual([]);
    }),
  );

  it(
    "has kstatus conditions as a list-map keyed by type, and Ready/Age printer columns",
    eachKind((crd) => {
      const conditions = crd.schema.properties?.status?.properties?.conditions;
      expect(conditions?.["x-kubernetes-list-type"]).toBe("map");
      expect(conditions?.["x-kubernetes-list-map-keys"]).toEqual(["type"]);
      const doc = parse(readFileSync(crd.file, "utf8")) as {
        spec: { versions: { additionalPrinterColumns: { name: string; jsonPath: string }[] }[] };
      };
      const columns = doc.spec.versions[0]?.additionalPrinterColumns ?? [];
      expect(columns[0]).toMatchObject({
        name: "Ready",
        jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      });
      expect(columns[columns.length - 1]).toMatchObject({ name: "Age" });
      expect(columns.length).toBeGreaterThanOrEqual(3);
    }),
  );

  it(
    "references Secrets by name and key only",
    eachKind((crd) => {
      walk(crd.schema, crd.kind, (s, path) => {
        if (/SecretRef$|secretKeyRef$|\.secretRef$/.test(path)) {
          expect(Object.keys(s.properties ?? {}).sort(), path).toEqual(["key", "name"]);
          expect(s.required?.sort(), path).toEqual(["key", "name"]);
        }
        expect(path, "no field holds a credential inline").not.toMatch(
          /\.(apiKey|token|password|secret)$/i,
        );
      });
    }),
  );
});
