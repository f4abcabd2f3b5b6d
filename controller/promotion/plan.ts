// Promotion of an Experiment's winner: which Prompt version gets spec.promotion.label, whether the
// git commit must also write that version's content back (it is not the live one), and what
// status.promotion says. Pure: a function of the Experiment and the winner's Prompt.
//
// Git stays the source of truth: promotion never touches the cluster's Prompt. `llmops promote`
// (policy manual) or the controller (policy auto) writes a commit, and the cluster follows git.
import type {
  Experiment,
  ExperimentStatusPromotion,
  ExperimentVariant,
  Prompt,
} from "../api/generated/index.js";
import { promptContentHash } from "../prompts/content.js";

/** spec.promotion.label when the Experiment names none (the CRD's default). */
export const defaultPromotionLabel = "production";

/** The version that wins and the label it gets. */
export interface PromotionTarget {
  /** The winning variant's Prompt (in the Experiment's namespace). */
  prompt: string;
  version: number;
  contentHash: string;
  label: string;
}

/** Why there is nothing to promote yet: clears by itself once the run (or the Prompt) is done. */
export type PromotionWaitReason = "NotCompleted" | "NoWinner" | "PromptNotReady";

/** Why the winner cannot be promoted: needs a person (spec change, re-run). */
export type PromotionBlockedReason =
  "WinnerNotAVariant" | "PromptNotFound" | "VersionUnknown" | "VersionUnavailable";

export type PromotionDecision =
  | { kind: "none"; reason: PromotionWaitReason; message: string }
  | { kind: "blocked"; reason: PromotionBlockedReason; prompt?: string; message: string }
  | ({ kind: "notNeeded"; message: string } & PromotionTarget)
  | ({
      kind: "promote";
      /**
       * The winning version is not the live one: the commit writes its content (from its
       * snapshot) as well as the label, and the Prompt reconciler gives it its old number back.
       */
      needsContent: boolean;
      message: string;
    } & PromotionTarget);

type ExperimentInput = Pick<Experiment, "metadata" | "spec" | "status">;
type PromptInput = Pick<Prompt, "metadata" | "spec" | "status">;

function experimentId(experiment: ExperimentInput): string {
  const ns = experiment.metadata.namespace;
  return `${ns === undefined || ns === "" ? "" : `${ns}/`}${experiment.metadata.name ?? ""}`;
}

/** The label the winner gets: spec.promotion.label, else production. */
export function promotionLabel(experiment: Pick<Experiment, "spec">): string {
  return experiment.spec.promotion?.label ?? defaultPromotionLabel;
}

/** The winning variant as spec.variants names it, or undefined (no winner, or an unknown name). */
export function winningVariant(
  experiment: Pick<Experiment, "spec" | "status">,
): ExperimentVariant | undefined {
  const winner = experiment.status?.winner;
  if (winner === undefined) return undefined;
  return experiment.spec.variants.find((v) => v.name === winner);
}

/** What the Experiment's status says, for messages: its phase and its recommendation. */
function statusSays(experiment: ExperimentInput): string {
  const phase = experiment.status?.phase ?? "not started";
  const recommendation = experiment.status?.recommendation;
  return recommendation === undefined || recommendation === ""
    ? `phase ${phase}`
    : `phase ${phase}: ${recommendation}`;
}

/**
 * Decides the promotion for `experiment` given its winner's Prompt (`prompt`, read by the caller
 * from winningVariant(experiment).prompt.name; undefined when it does not exist).
 */
export function planPromotion(options: {
  experiment: ExperimentInput;
  prompt: PromptInput | undefined;
}): PromotionDecision {
  const { experiment, prompt } = options;
  const id = experimentId(experiment);
  const status = experiment.status;
  const generation = experiment.metadata.generation;

  if (status?.phase !== "Completed") {
    return {
      kind: "none",
      reason: "NotCompleted",
      message: `Experiment ${id} is not Completed (${statusSays(experiment)}); promote once it has a winner`,
    };
  }
  if (
    generation !== undefined &&
    status.observedGeneration !== undefined &&
    status.observedGeneration >= 0 &&
    status.observedGeneration !== generation
  ) {
    return {
      kind: "none",
      reason: "NotCompleted",
      message: `Experiment ${id} changed (generation ${String(generation)}) since its results (generation ${String(status.observedGeneration)}); wait for the new run`,
    };
  }
  if (status.winner === undefined || status.winner === "") {
    return {
      kind: "none",
      reason: "NoWinner",
      message: `Experiment ${id} has no winner (${statusSays(experiment)}); nothing to promote`,
    };
  }

  const variant = winningVariant(experiment);
  if (variant === undefined) {
    return {
      kind: "blocked",
      reason: "WinnerNotAVariant",
      message: `Experiment ${id}: status.winner ${status.winner} is not one of spec.variants (${experiment.spec.variants.map((v) => v.name).join(", ")}); re-run the experiment`,
    };
  }
  const name = variant.prompt.name;
  if (prompt === undefined || prompt.metadata.name !== name) {
    return {
      kind: "blocked",
      reason: "PromptNotFound",
      prompt: name,
      message: `Experiment ${id}: the winner ${variant.name} runs Prompt ${name}, which does not exist in this namespace`,
    };
  }

  const version =
    status.results?.find((r) => r.variant === variant.name)?.promptVersion ??
    variant.prompt.version;
  if (version === undefined) {
    return {
      kind: "blocked",
      reason: "VersionUnknown",
      prompt: name,
      message: `Experiment ${id}: status.results has no promptVersion for the winner ${variant.name}; re-run the experiment`,
    };
  }

  // The Prompt's status must describe its current spec, or "live" and its labels are not known.
  const live = prompt.status?.version;
  if (live === undefined || prompt.status?.contentHash !== promptContentHash(prompt.spec)) {
    return {
      kind: "none",
      reason: "PromptNotReady",
      message: `waiting for Prompt ${name} to version its current spec`,
    };
  }
  const contentHash =
    version === live
      ? prompt.status.contentHash
      : prompt.status.history?.find((h) => h.version === version)?.contentHash;
  if (contentHash === undefined) {
    const known = (prompt.status.history ?? []).map((h) => String(h.version)).join(", ");
    return {
      kind: "blocked",
      reason: "VersionUnavailable",
      prompt: name,
      message: `Prompt ${name} version ${String(version)} (the winner ${variant.name}) has left status.history (versions: ${known}); its content is no longer known: re-run the experiment or raise spec.historyLimit`,
    };
  }

  const label = promotionLabel(experiment);
  const target: PromotionTarget = { prompt: name, version, contentHash, label };
  if (version === live && (prompt.spec.labels ?? []).includes(label)) {
    return {
      kind: "notNeeded",
      ...target,
      message: `Prompt ${name} version ${String(version)} is live and already has label ${label}`,
    };
  }
  const needsContent = version !== live;
  const how =
    experiment.spec.promotion?.policy === "auto"
      ? "the controller commits it to git"
      : `run \`llmops promote experiment/${experiment.metadata.name ?? ""}\` to commit it`;
  return {
    kind: "promote",
    ...target,
    needsContent,
    message: needsContent
      ? `Prompt ${name} version ${String(version)} should get label ${label}; it is not live (version ${String(live)} is), so the commit restores its content; ${how}`
      : `Prompt ${name} version ${String(version)} should get label ${label}; ${how}`,
  };
}

