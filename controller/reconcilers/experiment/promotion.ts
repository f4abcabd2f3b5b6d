// The promotion step of a completed Experiment: decide which Prompt version gets
// spec.promotion.label (controller/promotion/plan.ts, pure) and, for policy auto, write the git
// commit that does it through the git source the Prompt came from. Manual policy only reports the
// decision in status.promotion; `llmops promote experiment/<name>` writes the same commit.
import type {
  Experiment,
  ExperimentStatus,
  ExperimentStatusPromotion,
  Prompt,
} from "../../api/generated/index.js";
import { TransientError, errorMessage } from "../../kube/errors.js";
import type { KubeObject, StoredObject } from "../../kube/resources.js";
import { MissingSecretError } from "../../kube/secrets.js";
import { PromotionEditError } from "../../promotion/edit.js";
import { PromotionGitError } from "../../promotion/errors.js";
import {
  planPromotion,
  promotionCommitMessage,
  promotionStatus,
  winningVariant,
} from "../../promotion/plan.js";
import { PromotionSourceError, type PromotionWriter } from "../../promotion/source-promoter.js";
import type { ControllerDeps } from "../../runtime/registry.js";
import { PromptType } from "../../api/kinds.js";
import { readPromptSnapshot } from "../../prompts/snapshots.js";

export interface PromotionStep {
  promotion: ExperimentStatusPromotion | undefined;
  /** Set when a commit failed in a way worth retrying: the caller throws it after writing status. */
  retry?: TransientError;
}

function permanent(error: unknown): boolean {
  return (
    error instanceof PromotionSourceError ||
    error instanceof PromotionEditError ||
    error instanceof MissingSecretError ||
    (error instanceof PromotionGitError &&
      ["FileNotFound", "Ambiguous", "NotARepository"].includes(error.code))
  );
}

/** status.promotion for `experiment` with `status` (Completed, with its winner). */
export async function promotionStep(options: {
  deps: ControllerDeps;
  promoter: PromotionWriter | undefined;
  experiment: StoredObject<Experiment & KubeObject>;
  status: ExperimentStatus;
  signal?: AbortSignal;
}): Promise<PromotionStep> {
  const { deps, experiment, promoter } = options;
  const name = experiment.metadata.name;
  const namespace = experiment.metadata.namespace ?? "";
  const policy = experiment.spec.promotion?.policy ?? "manual";
  // The status being written is the result of this generation.
  const view = {
    metadata: experiment.metadata,
    spec: experiment.spec,
    status: { ...options.status, observedGeneration: experiment.metadata.generation },
  };
  const variant = winningVariant(view);
  const prompt =
    variant === undefined
      ? undefined
      : deps.cache.get<Prompt & KubeObject>(PromptType, { namespace, name: variant.prompt.name });
  const decision = planPromotion({ experiment: view, prompt });
  const previous = options.status.promotion;

  if (decision.kind !== "promote" || policy !== "auto" || prompt === undefined) {
    const status = promotionStatus(decision, previous ? { previous } : {});
    if (status?.state === "Pending") {
      status.message =
        `${status.message}; policy manual: run \`llmops promote experiment/${name} -n ${namespace}\` to commit it`.slice(
          0,
          1024,
        );
    }
    return { promotion: status };
  }
  const sticky = promotionStatus(decision, previous ? { previous } : {});
  if (sticky?.state === "Promoted") return { promotion: sticky };
  const failed = (message: string): PromotionStep => ({
    promotion: promotionStatus(decision, { outcome: { kind: "failed", message } }),
  });
  if (promoter === undefined) {
    return failed(
      "policy auto needs the controller's git sync (--git-source or --git-config) to commit the promotion; none is configured, so run `llmops promote` in a checkout",
    );
  }
  let snapshot;
  if (decision.needsContent) {
    snapshot = await readPromptSnapshot(deps.client, namespace, decision.prompt, decision.version);
    if (snapshot?.contentHash !== decision.contentHash) {
      return failed(
        `the content of Prompt ${decision.prompt} version ${String(decision.version)} is not available (its snapshot ConfigMap is missing or was edited), so it cannot be written back to git`,
      );
    }
  }
  try {
    const result = await promoter.promote({
      prompt,
      label: decision.label,
      ...(snapshot ? { snapshot: snapshot.spec } : { expectContentHash: decision.contentHash }),
      message: (file) =>
        promotionCommitMessage({
          experiment: view,
          target: decision,
          needsContent: decision.needsContent,
          file,
        }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return {
      promotion: promotionStatus(decision, {
        outcome: { kind: "committed", commit: result.commit },
      }),
    };
  } catch (error) {
    if (permanent(error)) return failed(`promotion commit not written: ${errorMessage(error)}`);
    const message = `promotion commit failed, will retry: ${errorMessage(error)}`;
    const pending = promotionStatus(decision);
    return {
      promotion: pending && { ...pending, message: message.slice(0, 1024) },
      retry: new TransientError(message, { cause: error }),
    };
  }
}
