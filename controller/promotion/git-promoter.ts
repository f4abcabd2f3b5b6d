// The promotion commit in git: one edited manifest (applyPromotionEdit), committed with a message
// that says what and why. `promoteInCheckout` works in a person's working tree (`llmops
// promote`); `promoteInSource` works in a private clone of a git source and pushes to its branch
// with the source's credentials (the controller, policy auto). Either way the cluster follows git.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SimpleGit } from "simple-git";
import { parseManifestSource } from "../api/manifests/yaml-source.js";
import {
  credentialEnvironment,
  GitCache,
  gitAt,
  readManifestsAt,
  safeMessage,
  type GitCredentials,
} from "../gitsync/git-repository.js";
import { redactUrl, type GitSourceConfig } from "../gitsync/source-config.js";
import type { PromptSnapshotSpec } from "../prompts/snapshots.js";
import { applyPromotionEdit } from "./edit.js";

/** The identity of commits the controller writes. */
export const controllerAuthor = {
  name: "llmops-controller",
  email: "llmops-controller@llmops.dev",
};

import { PromotionGitError } from "./errors.js";

export { PromotionGitError, type PromotionGitErrorCode } from "./errors.js";

/** What to write: shared by both entry points. */
export interface PromotionChange {
  promptName: string;
  /** The Prompt's namespace; a document that names another one does not match. */
  namespace?: string;
  label: string;
  /** The winning version's content, when it is not the live one (needsContent). */
  snapshot?: PromptSnapshotSpec;
  /** Without a snapshot: the content hash the file's Prompt must have (the winning version). */
  expectContentHash?: string;
  /** The whole commit message (promotionCommitMessage), or a function of the file it edits. */
  message: string | ((file: string) => string);
  author?: { name: string; email: string };
  signal?: AbortSignal;
}

export interface PromotionCommit {
  /** The new commit, or the unchanged HEAD when nothing had to change. */
  commit: string;
  changed: boolean;
  /** Repository-relative path of the edited file. */
  file: string;
  /** spec.labels of the Prompt after the edit. */
  labels: string[];
}

function matchesPrompt(value: unknown, name: string, namespace: string | undefined): boolean {
  const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  if (v?.kind !== "Prompt" || v.metadata?.name !== name) return false;
  const ns = v.metadata.namespace;
  return namespace === undefined || ns === undefined || ns === null || ns === namespace;
}

/**
 * The one manifest file under `paths` at `revision` that defines the Prompt, or undefined. Throws
 * PromotionGitError (Ambiguous) when several files do.
 */
export async function findPromptFile(
  git: SimpleGit,
  revision: string,
  paths: readonly string[],
  promptName: string,
  namespace?: string,
): Promise<string | undefined> {
  const files = new Set<string>();
  for (const input of await readManifestsAt(git, revision, paths)) {
    for (const object of parseManifestSource(input.file, input.text).objects) {
      if (matchesPrompt(object.value, promptName, namespace)) files.add(input.file);
    }
  }
  if (files.size > 1) {
    throw new PromotionGitError(
      "Ambiguous",
      `Prompt ${promptName} is defined in ${[...files].join(", ")}; give the manifests a metadata.namespace`,
    );
  }
  return [...files][0];
}

/** Whether `file` exists at `revision` and defines the Prompt. */
async function definesPrompt(
  git: SimpleGit,
  revision: string,
  file: string,
  change: PromotionChange,
): Promise<boolean> {
  let text: string;
  try {
    text = await git.raw(["cat-file", "blob", `${revision}:${file}`]);
  } catch {
    return false;
  }
  return parseManifestSource(file, text).objects.some((o) =>
    matchesPrompt(o.value, change.promptName, change.namespace),
  );
}

/** `file` if it defines the Prompt at `revision`, else the file under `paths` that does. */
async function resolvePromptFile(
  git: SimpleGit,
  revision: string,
  file: string | undefined,
  paths: readonly string[],
  change: PromotionChange,
): Promise<string> {
  if (file !== undefined && (await definesPrompt(git, revision, file, change))) return file;
  const found = await findPromptFile(git, revision, paths, change.promptName, change.namespace);
  if (found === undefined) {
    throw new PromotionGitError(
      "FileNotFound",
      `no manifest under ${paths.join(", ")} defines Prompt ${change.promptName}` +
        (file === undefined ? "" : ` (${file}, its llmops.dev/path, does not either)`),
    );
  }
  return found;
}

