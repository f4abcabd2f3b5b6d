// `llmops rollback <kind>/<name> [--to <rev>] [--push]`: a commit that restores one object's
// manifest from the revision before its last change (or from <rev>). Git stays the source of
// truth: the controller applies the commit like any other, and the Prompt reconciler gives the
// restored content its old version number back.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import type { SimpleGit } from "simple-git";
import { parseAllDocuments } from "yaml";
import { loadCrds, type CrdSet } from "../api/crds.js";
import { parseManifestSource } from "../api/manifests/yaml-source.js";
import { gitAt, readManifestsAt } from "../gitsync/git-repository.js";
import { defaultPaths } from "../gitsync/source-config.js";
import { canonicalJson } from "../runtime/hash.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";

/**
 * The rollback cannot be made as asked in this repository (exit 1): the object is not in git, has
 * no earlier version, or its file has uncommitted edits. Usage errors (exit 2) are for the command
 * line itself.
 */
export class RollbackFailure extends Error {
  override name = "RollbackFailure";
}

export interface ObjectSelector {
  kind: string;
  name: string;
  namespace?: string;
}

/** `prompt/x`, `Prompt/x`, `prompts/x`, `prm/x` → the kind as the CRDs name it. */
export function parseObjectSelector(
  crds: CrdSet,
  text: string,
  namespace?: string,
): ObjectSelector {
  const slash = text.indexOf("/");
  if (slash <= 0 || slash === text.length - 1) {
    throw new UsageError(`expected <kind>/<name>, e.g. prompt/support-triage (got "${text}")`);
  }
  const word = text.slice(0, slash).toLowerCase();
  const crd = crds.versions.find(
    (v) =>
      v.kind.toLowerCase() === word ||
      v.plural === word ||
      v.singular === word ||
      v.shortNames.includes(word),
  );
  if (crd === undefined) {
    throw new UsageError(
      `"${text.slice(0, slash)}" is not an llmops kind; use one of ${crds.versions.map((v) => v.singular).join(", ")}`,
    );
  }
  return {
    kind: crd.kind,
    name: text.slice(slash + 1),
    ...(namespace !== undefined && { namespace }),
  };
}

interface FoundObject {
  file: string;
  documentIndex: number;
  inList: boolean;
  value: unknown;
}

/** Where `selector`'s manifest is at `revision` (under `paths`), if anywhere. */
async function findObjectAt(
  git: SimpleGit,
  revision: string,
  paths: readonly string[],
  selector: ObjectSelector,
): Promise<FoundObject[]> {
  const found: FoundObject[] = [];
  for (const input of await readManifestsAt(git, revision, paths)) {
    for (const object of parseManifestSource(input.file, input.text).objects) {
      const v = object.value as {
        kind?: unknown;
        metadata?: { name?: unknown; namespace?: unknown };
      };
      if (v.kind !== selector.kind || v.metadata?.name !== selector.name) continue;
      if (selector.namespace !== undefined && v.metadata.namespace !== selector.namespace) continue;
      found.push({
        file: input.file,
        documentIndex: object.documentIndex,
        inList: object.basePath.length > 0,
        value: object.value,
      });
    }
  }
  return found;
}

/** Replaces document `index` of `text` with `replacement` (another file's document source). */
export function replaceDocument(text: string, index: number, replacement: string): string {
  const docs = parseAllDocuments(text);
  const doc = Array.isArray(docs) ? docs[index] : undefined;
  if (doc?.range === undefined) throw new Error(`document ${String(index)} not found`);
  const [start, , end] = doc.range;
  const current = text.slice(start, end);
  const body = replacement.replace(/^---[^\n]*\n/, "");
  const withMarker = /^---/.test(current) ? `---\n${body}` : body;
  return (
    text.slice(0, start) +
    (withMarker.endsWith("\n") ? withMarker : `${withMarker}\n`) +
    text.slice(end)
  );
}

