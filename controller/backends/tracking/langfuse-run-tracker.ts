// spec.tracking.langfuse as a RunTracker: a generation per call with its scores, each an experiment
// item of its variant linked to its dataset item. Items from a Langfuse dataset are linked where
// they are; any other dataset is first mirrored into the Langfuse dataset
// `llmops/<namespace>/<name>`.
import type { LangfuseConnection } from "../langfuse/connection.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import type { LangfuseCallTracker, TrackingSession } from "./langfuse.js";
import type { TrackerProvider } from "./tracking.js";

/** The Langfuse side of tracking, as the run tracker uses it. */
export type CallTracker = Pick<
  LangfuseCallTracker,
  "ensureDataset" | "recordCalls" | "url" | "shutdown"
>;

/** Builds the Langfuse call tracker for a connection; tests may pass their own. */
export type LangfuseClientFactory = (connection: LangfuseConnection) => CallTracker;

/** The provider of spec.tracking.langfuse; `trackerFor` defaults to LangfuseCallTracker. */
export function langfuseProvider(trackerFor?: LangfuseClientFactory): TrackerProvider<"langfuse"> {
  return {
    label: "Langfuse",
    async open(spec, { client, namespace }) {
      const connection = await langfuseKeys(client, namespace, spec, "spec.tracking.langfuse");
      // The Langfuse/OpenTelemetry stack is imported only when an Experiment asks for it.
      const tracker = trackerFor
        ? trackerFor(connection)
        : new (await import("./langfuse.js")).LangfuseCallTracker(connection);
      return {
        async record(run) {
          const session: TrackingSession = {
            experiment: run.experiment,
            runKey: run.runKey,
            datasetName: run.langfuseDataset ?? `llmops/${run.experiment}`,
          };
          if (run.langfuseDataset === undefined) {
            await tracker.ensureDataset(
              session.datasetName,
              run.items.map((item) => ({
                id: item.id,
                input: item.vars,
                ...(item.expected !== undefined ? { expectedOutput: item.expected } : {}),
              })),
            );
          }
          await tracker.recordCalls(session, run.calls);
          return { langfuseURL: await tracker.url(session) };
        },
        close: () => tracker.shutdown(),
      };
    },
  };
}
