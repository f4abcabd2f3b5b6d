// `llmops diff [--dir specs/ | --ref <git ref>]`: what applying would change in the live cluster,
// computed with server-side dry-run apply exactly as git sync would apply (same loader, same
// validation, same field manager and annotations). Exit 0: nothing would change; 3: something
// would; 1: invalid manifests or errors. `--output markdown` makes a pull-request comment.
import { isAbsolute, relative, resolve } from "node:path";
import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { loadCrds } from "../api/crds.js";
import type { ManifestInput } from "../api/manifests/validate-manifests.js";
import { createObjectValidator } from "../api/validation/object-validator.js";
import type { KubeClient } from "../kube/client.js";
import { errorMessage } from "../kube/errors.js";
import { ConfigMapType, type ConfigMap, type KubeObject } from "../kube/resources.js";
import { comparable, fieldChanges, type FieldChange } from "../gitsync/field-diff.js";
import { gitAt, readManifestsAt } from "../gitsync/git-repository.js";
import { loadRevision, resourceTypeFor, type LoadedRevision } from "../gitsync/revision.js";
import { cliSourceName, defaultPaths } from "../gitsync/source-config.js";
import { decodeSyncState } from "../gitsync/sync-status.js";
import {
  gitSyncFieldManager,
  pruneAnnotation,
  sourceAnnotation,
  syncSourceLabel as statusSourceLabel,
} from "../api/well-known.js";
import { cliKubeClient } from "./cluster-client.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";
import { collectManifestFiles, formatProblemText } from "./validate.js";

export type DiffAction = "create" | "update" | "prune" | "unchanged";

export interface ObjectDiff {
  action: DiffAction;
  kind: string;
  namespace: string;
  name: string;
  file?: string;
  fields: FieldChange[];
}

export interface DiffReport {
  revision: string;
  source: string;
  changes: ObjectDiff[];
  errors: string[];
  /** Set when no inventory was found: objects removed from git cannot be listed. */
  pruneUnknown: boolean;
}

export interface DiffOptions {
  dir?: string;
  ref?: string;
  repo: string;
  paths: string[];
  source: string;
  namespace: string;
  cwd: string;
}

/** The manifests to compare: a directory, or the files under `paths` at a git ref. */
async function readInputs(
  options: DiffOptions,
): Promise<{ inputs: ManifestInput[]; revision: string }> {
  if (options.ref !== undefined) {
    const git = gitAt(resolve(options.cwd, options.repo));
    let sha: string;
    try {
      sha = (await git.revparse([`${options.ref}^{commit}`])).trim();
    } catch (err: unknown) {
      throw new UsageError(`--ref ${options.ref}: no such revision`, { cause: err });
    }
    return { inputs: await readManifestsAt(git, sha, options.paths), revision: sha };
  }
  const dir = options.dir ?? "specs";
  const files = await collectManifestFiles([dir], options.cwd);
  const inputs = await Promise.all(
    files.map(async (file) => {
      const rel = relative(options.cwd, file);
      const shown = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
      return { file: shown, text: await readFile(file, "utf8") };
    }),
  );
  return { inputs, revision: "worktree" };
}

/** Loads and validates what `options` names, as git sync would. */
export async function loadForDiff(options: DiffOptions): Promise<LoadedRevision> {
  const { inputs, revision } = await readInputs(options);
  const crds = await loadCrds();
  return loadRevision(inputs, createObjectValidator(crds), {
    source: options.source,
    revision,
    defaultNamespace: options.namespace,
  });
}

