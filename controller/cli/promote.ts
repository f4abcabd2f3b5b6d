// `llmops promote experiment/<name>`: the commit that gives an Experiment's winning Prompt version
// its promotion label (spec.promotion.label), in the local checkout. Reads the Experiment and the
// winner's Prompt from the cluster, writes git; the cluster follows once git sync applies it.
import { promoteRollout } from "./promote-rollout.js";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Command, Option } from "commander";
import { llmopsKinds, type Experiment, type Prompt } from "../api/generated/index.js";
import type { KubeClient } from "../kube/client.js";
import { NotFoundError, TransientError, errorMessage } from "../kube/errors.js";
import type { StoredObject } from "../kube/resources.js";
import { pathAnnotation } from "../api/well-known.js";
import { promoteInCheckout, type CheckoutPromotion } from "../promotion/git-promoter.js";
import { planPromotion, promotionCommitMessage, winningVariant } from "../promotion/plan.js";
import { readPromptSnapshot, snapshotName } from "../prompts/snapshots.js";
import { cliKubeClient } from "./cluster-client.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";

const run = promisify(execFile);

export interface PromoteOptions {
  dir: string;
  push: boolean;
  dryRun: boolean;
}

/** What `-o json` prints. */
export interface PromoteReport {
  prompt: string;
  version: number;
  label: string;
  /** The promotion commit; HEAD when nothing changed; null when nothing was to be done. */
  commit: string | null;
  changed: boolean;
  file?: string;
  labels?: string[];
  pushed: boolean;
  dryRun: boolean;
  /** Why nothing changed, in words. */
  message?: string;
}

/** `<kind>/<name>` written as kubectl takes it (Kind, plural, singular or short name) → name. */
function targetOf(
  text: string,
  kind: (typeof llmopsKinds)[keyof typeof llmopsKinds],
): string | undefined {
  const slash = text.indexOf("/");
  const word = text.slice(0, Math.max(0, slash)).toLowerCase();
  const words: string[] = [kind.kind.toLowerCase(), kind.plural, kind.singular, ...kind.shortNames];
  return slash > 0 && slash < text.length - 1 && words.includes(word)
    ? text.slice(slash + 1)
    : undefined;
}

/** `modeldeployment/x`, `md/x`, … → x; undefined for another kind. */
function modelDeploymentTarget(text: string): string | undefined {
  return targetOf(text, llmopsKinds.ModelDeployment);
}

/** `experiment/x`, `Experiment/x`, `experiments/x`, `exp/x` → x. */
export function parseExperimentTarget(text: string): string {
  const name = targetOf(text, llmopsKinds.Experiment);
  if (name === undefined) {
    throw new UsageError(
      `expected experiment/<name> or modeldeployment/<name>, e.g. experiment/support-triage (got "${text}")`,
    );
  }
  return name;
}

/** The namespace of the kubeconfig's current context, as kubectl picks it. */
function contextNamespace(kubeconfig: string | undefined): string | undefined {
  return loadKubeConfig(kubeconfig !== undefined ? { path: kubeconfig } : {}).namespace;
}