function sameTarget(a: ExperimentStatusPromotion, b: PromotionTarget): boolean {
  return (
    a.prompt === b.prompt &&
    a.version === b.version &&
    a.contentHash === b.contentHash &&
    a.label === b.label
  );
}

/** How the commit for a `promote` decision went, when one was attempted. */
export type PromotionOutcome =
  { kind: "committed"; commit: string } | { kind: "failed"; message: string };

/**
 * status.promotion for `decision`: undefined for `none` (nothing decided yet); Failed for
 * `blocked`; NotNeeded; Pending for a `promote` not yet committed; Promoted once `outcome` (or a
 * `previous` Promoted status for the same version and label) says the commit was written. A
 * Promoted status is kept while the cluster catches up with git and after (the decision then
 * turns to notNeeded), so "Pending" is the one state that means "a commit is still to be made".
 */
export function promotionStatus(
  decision: PromotionDecision,
  options: { previous?: ExperimentStatusPromotion; outcome?: PromotionOutcome } = {},
): ExperimentStatusPromotion | undefined {
  const { previous, outcome } = options;
  switch (decision.kind) {
    case "none":
      return undefined;
    case "blocked":
      return {
        state: "Failed",
        ...(decision.prompt !== undefined && { prompt: decision.prompt }),
        message: decision.message,
      };
    case "notNeeded":
    case "promote": {
      const target: PromotionTarget = {
        prompt: decision.prompt,
        version: decision.version,
        contentHash: decision.contentHash,
        label: decision.label,
      };
      if (previous?.state === "Promoted" && sameTarget(previous, target)) return previous;
      if (decision.kind === "notNeeded") {
        return { state: "NotNeeded", ...target, message: decision.message };
      }
      if (outcome?.kind === "committed") {
        return {
          state: "Promoted",
          ...target,
          commit: outcome.commit,
          message: `committed ${outcome.commit.slice(0, 7)}: Prompt ${target.prompt} version ${String(target.version)} gets label ${target.label}; the cluster follows once git sync applies it`,
        };
      }
      if (outcome?.kind === "failed") {
        return { state: "Failed", ...target, message: outcome.message.slice(0, 1024) };
      }
      return { state: "Pending", ...target, message: decision.message };
    }
  }
}

/**
 * The commit message: a subject that says what and why (the Experiment's recommendation), a body,
 * and an `Llmops-Experiment: namespace/name` trailer.
 */
export function promotionCommitMessage(options: {
  experiment: Pick<Experiment, "metadata" | "status">;
  target: PromotionTarget;
  needsContent: boolean;
  file: string;
}): string {
  const { experiment, target, needsContent, file } = options;
  const name = experiment.metadata.name ?? "";
  const namespace = experiment.metadata.namespace ?? "";
  const why = experiment.status?.recommendation;
  const subject =
    `promote: Prompt ${target.prompt} version ${String(target.version)} gets label ${target.label}` +
    ` (Experiment ${name}${why === undefined || why === "" ? "" : `: ${why}`})`;
  const winner = experiment.status?.winner ?? "";
  const body = [
    `Experiment ${namespace === "" ? "" : `${namespace}/`}${name} declared variant ${winner} the winner; it ran Prompt ${target.prompt} version ${String(target.version)} (${target.contentHash}).`,
    needsContent
      ? `That version is not the live one, so this commit writes its content back to ${file} (the Prompt reconciler gives it version ${String(target.version)} again) and adds ${target.label} to spec.labels.`
      : `This commit adds ${target.label} to spec.labels of Prompt ${target.prompt} in ${file}.`,
  ].join("\n\n");
  return `${subject}\n\n${body}\n\nLlmops-Experiment: ${namespace}/${name}\n`;
}
