// `llmops approve trainingjob/<name>`: the commit that approves one expensive training run. It
// writes `llmops.dev/approved-run: <runId>` into the TrainingJob's manifest in the local checkout,
// so the approval is reviewed like any change and binds to that run only; the controller starts
// the run once git sync applies the commit. The runId is the live object's status.runId (the run
// waiting in phase AwaitingApproval), or --run-id.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Command, Option } from "commander";
import type { SimpleGit } from "simple-git";
import { isMap, isScalar, parseAllDocuments, type Document } from "yaml";
import { llmopsKinds, type TrainingJob } from "../api/generated/index.js";
import type { TrainingJobStatusEstimate } from "../api/generated/training-job.js";
import { parseManifestSource } from "../api/manifests/yaml-source.js";
import { approvedRunAnnotation, pathAnnotation } from "../api/well-known.js";
import { gitAt, readManifestsAt } from "../gitsync/git-repository.js";
import type { KubeClient } from "../kube/client.js";
import { NotFoundError, TransientError, errorMessage } from "../kube/errors.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import type { StoredObject } from "../kube/resources.js";
import { cliKubeClient } from "./cluster-client.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";

const run = promisify(execFile);

/** The approval cannot be made as asked (exit 1); the message says what to do. */
export class ApproveFailure extends Error {
  override name = "ApproveFailure";
}

/** The cluster could not be read, so nothing was decided (exit 4). */
class ClusterUnreachable extends Error {
  override name = "ClusterUnreachable";
}

export interface ApproveOptions {
  /** A directory inside the git checkout. */
  dir: string;
  push: boolean;
  dryRun: boolean;
  /** Approve this run instead of the live object's status.runId (the cluster is not read). */
  runId?: string;
  /** Where to look for the manifest, relative to the repository root. Default ["."]. */
  paths?: readonly string[];
}

/** What `-o json` prints. */
export interface ApproveReport {
  trainingJob: string;
  namespace: string;
  runId: string;
  /** The edited manifest, repository-relative. */
  file?: string;
  /** The approval commit; HEAD when nothing changed; null when nothing was to be done. */
  commit: string | null;
  changed: boolean;
  pushed: boolean;
  dryRun: boolean;
  /** The run the manifest approved before (replaced by this one). */
  previousRunId?: string;
  /** The live estimate, when the cluster was read. */
  estimate?: TrainingJobStatusEstimate;
  /** Why nothing changed, in words. */
  message?: string;
}

export type ApproveOutcome =
  | { kind: "nothing"; exitCode: ExitCode; message: string; report?: ApproveReport }
  | { kind: "approved"; report: ApproveReport; diff: string };

/** `trainingjob/x`, `TrainingJob/x`, `trainingjobs/x`, `tj/x` → x. */
export function parseTrainingJobTarget(text: string): string {
  const kind = llmopsKinds.TrainingJob;
  const slash = text.indexOf("/");
  const word = text.slice(0, Math.max(0, slash)).toLowerCase();
  const words: string[] = [kind.kind.toLowerCase(), kind.plural, kind.singular, ...kind.shortNames];
  if (slash <= 0 || slash === text.length - 1 || !words.includes(word)) {
    throw new UsageError(
      `expected trainingjob/<name>, e.g. trainingjob/coder-7b-lora (got "${text}")`,
    );
  }
  return text.slice(slash + 1);
}

const runIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function matchesTrainingJob(value: unknown, name: string, namespace: string): boolean {
  const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  if (v?.kind !== "TrainingJob" || v.metadata?.name !== name) return false;
  const ns = v.metadata.namespace;
  return ns === undefined || ns === null || ns === namespace;
}

export interface ApprovalEdit {
  /** Repository-relative path, for messages. */
  file: string;
  text: string;
  name: string;
  namespace: string;
  runId: string;
}

export interface ApprovalEditResult {
  text: string;
  changed: boolean;
  /** The run the document approved before, when another one. */
  previousRunId?: string;
}

/** Whether the source writes block sequences flush with their key (`- a` under `key:`), as kubectl does. */
function flushSequences(source: string): boolean {
  return /^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(source);
}

/**
 * The file with metadata.annotations[llmops.dev/approved-run] set to the run, in the
 * TrainingJob's document only, through the yaml Document API so comments and the other documents
 * survive. Pure. Throws ApproveFailure when the document is missing, ambiguous, in a List or not
 * a mapping.
 */