/** The source text of document `index` of `text`. */
function documentSource(text: string, index: number): string {
  const docs = parseAllDocuments(text);
  const doc = Array.isArray(docs) ? docs[index] : undefined;
  if (doc?.range === undefined) throw new Error(`document ${String(index)} not found`);
  return text.slice(doc.range[0], doc.range[2]);
}

function short(sha: string): string {
  return sha.slice(0, 7);
}

function describe(selector: ObjectSelector): string {
  return `${selector.kind} ${selector.namespace === undefined ? "" : `${selector.namespace}/`}${selector.name}`;
}

export interface RollbackOptions {
  repo: string;
  paths: string[];
  to?: string;
  push: boolean;
  namespace?: string;
}

export interface RollbackResult {
  object: string;
  file: string;
  restoredFrom: string;
  /** The commit whose change was undone (absent with --to). */
  undone?: string;
  commit: string;
  pushed: boolean;
}

/** Makes the rollback commit; exported for tests. */
export async function runRollback(
  target: string,
  options: RollbackOptions,
): Promise<RollbackResult | undefined> {
  const crds = await loadCrds();
  const git = gitAt(options.repo);
  let root: string;
  try {
    root = (await git.revparse(["--show-toplevel"])).trim();
  } catch (err: unknown) {
    throw new RollbackFailure(
      `${options.repo} is not inside a git working tree; pass -C <checkout>`,
      {
        cause: err,
      },
    );
  }
  const repoGit = gitAt(root);
  const selector = parseObjectSelector(crds, target, options.namespace);
  const head = (await repoGit.revparse(["HEAD"])).trim();
  const atHead = await findObjectAt(repoGit, head, options.paths, selector);
  if (atHead.length === 0) {
    throw new RollbackFailure(
      `${describe(selector)} is not defined under ${options.paths.join(", ")} at HEAD; ` +
        "to bring back a deleted object, git revert the commit that removed it",
    );
  }
  if (atHead.length > 1) {
    throw new UsageError(
      `${describe(selector)} is defined more than once; name its namespace with -n`,
    );
  }
  const current = atHead[0] as FoundObject;
  // The file is rewritten and committed whole: edits not yet committed would be overwritten or
  // committed under the rollback's message. Refuse before anything is written.
  const dirty = (await repoGit.raw(["status", "--porcelain", "--", current.file])).trim();
  if (dirty !== "") {
    throw new RollbackFailure(
      `${current.file} has uncommitted changes; commit or stash them, then run the rollback again`,
    );
  }
  if (current.inList) {
    throw new RollbackFailure(
      `${describe(selector)} is inside a kind: List in ${current.file}; roll it back by hand`,
    );
  }

  // Which revision to restore from.
  let restoreFrom: string;
  let undone: string | undefined;
  if (options.to !== undefined) {
    try {
      restoreFrom = (await repoGit.revparse([`${options.to}^{commit}`])).trim();
    } catch (err: unknown) {
      throw new UsageError(`--to ${options.to}: no such revision`, { cause: err });
    }
  } else {
    const log = await repoGit.raw(["log", "--format=%H", head, "--", current.file]);
    const wanted = canonicalJson(current.value);
    let found: { change: string; parent: string } | undefined;
    for (const commit of log.split("\n").filter((l) => l !== "")) {
      const parents = (await repoGit.raw(["rev-list", "--parents", "-n", "1", commit]))
        .trim()
        .split(" ");
      const parent = parents[1];
      const before =
        parent === undefined ? [] : await findObjectAt(repoGit, parent, options.paths, selector);
      const beforeValue = before[0]?.value;
      if (beforeValue !== undefined && canonicalJson(beforeValue) === wanted) continue;
      if (parent === undefined || before.length === 0) {
        throw new RollbackFailure(
          `${describe(selector)} was created in ${short(commit)} and has not changed since; ` +
            "there is no earlier version to roll back to",
        );
      }
      found = { change: commit, parent };
      break;
    }
    if (found === undefined) {
      throw new RollbackFailure(
        `no commit changing ${describe(selector)} found in the history of ${current.file}`,
      );
    }
    restoreFrom = found.parent;
    undone = found.change;
  }

  const old = await findObjectAt(repoGit, restoreFrom, options.paths, selector);
  const previous = old[0];
  if (previous === undefined) {
    throw new RollbackFailure(
      `${describe(selector)} does not exist at ${short(restoreFrom)}; nothing to restore`,
    );
  }
  if (canonicalJson(previous.value) === canonicalJson(current.value)) {
    return undefined;
  }
  const oldText = await repoGit.raw(["cat-file", "blob", `${restoreFrom}:${previous.file}`]);
  const path = join(root, current.file);
  const text = await readFile(path, "utf8");
  const replacement = previous.inList ? undefined : documentSource(oldText, previous.documentIndex);
  if (replacement === undefined) {
    throw new RollbackFailure(
      `${describe(selector)} is inside a kind: List at ${short(restoreFrom)}; roll it back by hand`,
    );
  }
  await writeFile(path, replaceDocument(text, current.documentIndex, replacement));

  const subject = `Roll back ${describe(selector)} to ${short(restoreFrom)}`;
  const body =
    `Restores the manifest of ${describe(selector)} in ${current.file} from revision ${restoreFrom}` +
    (undone === undefined ? "." : `, before its last change in ${undone}.`) +
    "\n\nMade with `llmops rollback`.";
  await repoGit.raw(["commit", "-m", subject, "-m", body, "--", current.file]);
  const commit = (await repoGit.revparse(["HEAD"])).trim();
  if (options.push) await repoGit.push();
  return {
    object: describe(selector),
    file: current.file,
    restoredFrom: restoreFrom,
    ...(undone !== undefined && { undone }),
    commit,
    pushed: options.push,
  };
}

