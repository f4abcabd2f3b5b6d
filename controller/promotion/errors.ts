// The promotion's git errors, apart from the code that makes commits: the Experiment reconciler
// tells them from other failures without loading git (simple-git) into every controller.

export type PromotionGitErrorCode =
  "NotARepository" | "FileNotFound" | "Ambiguous" | "DirtyFile" | "PushRejected" | "PushFailed";

/** A git-side reason the promotion commit could not be made or pushed; safe to show. */
export class PromotionGitError extends Error {
  override name = "PromotionGitError";
  constructor(
    readonly code: PromotionGitErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
