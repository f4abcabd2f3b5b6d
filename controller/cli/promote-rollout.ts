// `llmops promote modeldeployment/<name>`: an operational act, not desired state — the annotation
// llmops.dev/promote=<canary revision> on the live object, which makes the controller skip the
// rollout's remaining steps. It binds to one revision, so a later rollout is never promoted by it.
import type { ModelDeployment } from "../api/generated/index.js";
import { ModelDeploymentType } from "../api/kinds.js";
import type { KubeClient } from "../kube/client.js";
import type { StoredObject } from "../kube/resources.js";
import { promoteAnnotation } from "../reconcilers/model-deployment/plan.js";
import { ExitCode } from "./exit-codes.js";

export interface RolloutPromotionReport {
  modelDeployment: string;
  namespace: string;
  revision?: string;
  annotated: boolean;
  dryRun: boolean;
  message: string;
}

/** Annotates the ModelDeployment's canary for promotion; prints nothing. */
export async function promoteRollout(
  client: KubeClient,
  name: string,
  namespace: string,
  options: { dryRun: boolean },
): Promise<{ exitCode: ExitCode; report: RolloutPromotionReport }> {
  const base = { modelDeployment: name, namespace, annotated: false, dryRun: options.dryRun };
  const md = await client.tryGet<StoredObject<ModelDeployment>>(ModelDeploymentType, {
    namespace,
    name,
  });
  if (md === undefined) {
    const message = `ModelDeployment ${namespace}/${name} not found; check the name and -n`;
    return { exitCode: ExitCode.Failure, report: { ...base, message } };
  }
  const canary = md.status?.canaryRevision;
  if (canary === undefined) {
    const message = `ModelDeployment ${namespace}/${name} has no rollout in progress (stable revision ${md.status?.stableRevision ?? "none"}); nothing to promote`;
    return { exitCode: ExitCode.Failure, report: { ...base, message } };
  }
  const report = { ...base, revision: canary };
  if (md.metadata.annotations?.[promoteAnnotation] === canary) {
    return {
      exitCode: ExitCode.Ok,
      report: { ...report, message: `revision ${canary} is already marked for promotion` },
    };
  }
  if (options.dryRun) {
    return {
      exitCode: ExitCode.Ok,
      report: {
        ...report,
        message: `would annotate ${promoteAnnotation}=${canary}: the rollout would skip its remaining steps (--dry-run)`,
      },
    };
  }
  await client.mergePatch(
    ModelDeploymentType,
    { namespace, name },
    { metadata: { annotations: { [promoteAnnotation]: canary } } },
  );
  return {
    exitCode: ExitCode.Ok,
    report: {
      ...report,
      annotated: true,
      message: `promoted ${canary}: annotated ${promoteAnnotation}=${canary}; the controller moves all traffic to it`,
    },
  };
}