/** Adds `rollback` to the program. */
export function registerRollbackCommand(program: Command, io: CliIo): void {
  program
    .command("rollback")
    .description(
      "Commit a rollback of one object: restore its manifest from the revision before its last " +
        "change (or from --to <rev>). The controller applies the commit like any other.",
    )
    .argument("<kind/name>", "the object, e.g. prompt/support-triage")
    .option("--to <rev>", "restore the manifest as it was at this revision")
    .option("--push", "push the commit to the branch's upstream", false)
    .option("-n, --namespace <ns>", "the object's namespace, when the name alone is ambiguous")
    .option("-C, --repo <dir>", "the git working tree", ".")
    .option(
      "--path <path...>",
      "directories with manifests, relative to the repository root",
      defaultPaths,
    )
    .action(
      async (
        target: string,
        opts: { to?: string; push: boolean; namespace?: string; repo: string; path: string[] },
      ) => {
        let result: RollbackResult | undefined;
        try {
          result = await runRollback(target, {
            repo: opts.repo,
            paths: opts.path,
            push: opts.push,
            ...(opts.to !== undefined && { to: opts.to }),
            ...(opts.namespace !== undefined && { namespace: opts.namespace }),
          });
        } catch (err: unknown) {
          if (!(err instanceof RollbackFailure)) throw err;
          io.stderr(`llmops rollback: ${err.message}\n`);
          throw new CommandExit(ExitCode.Failure);
        }
        if (result === undefined) {
          io.stderr(
            `llmops rollback: ${target} already matches that revision; nothing to commit\n`,
          );
          throw new CommandExit(ExitCode.Ok);
        }
        io.stdout(
          `rolled back ${result.object}: ${result.file} restored from ${short(result.restoredFrom)}` +
            (result.undone === undefined ? "" : ` (undoing ${short(result.undone)})`) +
            `; commit ${short(result.commit)}${result.pushed ? ", pushed" : ""}\n`,
        );
      },
    );
}
