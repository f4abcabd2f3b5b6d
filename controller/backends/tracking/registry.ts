// The tracking providers, keyed by their spec.tracking field: a new provider is a new file and one
// row here, never another `if` in the reconciler.
import type { ExperimentTracking } from "../../api/generated/index.js";
import { langfuseProvider, type LangfuseClientFactory } from "./langfuse-run-tracker.js";
import { mlflowProvider, type MlflowClientFactory } from "./mlflow-run-tracker.js";
import type { RunTracker, TrackerContext, TrackerProvider, TrackingField } from "./tracking.js";

/** Clients the providers build by default, replaced (tests, other transports). */
export interface TrackerOptions {
  mlflowFor?: MlflowClientFactory;
  langfuseFor?: LangfuseClientFactory;
}

/** A tracker spec.tracking asks for, not opened yet. */
export interface ConfiguredTracker {
  /** How its failures are prefixed, e.g. `MLflow`. */
  label: string;
  /** Builds the tracker, reading its Secrets. */
  open(context: TrackerContext): Promise<RunTracker>;
}

type TrackerProviders = { [F in TrackingField]: TrackerProvider<F> };

function providers(options: TrackerOptions): TrackerProviders {
  return {
    mlflow: mlflowProvider(options.mlflowFor),
    langfuse: langfuseProvider(options.langfuseFor),
  };
}

/** The trackers `tracking` configures, in the table's order (MLflow, then Langfuse). */
export function trackersFor(
  tracking: ExperimentTracking,
  options: TrackerOptions = {},
): ConfiguredTracker[] {
  const table = providers(options);
  return (Object.keys(table) as TrackingField[]).flatMap((field) =>
    configured(table, field, tracking),
  );
}

// F ties the field to its provider's spec type: a correlated union, which the loop cannot express.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
function configured<F extends TrackingField>(
  table: TrackerProviders,
  field: F,
  tracking: ExperimentTracking,
): ConfiguredTracker[] {
  const spec = tracking[field];
  if (spec === undefined) return [];
  const provider = table[field];
  return [{ label: provider.label, open: (context) => provider.open(spec, context) }];
}
