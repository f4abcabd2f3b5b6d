// Promotion commits for `spec.promotion.policy: auto`: written to the git source the winning
// Prompt was synced from (its llmops.dev/source and llmops.dev/path annotations), with that
// source's credentials. The cluster then follows git like for any other commit.
import type { Prompt } from "../api/generated/index.js";
import type { KubeClient } from "../kube/client.js";
import type { StoredObject } from "../kube/resources.js";
import { readGitCredentials } from "../gitsync/credentials.js";
import { pathAnnotation, sourceAnnotation } from "../api/well-known.js";
import type { GitSourceConfig } from "../gitsync/source-config.js";
import type { PromptSnapshotSpec } from "../prompts/snapshots.js";

/** What a promotion commit changes. */
export interface PromotionRequest {
  prompt: StoredObject<Prompt>;
  label: string;
  /** The winning version's content when it is not the live one. */
  snapshot?: PromptSnapshotSpec;
  /** Without a snapshot: the content hash the file's Prompt must still have. */
  expectContentHash?: string;
  message: (file: string) => string;
  signal?: AbortSignal;
}

/** Writes promotion commits. */
export interface PromotionWriter {
  /** Commits (and pushes) the promotion; `changed: false` when git already says it. */
  promote(request: PromotionRequest): Promise<{ commit: string; changed: boolean }>;
}

/** The Prompt did not come from a git source this controller syncs: a person must promote it. */
export class PromotionSourceError extends Error {
  override name = "PromotionSourceError";
}

/** A PromotionWriter over the controller's git sources. */
export function gitSourcePromoter(options: {
  client: KubeClient;
  sources: readonly GitSourceConfig[];
  /** Where the sources' credential Secrets live (the git sync namespace). */
  secretNamespace: string;
  cacheDir: string;
}): PromotionWriter {
  return {
    async promote(request) {
      const annotations = request.prompt.metadata.annotations ?? {};
      const name = annotations[sourceAnnotation];
      const source = options.sources.find((s) => s.name === name);
      if (name === undefined || source === undefined) {
        throw new PromotionSourceError(
          `Prompt ${request.prompt.metadata.name} was not applied by a git source this controller syncs` +
            `${name === undefined ? "" : ` (its ${sourceAnnotation} is ${name})`}, so policy auto cannot commit; run \`llmops promote\` in a checkout of its repository`,
        );
      }
      const credentials =
        source.secretRef === undefined
          ? undefined
          : await readGitCredentials(options.client, options.secretNamespace, source.secretRef);
      const file = annotations[pathAnnotation];
      // git (simple-git) is loaded with the first promotion, not with every controller.
      const { promoteInSource } = await import("./git-promoter.js");
      const result = await promoteInSource({
        source,
        ...(credentials !== undefined ? { credentials } : {}),
        cacheDir: options.cacheDir,
        ...(file !== undefined ? { file } : {}),
        promptName: request.prompt.metadata.name,
        ...(request.prompt.metadata.namespace !== undefined
          ? { namespace: request.prompt.metadata.namespace }
          : {}),
        label: request.label,
        ...(request.snapshot !== undefined ? { snapshot: request.snapshot } : {}),
        ...(request.expectContentHash !== undefined
          ? { expectContentHash: request.expectContentHash }
          : {}),
        message: request.message,
        ...(request.signal !== undefined ? { signal: request.signal } : {}),
      });
      return { commit: result.commit, changed: result.changed };
    },
  };
}
