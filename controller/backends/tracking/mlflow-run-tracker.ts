// spec.tracking.mlflow as a RunTracker: one MLflow run per variant (params, metrics, tags) under
// the experiment spec.tracking.mlflow.experimentName, by default the Experiment's namespace/name.
import { readSecretValue } from "../../kube/secrets.js";
import { MlflowTracker, type ExperimentTracker } from "./mlflow.js";
import type { TrackerProvider } from "./tracking.js";

/** Builds the MLflow client for a tracking server and its token; tests may pass their own. */
export type MlflowClientFactory = (options: {
  trackingURI: string;
  token: string | null;
}) => ExperimentTracker;

/** The provider of spec.tracking.mlflow; `clientFor` defaults to the REST client. */
export function mlflowProvider(
  clientFor: MlflowClientFactory = (options) => new MlflowTracker(options),
): TrackerProvider<"mlflow"> {
  return {
    label: "MLflow",
    async open(spec, { client, namespace }) {
      const token = spec.tokenSecretRef
        ? await readSecretValue(
            client,
            namespace,
            spec.tokenSecretRef,
            "spec.tracking.mlflow.tokenSecretRef",
          )
        : null;
      const mlflow = clientFor({ trackingURI: spec.trackingURI, token });
      return {
        async record(run) {
          const tracked = await mlflow.record(
            spec.experimentName ?? run.experiment,
            run.runKey,
            run.variants,
          );
          return { mlflowRunURLs: tracked.runURLs };
        },
        // Plain REST requests: nothing is held open.
        close: () => Promise.resolve(),
      };
    },
  };
}