/** A unified diff of `before` → `after` for `file`, by `git diff --no-index`. */
async function unifiedDiff(file: string, before: string, after: string): Promise<string> {
  if (before === after) return "";
  const dir = await mkdtemp(join(tmpdir(), "llmops-promote-diff-"));
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

class ClusterUnreachable extends Error {
  override name = "ClusterUnreachable";
}

/** Plans and writes the promotion for Experiment `namespace/name`; prints nothing. */
export async function runPromote(
  client: KubeClient,
  name: string,
  namespace: string,
  options: PromoteOptions,
): Promise<
  | { kind: "nothing"; exitCode: ExitCode; message: string; report?: PromoteReport }
  | { kind: "promoted"; result: CheckoutPromotion; report: PromoteReport; diff: string }
> {
  const experiment = await readCluster(`Experiment ${namespace}/${name}`, () =>
    client.tryGet<StoredObject<Experiment>>(llmopsKinds.Experiment, { namespace, name }),
  );
  if (experiment === undefined) {
    return {
      kind: "nothing",
      exitCode: ExitCode.Failure,
      message: `Experiment ${namespace}/${name} not found; check the name and -n`,
    };
  }
  const variant = winningVariant(experiment);
  const prompt =
    variant === undefined
      ? undefined
      : await readCluster(`Prompt ${namespace}/${variant.prompt.name}`, () =>
          client.tryGet<StoredObject<Prompt>>(llmopsKinds.Prompt, {
            namespace,
            name: variant.prompt.name,
          }),
        );
  const decision = planPromotion({ experiment, prompt });
  switch (decision.kind) {
    case "none":
    case "blocked":
      return { kind: "nothing", exitCode: ExitCode.Failure, message: decision.message };
    case "notNeeded":
      return {
        kind: "nothing",
        exitCode: ExitCode.Ok,
        message: `nothing to do: ${decision.message}`,
        report: {
          prompt: decision.prompt,
          version: decision.version,
          label: decision.label,
          commit: null,
          changed: false,
          pushed: false,
          dryRun: options.dryRun,
          message: decision.message,
        },
      };
    case "promote":
      break;
  }

  const snapshot = decision.needsContent
    ? await readCluster(
        `the snapshot of Prompt ${decision.prompt} version ${String(decision.version)}`,
        () => readPromptSnapshot(client, namespace, decision.prompt, decision.version),
      )
    : undefined;
  if (decision.needsContent && snapshot?.contentHash !== decision.contentHash) {
    return {
      kind: "nothing",
      exitCode: ExitCode.Failure,
      message:
        `the content of Prompt ${decision.prompt} version ${String(decision.version)} is not available ` +
        `(ConfigMap ${namespace}/${snapshotName(decision.prompt, decision.version)} is missing, edited, or holds other content); ` +
        "it cannot be written back to git: restore that content by hand (git revert) and add the label",
    };
  }
  const target = {
    prompt: decision.prompt,
    version: decision.version,
    contentHash: decision.contentHash,
    label: decision.label,
  };
  const file = prompt?.metadata.annotations?.[pathAnnotation];
  const result = await promoteInCheckout({
    dir: options.dir,
    ...(file !== undefined && { file }),
    paths: ["."],
    promptName: decision.prompt,
    namespace,
    label: decision.label,
    ...(snapshot !== undefined
      ? { snapshot: snapshot.spec }
      : { expectContentHash: decision.contentHash }),
    message: (f) =>
      promotionCommitMessage({
        experiment,
        target,
        needsContent: decision.needsContent,
        file: f,
      }),
    push: options.push,
    dryRun: options.dryRun,
  });
  return {
    kind: "promoted",
    result,
    diff: options.dryRun ? await unifiedDiff(result.file, result.before, result.after) : "",
    report: {
      ...target,
      commit: result.commit,
      changed: result.changed,
      file: result.file,
      labels: result.labels,
      pushed: result.pushed,
      dryRun: options.dryRun,
      ...(!result.changed && {
        message: `${result.file} already gives Prompt ${target.prompt} label ${target.label}`,
      }),
    },
  };
}

function describeResult(report: PromoteReport, result: CheckoutPromotion): string {
  const what = `Prompt ${report.prompt} version ${String(report.version)}`;
  const labels = `spec.labels [${result.labels.join(", ")}]`;
  if (report.dryRun) {
    return result.changed
      ? `would promote ${what}: label ${report.label} in ${result.file} (${labels}); nothing committed (--dry-run)\n`
      : `nothing to do: ${result.file} already gives ${what} label ${report.label}\n`;
  }
  if (!result.changed) {
    return `nothing to do: ${result.file} already gives ${what} label ${report.label} (the cluster has not applied it yet)\n`;
  }
  return `promoted ${what}: label ${report.label} in ${result.file} (${labels}); commit ${result.commit.slice(0, 7)}${result.pushed ? ", pushed" : "; push it (or use --push) for the cluster to follow"}\n`;
}

/** The `promote` command. */
export function promoteCommand(options: { io: CliIo }): Command {
  const { io } = options;
  return new Command("promote")
    .description(
      "Commit the promotion of an Experiment's winner: its Prompt version gets spec.promotion.label " +
        "(and, when it is not the live version, its content back) in the local checkout. Exit 0 when " +
        "promoted or nothing is to be done, 1 when there is no winner yet, 4 when the cluster cannot be read. " +
        "For modeldeployment/<name>: annotate the live object so its rollout skips the remaining " +
        "canary steps (an operational act, not a commit; exit 1 when no rollout is in progress).",
    )
    .argument(
      "<experiment/name|modeldeployment/name>",
      "the Experiment (e.g. experiment/support-triage) or ModelDeployment (modeldeployment/coder-7b)",
    )
    .option("-n, --namespace <ns>", "the Experiment's namespace (default: the context's)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--dir <dir>", "a directory inside the git checkout to commit in", ".")
    .option("--push", "push the commit to the branch's upstream", false)
    .option("--dry-run", "print the change without committing", false)
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "json"])
        .default("text"),
    )
    .action(
      async (
        target: string,
        opts: {
          namespace?: string;
          kubeconfig?: string;
          dir: string;
          push: boolean;
          dryRun: boolean;
          output: "text" | "json";
        },
      ) => {
        const rollout = modelDeploymentTarget(target);
        const name = rollout ?? parseExperimentTarget(target);
        if (opts.push && opts.dryRun) throw new UsageError("give --push or --dry-run, not both");
        let namespace: string;
        let client: KubeClient;
        try {
          namespace = opts.namespace ?? contextNamespace(opts.kubeconfig) ?? "default";
          client = cliKubeClient({
            ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
            fieldManager: "llmops-cli",
          });
        } catch (err: unknown) {
          throw new UsageError(`cannot load the kubeconfig: ${errorMessage(err)}`, { cause: err });
        }
        try {
          if (rollout !== undefined) {
            const promoted = await readCluster(`ModelDeployment ${namespace}/${name}`, () =>
              promoteRollout(client, name, namespace, { dryRun: opts.dryRun }),
            );
            if (opts.output === "json") io.stdout(`${JSON.stringify(promoted.report, null, 2)}\n`);
            else if (promoted.exitCode === ExitCode.Ok) io.stdout(`${promoted.report.message}\n`);
            if (promoted.exitCode !== ExitCode.Ok) {
              if (opts.output !== "json") io.stderr(`llmops promote: ${promoted.report.message}\n`);
              throw new CommandExit(promoted.exitCode);
            }
            return;
          }
          const outcome = await runPromote(client, name, namespace, {
            dir: opts.dir,
            push: opts.push,
            dryRun: opts.dryRun,
          });
          if (outcome.kind === "nothing") {
            if (outcome.exitCode === ExitCode.Ok) {
              if (opts.output === "json" && outcome.report !== undefined) {
                io.stdout(`${JSON.stringify(outcome.report, null, 2)}\n`);
              } else {
                io.stdout(`${outcome.message}\n`);
              }
              return;
            }
            io.stderr(`llmops promote: ${outcome.message}\n`);
            throw new CommandExit(outcome.exitCode);
          }
          if (opts.output === "json") {
            io.stdout(`${JSON.stringify(outcome.report, null, 2)}\n`);
            return;
          }
          if (outcome.diff !== "") io.stdout(`${outcome.diff}\n`);
          io.stdout(describeResult(outcome.report, outcome.result));
        } catch (err: unknown) {
          if (err instanceof ClusterUnreachable) {
            io.stderr(`llmops promote: ${err.message}\n`);
            throw new CommandExit(ExitCode.ClusterUnreachable);
          }
          if (err instanceof NotFoundError) {
            // The CRDs are not installed.
            io.stderr(`llmops promote: ${err.message}\n`);
            throw new CommandExit(ExitCode.Failure);
          }
          throw err;
        } finally {
          await client.close();
        }
      },
    );
}