function editChange(
  change: PromotionChange,
): Omit<Parameters<typeof applyPromotionEdit>[0], "file" | "text"> {
  return {
    promptName: change.promptName,
    label: change.label,
    ...(change.namespace !== undefined && { namespace: change.namespace }),
    ...(change.snapshot !== undefined && { snapshot: change.snapshot }),
    ...(change.expectContentHash !== undefined && {
      expectContentHash: change.expectContentHash,
    }),
  };
}

function messageFor(change: PromotionChange, file: string): string {
  return typeof change.message === "string" ? change.message : change.message(file);
}

/** Edits `file` in the working tree `root` and commits it alone; no commit when nothing changes. */
async function editAndCommit(
  git: SimpleGit,
  root: string,
  file: string,
  change: PromotionChange,
  identity: { name: string; email: string } | undefined,
): Promise<PromotionCommit> {
  const path = join(root, file);
  const text = await readFile(path, "utf8");
  const edited = applyPromotionEdit({ file, text, ...editChange(change) });
  if (!edited.changed) {
    return {
      commit: (await git.revparse(["HEAD"])).trim(),
      changed: false,
      file,
      labels: edited.labels,
    };
  }
  await writeFile(path, edited.text);
  // A person's own identity and signing settings stay; the controller's commits are unsigned.
  const config =
    identity === undefined
      ? []
      : [
          "-c",
          `user.name=${identity.name}`,
          "-c",
          `user.email=${identity.email}`,
          "-c",
          "commit.gpgsign=false",
        ];
  await git.raw([...config, "commit", "--no-verify", "-m", messageFor(change, file), "--", file]);
  return {
    commit: (await git.revparse(["HEAD"])).trim(),
    changed: true,
    file,
    labels: edited.labels,
  };
}

export interface CheckoutPromotionOptions extends PromotionChange {
  /** A directory inside the working tree. */
  dir: string;
  /** The manifest, relative to the repository root (the Prompt's llmops.dev/path). */
  file?: string;
  /** Where to search when `file` is absent or does not define the Prompt. */
  paths?: readonly string[];
  /** Push the commit to the branch's upstream. */
  push?: boolean;
  /** Compute the edit, write nothing. */
  dryRun?: boolean;
}

export interface CheckoutPromotion extends PromotionCommit {
  pushed: boolean;
  /** The file before and after the edit (equal when nothing changes). */
  before: string;
  after: string;
}

/**
 * Makes the promotion commit in a local working tree (`llmops promote`). Refuses when the file has
 * uncommitted changes; makes no commit when the file already says what the promotion would
 * (changed: false). Throws PromotionGitError or PromotionEditError.
 */
export async function promoteInCheckout(
  options: CheckoutPromotionOptions,
): Promise<CheckoutPromotion> {
  const probe = gitAt(options.dir, {
    ...(options.signal !== undefined && { signal: options.signal }),
  });
  let root: string;
  try {
    root = (await probe.revparse(["--show-toplevel"])).trim();
  } catch (err: unknown) {
    throw new PromotionGitError(
      "NotARepository",
      `${options.dir} is not inside a git working tree`,
      {
        cause: err,
      },
    );
  }
  const git = gitAt(root, { ...(options.signal !== undefined && { signal: options.signal }) });
  const file = await resolvePromptFile(git, "HEAD", options.file, options.paths ?? ["."], options);
  const dirty = (await git.raw(["status", "--porcelain", "--", file])).trim();
  if (dirty !== "") {
    throw new PromotionGitError(
      "DirtyFile",
      `${file} has uncommitted changes; commit or stash them, then run the promotion again`,
    );
  }
  const before = await readFile(join(root, file), "utf8");
  if (options.dryRun === true) {
    const edited = applyPromotionEdit({ file, text: before, ...editChange(options) });
    return {
      commit: (await git.revparse(["HEAD"])).trim(),
      changed: edited.changed,
      file,
      labels: edited.labels,
      pushed: false,
      before,
      after: edited.text,
    };
  }
  const result = await editAndCommit(git, root, file, options, options.author);
  const after = await readFile(join(root, file), "utf8");
  if (!result.changed || options.push !== true) return { ...result, pushed: false, before, after };
  try {
    await git.push();
  } catch (err: unknown) {
    throw new PromotionGitError(
      isRejection(err) ? "PushRejected" : "PushFailed",
      `committed ${result.commit.slice(0, 7)}, but pushing it failed: ${err instanceof Error ? err.message.trim() : String(err)}; ` +
        "run `git pull --rebase && git push`",
      { cause: err },
    );
  }
  return { ...result, pushed: true, before, after };
}