export function applyApprovalEdit(edit: ApprovalEdit): ApprovalEditResult {
  const who = `TrainingJob ${edit.namespace}/${edit.name}`;
  const docs = parseAllDocuments(edit.text) as Document.Parsed[] | { errors: unknown[] };
  if (!Array.isArray(docs)) throw new ApproveFailure(`${edit.file}: not valid YAML`);
  const found: number[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      throw new ApproveFailure(
        `${edit.file}: not valid YAML (${doc.errors[0]?.message ?? "parse error"}); fix the file first`,
      );
    }
    const value: unknown = doc.toJS();
    if (matchesTrainingJob(value, edit.name, edit.namespace)) found.push(index);
    const list = value as { kind?: unknown; items?: unknown } | null;
    if (
      list?.kind === "List" &&
      Array.isArray(list.items) &&
      list.items.some((item) => matchesTrainingJob(item, edit.name, edit.namespace))
    ) {
      throw new ApproveFailure(
        `${edit.file}: ${who} is inside a kind: List; move it to its own document, or annotate it by hand (${approvedRunAnnotation}: ${edit.runId})`,
      );
    }
  });
  if (found.length !== 1) {
    throw new ApproveFailure(
      found.length === 0
        ? `${edit.file}: no document defines ${who}`
        : `${edit.file}: ${who} is defined ${String(found.length)} times; give each document a metadata.namespace`,
    );
  }
  const index = found[0] as number;
  const doc = docs[index] as Document.Parsed;
  const metadata: unknown = isMap(doc.contents) ? doc.contents.get("metadata", true) : undefined;
  if (!isMap(metadata)) {
    throw new ApproveFailure(`${edit.file}: ${who} has no metadata mapping`);
  }
  const annotations: unknown = metadata.get("annotations", true);
  let previousRunId: string | undefined;
  if (annotations === undefined || (isScalar(annotations) && annotations.value === null)) {
    metadata.set("annotations", doc.createNode({ [approvedRunAnnotation]: edit.runId }));
  } else if (isMap(annotations)) {
    const current: unknown = annotations.get(approvedRunAnnotation);
    if (current === edit.runId) return { text: edit.text, changed: false };
    if (current !== undefined && current !== null) {
      previousRunId = typeof current === "string" ? current : JSON.stringify(current);
    }
    annotations.set(approvedRunAnnotation, edit.runId);
  } else {
    throw new ApproveFailure(
      `${edit.file}: metadata.annotations of ${who} is not a mapping; write it as key: value pairs`,
    );
  }
  // Replace only this document's source, from the end of the previous one (its separator and
  // leading comments belong to this one) to the end of this one.
  const start = index === 0 ? 0 : (docs[index - 1] as Document.Parsed).range[2];
  const end = doc.range[2];
  let printed = doc.toString({
    lineWidth: 0,
    indentSeq: !flushSequences(edit.text.slice(start, end)),
  });
  if (end === edit.text.length && !edit.text.endsWith("\n")) printed = printed.replace(/\n$/, "");
  const text = edit.text.slice(0, start) + printed + edit.text.slice(end);
  return {
    text,
    changed: text !== edit.text,
    ...(previousRunId !== undefined && { previousRunId }),
  };
}

