// `.llmops-up.yaml`: what `llmops up` prepares in the working tree before it syncs a directory —
// today, base models made from a config (llmops-create-model: a tokenizer trained on a dataset
// and a randomly initialised tiny Llama, nothing downloaded). It is a tool-settings dot-file, as
// .github/ is: `llmops validate` and git sync skip dot-files, so it never reaches the cluster.
//
//   models:
//     - path: .llmops/models/tiny-llama          # relative to the working tree (--local-root)
//       create:
//         data: examples/local/data/tickets-train.jsonl
//         layers: 2                               # optional: vocabSize, hiddenSize, layers, heads, maxPositions, seed
//
// A model whose directory already holds a config.json is left alone, so this runs once.
import { isAbsolute } from "node:path";
import { parseDocument } from "yaml";

export const prepareFileName = ".llmops-up.yaml";

export interface ModelToCreate {
  /** Where the model goes, relative to the working tree (or absolute). */
  path: string;
  /** The dataset the tokenizer is trained on. */
  data: string;
  /** Extra llmops-create-model flags, e.g. ["--layers", "2"]. */
  args: string[];
}

export interface PreparePlan {
  models: ModelToCreate[];
}

export class PrepareFileError extends Error {
  override name = "PrepareFileError";
}

const createOptions: Record<string, string> = {
  vocabSize: "--vocab-size",
  hiddenSize: "--hidden-size",
  layers: "--layers",
  heads: "--heads",
  maxPositions: "--max-positions",
  seed: "--seed",
};

/** Parses the file; every problem is reported as `file: field: what is wrong` and nothing runs. */
export function parsePrepareFile(text: string, file: string): PreparePlan {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new PrepareFileError(`${file}: not valid YAML: ${doc.errors[0]?.message ?? ""}`);
  }
  const value: unknown = doc.toJS();
  const problems: string[] = [];
  const models: ModelToCreate[] = [];
  if (value === null || value === undefined) return { models };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new PrepareFileError(`${file}: expected a mapping with a models list`);
  }
  const top = value as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (key !== "models") problems.push(`${key}: unknown field (the file has only models)`);
  }
  const list = top.models ?? [];
  if (!Array.isArray(list)) {
    problems.push("models: expected a list of {path, create}");
  } else {
    list.forEach((entry: unknown, i) => {
      const at = `models[${String(i)}]`;
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        problems.push(`${at}: expected a mapping with path and create`);
        return;
      }
      const model = entry as Record<string, unknown>;
      const path = model.path;
      if (typeof path !== "string" || path.trim() === "") {
        problems.push(`${at}.path: required, the model directory (relative to the working tree)`);
      }
      for (const key of Object.keys(model)) {
        if (key !== "path" && key !== "create") problems.push(`${at}.${key}: unknown field`);
      }
      const create = model.create;
      if (typeof create !== "object" || create === null || Array.isArray(create)) {
        problems.push(`${at}.create: required, with data: the dataset to train the tokenizer on`);
        return;
      }
      const options = create as Record<string, unknown>;
      const data = options.data;
      if (typeof data !== "string" || data.trim() === "") {
        problems.push(
          `${at}.create.data: required, a JSONL dataset (relative to the working tree)`,
        );
      }
      const args: string[] = [];
      for (const [key, option] of Object.entries(options)) {
        if (key === "data") continue;
        const flag = createOptions[key];
        if (flag === undefined) {
          problems.push(
            `${at}.create.${key}: unknown field (use data, ${Object.keys(createOptions).join(", ")})`,
          );
          continue;
        }
        if (typeof option !== "number" || !Number.isInteger(option) || option < 0) {
          problems.push(`${at}.create.${key}: expected a non-negative integer`);
          continue;
        }
        args.push(flag, String(option));
      }
      if (typeof path === "string" && typeof data === "string" && path.trim() !== "") {
        if (path.split(/[\\/]/).includes("..") && !isAbsolute(path)) {
          problems.push(`${at}.path: must stay inside the working tree (no ..)`);
          return;
        }
        models.push({ path, data, args });
      }
    });
  }
  if (problems.length > 0) {
    throw new PrepareFileError(`${file}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
  return { models };
}