export interface SourcePromotionOptions extends PromotionChange {
  source: Pick<GitSourceConfig, "name" | "url" | "branch" | "paths">;
  credentials?: GitCredentials;
  /** A directory the controller may write to (gitSync.cacheDir); a private clone goes under it. */
  cacheDir: string;
  /** The manifest (the Prompt's llmops.dev/path); searched under source.paths when absent. */
  file?: string;
  timeoutMs?: number;
}

export interface SourcePromotion extends PromotionCommit {
  /** The branch tip the commit was made on (after a retry: the newer tip). */
  base: string;
  /** 1, or 2 when the first push lost a race and the edit was replayed on the new tip. */
  attempts: number;
}

function isRejection(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /\[rejected\]|non-fast-forward|fetch first|updates were rejected|\[remote rejected\].*(?:cannot lock ref|failed to update ref)/i.test(
    text,
  );
}

/**
 * Makes the promotion commit on a git source's branch and pushes it (the controller, policy auto):
 * fetches the branch into a private clone under `cacheDir`, edits, commits as llmops-controller,
 * pushes with the source's credentials. When the push loses a race (someone pushed in between),
 * fetches again and replays the edit once on the new tip — the edit is re-derived from the new
 * file, and `expectContentHash` still guards a label-only promotion against content that changed.
 * changed: false when the branch already says what the promotion would (nothing is pushed).
 *
 * Throws GitFetchError (fetch failed: transient), PromotionGitError (FileNotFound / Ambiguous:
 * fix git; PushRejected after the retry, PushFailed: transient) or PromotionEditError (the
 * manifest cannot take the edit: fix git).
 */
export async function promoteInSource(options: SourcePromotionOptions): Promise<SourcePromotion> {
  const { source } = options;
  await mkdir(options.cacheDir, { recursive: true });
  const scratch = await mkdtemp(join(options.cacheDir, `promote-${source.name}-`));
  const cache = new GitCache(join(scratch, "cache.git"));
  const tree = join(scratch, "tree");
  const gitOptions = {
    ...(options.signal !== undefined && { signal: options.signal }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
  };
  const fetch = (): Promise<string> =>
    cache.fetch({
      url: source.url,
      branch: source.branch,
      ...(options.credentials !== undefined && { credentials: options.credentials }),
      ...gitOptions,
    });
  const identity = options.author ?? controllerAuthor;
  try {
    let base = await fetch();
    const cacheGit = gitAt(cache.directory, gitOptions);
    await cacheGit.raw(["worktree", "add", "--detach", tree, base]);
    const git = gitAt(tree, gitOptions);
    const file = await resolvePromptFile(cacheGit, base, options.file, source.paths, options);
    const keyDir = join(scratch, "keys");
    const env = await credentialEnvironment(options.credentials, keyDir);
    const pushGit = gitAt(tree, { ...gitOptions, env });

    for (let attempt = 1; ; attempt++) {
      const result = await editAndCommit(git, tree, file, options, identity);
      if (!result.changed) return { ...result, base, attempts: attempt };
      try {
        await pushGit.raw(["push", "--", source.url, `HEAD:refs/heads/${source.branch}`]);
        return { ...result, base, attempts: attempt };
      } catch (err: unknown) {
        const where = `${source.branch} of ${redactUrl(source.url)}`;
        if (!isRejection(err)) {
          throw new PromotionGitError(
            "PushFailed",
            `pushing the promotion commit to ${where} failed: ${safeMessage(err, source.url)}`,
            { cause: err },
          );
        }
        if (attempt >= 2) {
          throw new PromotionGitError(
            "PushRejected",
            `pushing the promotion commit to ${where} was rejected twice (the branch keeps moving); try again later`,
            { cause: err },
          );
        }
      }
      // Lost a race: start again from the new tip (the commit is replayed, not merged).
      base = await fetch();
      await git.raw(["checkout", "--detach", "--force", base]);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