/** Dry-runs `loaded` against the cluster and lists what would change. */
export async function computeDiff(
  client: KubeClient,
  loaded: LoadedRevision,
  source: string,
  statusNamespace?: string,
): Promise<DiffReport> {
  const crds = await loadCrds();
  const report: DiffReport = {
    revision: loaded.revision,
    source,
    changes: [],
    errors: [],
    pruneUnknown: false,
  };
  const wanted = new Set<string>();
  for (const d of loaded.objects) {
    const { namespace, name } = d.object.metadata;
    wanted.add(`${d.type.kind}/${namespace}/${name}`);
    const base = { kind: d.type.kind, namespace, name, file: d.file };
    try {
      const live = await client.tryGet(d.type, { namespace, name });
      const dry: KubeObject = await client.apply(d.type, d.object, {
        fieldManager: gitSyncFieldManager,
        force: true,
        dryRun: true,
        fieldValidation: "Strict",
      });
      if (live === undefined) {
        report.changes.push({ ...base, action: "create", fields: [] });
        continue;
      }
      const fields = fieldChanges(comparable(live), comparable(dry));
      report.changes.push({
        ...base,
        action: fields.length === 0 ? "unchanged" : "update",
        fields,
      });
    } catch (err: unknown) {
      report.errors.push(
        `${d.file}:${String(d.line)}: ${d.type.kind} ${namespace}/${name}: ${errorMessage(err)}`,
      );
    }
  }

  // Prune: what the source's inventory holds that is no longer wanted (and would really go).
  const inventories = await client.list<ConfigMap>(ConfigMapType, {
    labelSelector: `${statusSourceLabel}=${source}`,
    ...(statusNamespace !== undefined && { namespace: statusNamespace }),
  });
  const state = inventories.items.map(decodeSyncState).find((s) => s !== undefined);
  if (state === undefined) {
    report.pruneUnknown = true;
  } else {
    for (const entry of state.inventory) {
      if (wanted.has(`${entry.kind}/${entry.namespace}/${entry.name}`)) continue;
      let type;
      try {
        type = resourceTypeFor(crds, entry.apiVersion, entry.kind);
      } catch {
        continue;
      }
      const live = await client.tryGet(type, { namespace: entry.namespace, name: entry.name });
      if (live === undefined) continue;
      const annotations = live.metadata.annotations ?? {};
      if (annotations[sourceAnnotation] !== source || annotations[pruneAnnotation] === "disabled")
        continue;
      report.changes.push({
        action: "prune",
        kind: entry.kind,
        namespace: entry.namespace,
        name: entry.name,
        file: entry.path,
        fields: [],
      });
    }
  }
  const order: Record<DiffAction, number> = { create: 0, update: 1, prune: 2, unchanged: 3 };
  report.changes.sort(
    (a, b) =>
      order[a.action] - order[b.action] ||
      a.kind.localeCompare(b.kind) ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  );
  return report;
}

function value(v: unknown): string {
  return v === undefined ? "null" : JSON.stringify(v);
}

function fieldLine(f: FieldChange): string {
  switch (f.op) {
    case "add":
      return `+ ${f.path}: ${value(f.to)}`;
    case "remove":
      return `- ${f.path}: ${value(f.from)}`;
    case "change":
      return `~ ${f.path}: ${value(f.from)} → ${value(f.to)}`;
  }
}

function counts(report: DiffReport): Record<DiffAction, number> {
  const c: Record<DiffAction, number> = { create: 0, update: 0, prune: 0, unchanged: 0 };
  for (const change of report.changes) c[change.action]++;
  return c;
}

function summaryLine(report: DiffReport): string {
  const c = counts(report);
  return `${String(c.create)} to create, ${String(c.update)} to update, ${String(c.prune)} to prune, ${String(c.unchanged)} unchanged`;
}

