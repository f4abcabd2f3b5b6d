// Which fields of the four kinds name another llmops object. The controller watches and indexes
// these; `llmops validate` warns when the named object is in none of the files it was given.
import type { FieldPath } from "./validation/field-path.js";

/** A reference from one object to another of our kinds, in the same namespace. */
export interface ObjectReference {
  /** Field that holds the name, relative to the referring object. */
  path: FieldPath;
  kind: "Prompt" | "Experiment" | "TrainingJob";
  name: string;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function nameAt(value: unknown): string | undefined {
  const name = asRecord(value)?.name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** The references `object` (any llmops kind) makes; tolerant of invalid or partial objects. */
export function listReferences(kind: string, object: unknown): ObjectReference[] {
  const spec = asRecord(asRecord(object)?.spec);
  if (spec === undefined) return [];
  const out: ObjectReference[] = [];
  if (kind === "Experiment") {
    asList(spec.variants).forEach((variant, i) => {
      const name = nameAt(asRecord(variant)?.prompt);
      if (name !== undefined) {
        out.push({ path: ["spec", "variants", i, "prompt", "name"], kind: "Prompt", name });
      }
    });
  }
  if (kind === "ModelDeployment") {
    const training = nameAt(asRecord(spec.model)?.trainingJobRef);
    if (training !== undefined) {
      out.push({
        path: ["spec", "model", "trainingJobRef", "name"],
        kind: "TrainingJob",
        name: training,
      });
    }
    const canary = asRecord(asRecord(spec.strategy)?.canary);
    asList(asRecord(canary?.analysis)?.metrics).forEach((metric, i) => {
      const name = nameAt(asRecord(metric)?.experiment);
      if (name !== undefined) {
        out.push({
          path: ["spec", "strategy", "canary", "analysis", "metrics", i, "experiment", "name"],
          kind: "Experiment",
          name,
        });
      }
    });
  }
  return out;
}