/** A unified diff of `before` → `after` for `file`, by `git diff --no-index`. */
async function unifiedDiff(file: string, before: string, after: string): Promise<string> {
  if (before === after) return "";
  const dir = await mkdtemp(join(tmpdir(), "llmops-approve-diff-"));
  try {
    await writeFile(join(dir, "a"), before);
    await writeFile(join(dir, "b"), after);
    let out = "";
    try {
      await run("git", ["diff", "--no-index", "--no-color", "--no-prefix", "a", "b"], { cwd: dir });
    } catch (err: unknown) {
      // Exit 1 means "differs"; the diff is on stdout.
      out = (err as { stdout?: string }).stdout ?? "";
    }
    const lines = out.split("\n");
    const hunk = lines.findIndex((l) => l.startsWith("@@"));
    return [`--- a/${file}`, `+++ b/${file}`, ...lines.slice(Math.max(0, hunk))].join("\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether `file` at HEAD defines the TrainingJob. */
async function definesTrainingJob(
  git: SimpleGit,
  file: string,
  name: string,
  namespace: string,
): Promise<boolean> {
  let text: string;
  try {
    text = await git.raw(["cat-file", "blob", `HEAD:${file}`]);
  } catch {
    return false;
  }
  return parseManifestSource(file, text).objects.some((o) =>
    matchesTrainingJob(o.value, name, namespace),
  );
}

/** The one committed manifest that defines the TrainingJob: its llmops.dev/path, else a search. */
async function findTrainingJobFile(
  git: SimpleGit,
  name: string,
  namespace: string,
  hint: string | undefined,
  paths: readonly string[],
): Promise<string> {
  if (hint !== undefined && (await definesTrainingJob(git, hint, name, namespace))) return hint;
  const files = new Set<string>();
  for (const input of await readManifestsAt(git, "HEAD", paths)) {
    for (const object of parseManifestSource(input.file, input.text).objects) {
      if (matchesTrainingJob(object.value, name, namespace)) files.add(input.file);
    }
  }
  if (files.size > 1) {
    throw new ApproveFailure(
      `TrainingJob ${name} is defined in ${[...files].join(", ")}; give the manifests a metadata.namespace`,
    );
  }
  const file = [...files][0];
  if (file === undefined) {
    throw new ApproveFailure(
      `no committed manifest under ${paths.join(", ")} defines TrainingJob ${namespace}/${name}` +
        (hint === undefined ? "" : ` (${hint}, its ${pathAnnotation}, does not either)`) +
        "; run the command in the checkout that holds it (--dir)",
    );
  }
  return file;
}

async function readCluster<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err: unknown) {
    if (err instanceof TransientError) {
      throw new ClusterUnreachable(`cannot read ${what} from the cluster: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    throw err;
  }
}

const usd = (n: number): string => `$${n.toFixed(2)}`;

/** Why a live TrainingJob in `phase` cannot be approved now, and what to do instead. */
function notWaiting(who: string, phase: string, runId: string): string {
  const base = `${who} is not waiting for approval (phase ${phase})`;
  switch (phase) {
    case "Running":
      return `${base}: run ${runId} is already running and needs no approval`;
    case "Succeeded":
    case "Failed":
    case "Cancelled":
      return `${base}: run ${runId} has finished; a changed training spec is a new run, which waits in AwaitingApproval when its estimate is above spec.budget.approvalThresholdUSD`;
    default:
      return `${base}: its estimate is within spec.budget.approvalThresholdUSD, or not made yet; run the command again once the phase is AwaitingApproval, or give --run-id ${runId} to approve that run ahead`;
  }
}

function commitMessage(options: {
  name: string;
  namespace: string;
  runId: string;
  live: StoredObject<TrainingJob> | undefined;
  previousRunId: string | undefined;
}): string {
  const { name, namespace, runId, live, previousRunId } = options;
  const estimate = live?.status?.estimate;
  const threshold = live?.spec.budget?.approvalThresholdUSD;
  const body: string[] = [];
  if (estimate?.costUSD !== undefined) {
    const gpus =
      estimate.gpuType === undefined
        ? ""
        : ` on ${String(estimate.gpuCount ?? 1)} × ${estimate.gpuType}`;
    const hours = estimate.hours === undefined ? "" : `, ${String(estimate.hours)} h`;
    body.push(
      `Approves run ${runId} of TrainingJob ${namespace}/${name}, estimated at ${usd(estimate.costUSD)}${gpus}${hours}` +
        (threshold === undefined
          ? "."
          : `, above spec.budget.approvalThresholdUSD ${usd(threshold)}.`),
    );
  } else {
    body.push(`Approves run ${runId} of TrainingJob ${namespace}/${name}.`);
  }
  if (previousRunId !== undefined) body.push(`It replaces the approval of run ${previousRunId}.`);
  body.push(
    "The run starts once the controller applies this commit. The approval binds to this run " +
      "only: a change to the training spec is a new run that needs its own.",
  );
  return (
    `approve: TrainingJob ${name} run ${runId}\n\n${body.join("\n\n")}\n\n` +
    `Llmops-TrainingJob: ${namespace}/${name}\nLlmops-Approved-Run: ${runId}\n`
  );
}

/**
 * Decides and writes the approval of TrainingJob `namespace/name`; prints nothing. `client` is
 * not used when options.runId is given. Throws ApproveFailure (exit 1) or ClusterUnreachable.
 */
export async function runApprove(
  client: KubeClient | undefined,
  name: string,
  namespace: string,
  options: ApproveOptions,
): Promise<ApproveOutcome> {
  const who = `TrainingJob ${namespace}/${name}`;
  let live: StoredObject<TrainingJob> | undefined;
  let runId = options.runId;
  if (runId === undefined) {
    if (client === undefined) throw new Error("runApprove needs a client without a runId");
    live = await readCluster(who, () =>
      client.tryGet<StoredObject<TrainingJob>>(llmopsKinds.TrainingJob, { namespace, name }),
    );
    if (live === undefined) {
      return {
        kind: "nothing",
        exitCode: ExitCode.Failure,
        message: `${who} not found in the cluster; check the name and -n, or give --run-id to approve a run the cluster has not seen`,
      };
    }
    const liveRunId = live.status?.runId;
    const phase = live.status?.phase ?? "Pending";
    if (liveRunId === undefined || liveRunId === "") {
      return {
        kind: "nothing",
        exitCode: ExitCode.Failure,
        message: `${who} has no status.runId yet (phase ${phase}): the controller has not planned its run; wait until its phase is AwaitingApproval (kubectl get trainingjob ${name} -n ${namespace}), or give --run-id`,
      };
    }
    const approved = live.metadata.annotations?.[approvedRunAnnotation] === liveRunId;
    if (phase !== "AwaitingApproval") {
      if (approved) {
        const message = `run ${liveRunId} of ${who} is already approved (phase ${phase})`;
        return {
          kind: "nothing",
          exitCode: ExitCode.Ok,
          message: `nothing to do: ${message}`,
          report: {
            trainingJob: name,
            namespace,
            runId: liveRunId,
            commit: null,
            changed: false,
            pushed: false,
            dryRun: options.dryRun,
            message,
          },
        };
      }
      return {
        kind: "nothing",
        exitCode: ExitCode.Failure,
        message: notWaiting(who, phase, liveRunId),
      };
    }
    runId = liveRunId;
  }

  const probe = gitAt(options.dir);
  let root: string;
  try {
    root = (await probe.revparse(["--show-toplevel"])).trim();
  } catch (err: unknown) {
    throw new ApproveFailure(
      `${options.dir} is not inside a git working tree; run the command in the checkout (or pass --dir)`,
      { cause: err },
    );
  }
  const git = gitAt(root);
  const file = await findTrainingJobFile(
    git,
    name,
    namespace,
    live?.metadata.annotations?.[pathAnnotation],
    options.paths ?? ["."],
  );
  const dirty = (await git.raw(["status", "--porcelain", "--", file])).trim();
  if (dirty !== "") {
    throw new ApproveFailure(
      `${file} has uncommitted changes; commit or stash them, then run the approval again`,
    );
  }
  const path = join(root, file);
  const before = await readFile(path, "utf8");
  const edited = applyApprovalEdit({ file, text: before, name, namespace, runId });
  const head = (await git.revparse(["HEAD"])).trim();
  const report: ApproveReport = {
    trainingJob: name,
    namespace,
    runId,
    file,
    commit: head,
    changed: edited.changed,
    pushed: false,
    dryRun: options.dryRun,
    ...(edited.previousRunId !== undefined && { previousRunId: edited.previousRunId }),
    ...(live?.status?.estimate !== undefined && { estimate: live.status.estimate }),
  };
  if (!edited.changed) {
    return {
      kind: "approved",
      diff: "",
      report: { ...report, message: `${file} already approves run ${runId} of ${who}` },
    };
  }
  if (options.dryRun) {
    return { kind: "approved", report, diff: await unifiedDiff(file, before, edited.text) };
  }
  await writeFile(path, edited.text);
  const message = commitMessage({
    name,
    namespace,
    runId,
    live,
    previousRunId: edited.previousRunId,
  });
  // Only this file: whatever else is staged stays staged. The person's own identity and signing
  // settings apply; hooks are skipped as `llmops promote` skips them (the edit is one annotation).
  await git.raw(["commit", "--no-verify", "-m", message, "--", file]);
  const commit = (await git.revparse(["HEAD"])).trim();
  if (!options.push) return { kind: "approved", report: { ...report, commit }, diff: "" };
  try {
    await git.push();
  } catch (err: unknown) {
    throw new ApproveFailure(
      `committed ${commit.slice(0, 7)}, but pushing it failed: ${err instanceof Error ? err.message.trim() : String(err)}; run \`git pull --rebase && git push\``,
      { cause: err },
    );
  }
  return { kind: "approved", report: { ...report, commit, pushed: true }, diff: "" };
}

function describeResult(report: ApproveReport): string {
  const what = `run ${report.runId} of TrainingJob ${report.namespace}/${report.trainingJob}`;
  const file = report.file ?? "";
  if (!report.changed) {
    return `nothing to do: ${file} already approves ${what}${report.dryRun ? "" : " (the cluster has not applied it yet, or is applying it now)"}\n`;
  }
  const replaced =
    report.previousRunId === undefined
      ? ""
      : ` (replacing the approval of run ${report.previousRunId})`;
  if (report.dryRun) {
    return `would approve ${what}: ${approvedRunAnnotation} in ${file}${replaced}; nothing committed (--dry-run)\n`;
  }
  return (
    `approved ${what}: ${approvedRunAnnotation} in ${file}${replaced}; commit ${(report.commit ?? "").slice(0, 7)}` +
    `${report.pushed ? ", pushed" : "; push it (or use --push) for the cluster to follow"}\n`
  );
}

/** The namespace of the kubeconfig's current context, as kubectl picks it. */
function contextNamespace(kubeconfig: string | undefined): string | undefined {
  return loadKubeConfig(kubeconfig !== undefined ? { path: kubeconfig } : {}).namespace;
}

interface ApproveFlags {
  namespace?: string;
  kubeconfig?: string;
  dir: string;
  push: boolean;
  dryRun: boolean;
  runId?: string;
  output: "text" | "json";
}

/** The `approve` command. */
export function approveCommand(options: { io: CliIo }): Command {
  const { io } = options;
  return new Command("approve")
    .description(
      "Commit the approval of a TrainingJob's run: the annotation llmops.dev/approved-run: <runId> " +
        "in its manifest in the local checkout, for the run waiting in phase AwaitingApproval (its " +
        "status.runId) or --run-id. The controller starts the run once it applies the commit. Exit 0 " +
        "when approved or already approved, 1 when there is nothing to approve, 4 when the cluster cannot be read.",
    )
    .argument("<trainingjob/name>", "the TrainingJob, e.g. trainingjob/coder-7b-lora")
    .option("-n, --namespace <ns>", "the TrainingJob's namespace (default: the context's)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--dir <dir>", "a directory inside the git checkout to commit in", ".")
    .option("--run-id <id>", "approve this run (status.runId) without reading the cluster")
    .option("--push", "push the commit to the branch's upstream", false)
    .option("--dry-run", "print the change without committing", false)
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "json"])
        .default("text"),
    )
    .action(async (target: string, opts: ApproveFlags) => {
      const name = parseTrainingJobTarget(target);
      if (opts.push && opts.dryRun) throw new UsageError("give --push or --dry-run, not both");
      if (opts.runId !== undefined && !runIdPattern.test(opts.runId)) {
        throw new UsageError(
          `--run-id ${JSON.stringify(opts.runId)} is not a run id; copy status.runId of the TrainingJob`,
        );
      }
      let namespace = opts.namespace;
      let client: KubeClient | undefined;
      try {
        namespace ??= contextNamespace(opts.kubeconfig);
        if (opts.runId === undefined) {
          client = cliKubeClient({
            ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
            fieldManager: "llmops-cli",
          });
        }
      } catch (err: unknown) {
        // With --run-id the cluster is not needed, and neither is a kubeconfig.
        if (opts.runId === undefined) {
          throw new UsageError(`cannot load the kubeconfig: ${errorMessage(err)}`, { cause: err });
        }
      }
      namespace ??= "default";
      try {
        const outcome = await runApprove(client, name, namespace, {
          dir: opts.dir,
          push: opts.push,
          dryRun: opts.dryRun,
          ...(opts.runId !== undefined && { runId: opts.runId }),
        });
        if (outcome.kind === "nothing") {
          if (outcome.exitCode === ExitCode.Ok) {
            io.stdout(
              opts.output === "json" && outcome.report !== undefined
                ? `${JSON.stringify(outcome.report, null, 2)}\n`
                : `${outcome.message}\n`,
            );
            return;
          }
          io.stderr(`llmops approve: ${outcome.message}\n`);
          throw new CommandExit(outcome.exitCode);
        }
        if (opts.output === "json") {
          io.stdout(`${JSON.stringify(outcome.report, null, 2)}\n`);
          return;
        }
        if (outcome.diff !== "") io.stdout(`${outcome.diff}\n`);
        io.stdout(describeResult(outcome.report));
      } catch (err: unknown) {
        if (err instanceof ApproveFailure) {
          io.stderr(`llmops approve: ${err.message}\n`);
          throw new CommandExit(ExitCode.Failure);
        }
        if (err instanceof ClusterUnreachable) {
          io.stderr(`llmops approve: ${err.message}\n`);
          throw new CommandExit(ExitCode.ClusterUnreachable);
        }
        if (err instanceof NotFoundError) {
          // The CRDs are not installed.
          io.stderr(`llmops approve: ${err.message}\n`);
          throw new CommandExit(ExitCode.Failure);
        }
        throw err;
      } finally {
        await client?.close();
      }
    });
}