export function formatDiffText(report: DiffReport): string {
  const lines: string[] = [];
  for (const change of report.changes) {
    if (change.action === "unchanged") continue;
    lines.push(
      `${change.action} ${change.kind} ${change.namespace}/${change.name}${change.file === undefined ? "" : ` (${change.file})`}`,
    );
    if (change.action === "update")
      for (const f of change.fields) lines.push(`    ${fieldLine(f)}`);
  }
  for (const e of report.errors) lines.push(`error: ${e}`);
  lines.push(`llmops diff: ${summaryLine(report)}`);
  if (report.pruneUnknown) {
    lines.push(
      `note: no inventory found for git source "${report.source}"; objects removed from git are not listed`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** A pull-request comment: summary, a table of objects, field changes in a diff block. */
export function formatDiffMarkdown(report: DiffReport): string {
  const out: string[] = [`### llmops diff`, ""];
  const changed = report.changes.filter((c) => c.action !== "unchanged");
  out.push(
    changed.length === 0 && report.errors.length === 0
      ? `No changes: the cluster already matches \`${report.revision.slice(0, 12)}\` (${summaryLine(report)}).`
      : `**${summaryLine(report)}** against the live cluster for \`${report.revision.slice(0, 12)}\`.`,
  );
  if (changed.length > 0) {
    out.push("", "| Action | Kind | Namespace | Name | File |", "| --- | --- | --- | --- | --- |");
    for (const c of changed) {
      out.push(`| ${c.action} | ${c.kind} | ${c.namespace} | ${c.name} | ${c.file ?? ""} |`);
    }
    for (const c of changed.filter((x) => x.action === "update")) {
      out.push(
        "",
        `<details><summary>${c.kind} ${c.namespace}/${c.name}: ${String(c.fields.length)} field(s)</summary>`,
        "",
      );
      out.push("```diff");
      for (const f of c.fields) {
        if (f.op !== "add") out.push(`- ${f.path}: ${value(f.from)}`);
        if (f.op !== "remove") out.push(`+ ${f.path}: ${value(f.to)}`);
      }
      out.push("```", "", "</details>");
    }
  }
  if (report.errors.length > 0) {
    out.push("", "**Errors**", "");
    for (const e of report.errors) out.push(`- \`${e.replace(/`/g, "'")}\``);
  }
  if (report.pruneUnknown) {
    out.push(
      "",
      `_No inventory found for git source \`${report.source}\`: objects removed from git are not listed._`,
    );
  }
  return `${out.join("\n")}\n`;
}

/** Adds `diff` to the program. */
export function registerDiffCommand(program: Command, io: CliIo): void {
  program
    .command("diff")
    .description(
      "Show what applying the manifests would change in the live cluster (create, update with " +
        "field-level changes, prune, unchanged), by server-side dry-run apply. Exit 0 when nothing " +
        "would change, 3 when something would, 1 on errors.",
    )
    .option("--dir <dir>", "a directory of manifests (default: specs)")
    .option("--ref <ref>", "the manifests at this git ref instead of a directory")
    .option("-C, --repo <dir>", "the git repository for --ref", ".")
    .option(
      "--path <path...>",
      "with --ref: directories with manifests, relative to the repository root",
      defaultPaths,
    )
    .option(
      "--source <name>",
      "the source to compare as: its label and annotation on objects, its inventory for what would " +
        "be pruned (llmops sync's default too; a controller's git source by its name, e.g. main)",
      cliSourceName,
    )
    .option(
      "--namespace <ns>",
      "namespace for manifests that name none (the source's targetNamespace)",
      "default",
    )
    .option(
      "--status-namespace <ns>",
      "namespace of the source's llmops-sync-<source> ConfigMap (default: searched in all)",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "markdown", "json"])
        .default("text"),
    )
    .action(
      async (opts: {
        dir?: string;
        ref?: string;
        repo: string;
        path: string[];
        source: string;
        namespace: string;
        statusNamespace?: string;
        kubeconfig?: string;
        output: "text" | "markdown" | "json";
      }) => {
        if (opts.dir !== undefined && opts.ref !== undefined) {
          throw new UsageError("give --dir or --ref, not both");
        }
        const loaded = await loadForDiff({
          ...(opts.dir !== undefined && { dir: opts.dir }),
          ...(opts.ref !== undefined && { ref: opts.ref }),
          repo: opts.repo,
          paths: opts.path,
          source: opts.source,
          namespace: opts.namespace,
          cwd: process.cwd(),
        });
        if (loaded.errors.length > 0) {
          for (const p of loaded.errors) io.stderr(`${formatProblemText(p)}\n`);
          io.stderr(`llmops diff: ${String(loaded.errors.length)} invalid; nothing compared\n`);
          throw new CommandExit(ExitCode.Failure);
        }
        const client = cliKubeClient({
          ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
          fieldManager: gitSyncFieldManager,
        });
        let report: DiffReport;
        try {
          report = await computeDiff(client, loaded, opts.source, opts.statusNamespace);
        } finally {
          await client.close();
        }
        if (opts.output === "json")
          io.stdout(`${JSON.stringify({ ...report, summary: counts(report) }, null, 2)}\n`);
        else if (opts.output === "markdown") io.stdout(formatDiffMarkdown(report));
        else io.stdout(formatDiffText(report));
        if (report.errors.length > 0) throw new CommandExit(ExitCode.Failure);
        if (report.changes.some((c) => c.action !== "unchanged"))
          throw new CommandExit(ExitCode.Changes);
      },
    );
}
