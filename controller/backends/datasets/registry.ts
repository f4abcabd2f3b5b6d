// The dataset sources, keyed by their spec.dataset field: a new source is a new file and one row
// here, never another `if` in the reconciler.
import type { ExperimentDataset } from "../../api/generated/index.js";
import { configMapDataset } from "./configmap.js";
import { huggingFaceDataset } from "./huggingface.js";
import { inlineDataset } from "./inline.js";
import { DatasetError } from "./items.js";
import { langfuseDataset } from "./langfuse.js";
import type { DatasetProvider, DatasetSource, DatasetSourceField } from "./source.js";

const providers: { [F in DatasetSourceField]: DatasetProvider<F> } = {
  inline: inlineDataset,
  configMap: configMapDataset,
  huggingFace: huggingFaceDataset,
  langfuse: langfuseDataset,
};

/** The source `dataset` names (the CRD allows exactly one); DatasetError when it names none. */
export function datasetSourceFor(dataset: ExperimentDataset): DatasetSource {
  for (const field of Object.keys(providers) as DatasetSourceField[]) {
    const source = sourceOf(field, dataset);
    if (source !== undefined) return source;
  }
  throw new DatasetError("spec.dataset: set one of inline, configMap, huggingFace or langfuse");
}

// F ties the field to its provider's spec type: a correlated union, which the loop cannot express.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
function sourceOf<F extends DatasetSourceField>(
  field: F,
  dataset: ExperimentDataset,
): DatasetSource | undefined {
  const spec = dataset[field];
  if (spec === undefined) return undefined;
  const provider: DatasetProvider<F> = providers[field];
  return provider(spec, { limit: dataset.limit });
}
