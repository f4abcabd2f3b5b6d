// `llmops validate [paths…]`: the pull-request check. Reads manifest files and directories,
// validates every llmops object offline exactly as the apiserver would (schema, defaults, CEL),
// checks the set (duplicates, dangling references), and prints each finding as
// file:line:col: field: message.
import { readdir, readFile, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { Command, Option } from "commander";
import { defaultCrdDirectory, loadCrds } from "../api/crds.js";
import {
  validateManifests,
  type ManifestInput,
  type ManifestProblem,
  type ManifestReport,
} from "../api/manifests/validate-manifests.js";
import { createObjectValidator } from "../api/validation/object-validator.js";
import { CommandExit, UsageError } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";

const outputFormats = ["text", "json", "github"] as const;
type OutputFormat = (typeof outputFormats)[number];

/** Where `llmops validate` looks when given no paths: the layout DESIGN.md describes. */
export const defaultValidatePath = "specs";

const manifestExtensions = /\.(ya?ml|json)$/i;
const skippedDirectories = new Set(["node_modules", ".git"]);

export interface ValidateOptions {
  output: OutputFormat;
  crds?: string;
  cwd: string;
}

/** Lists the manifest files under `paths` (files as given; directories recursively, sorted). */
export async function collectManifestFiles(
  paths: readonly string[],
  cwd: string,
): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      // Dot-files and dot-directories (.github/, .pre-commit-config.yaml) are tool settings.
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory()) {
        if (skippedDirectories.has(entry.name)) continue;
        await walk(full);
      } else if (entry.isFile() && manifestExtensions.test(entry.name)) {
        files.push(full);
      }
    }
  };
  for (const given of paths) {
    const full = isAbsolute(given) ? given : resolve(cwd, given);
    let info;
    try {
      info = await stat(full);
    } catch (err: unknown) {
      throw new UsageError(`${given}: no such file or directory`, { cause: err });
    }
    if (info.isDirectory()) await walk(full);
    else files.push(full);
  }
  return [...new Set(files)];
}

/** How a file is named in findings: relative to the working directory when inside it. */
function displayPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

/** Runs the validation and returns the report; the command prints it. Exported for tests and bench. */
export async function runValidate(
  paths: readonly string[],
  options: ValidateOptions,
): Promise<ManifestReport> {
  const files = await collectManifestFiles(paths, options.cwd);
  const crds = await loadCrds(options.crds ?? defaultCrdDirectory());
  const inputs: ManifestInput[] = await Promise.all(
    files.map(async (file) => ({
      file: displayPath(file, options.cwd),
      text: await readFile(file, "utf8"),
    })),
  );
  return validateManifests(inputs, createObjectValidator(crds));
}

function location(p: ManifestProblem): string {
  return `${p.file}:${String(p.line)}:${String(p.col)}`;
}

/** `file:line:col: field: message`, the format editors and CI logs link from. */
export function formatProblemText(p: ManifestProblem): string {
  if (p.severity === "note") return `${location(p)}: note: ${p.message}`;
  const where = p.path === "" ? "" : `${p.path}: `;
  const level = p.severity === "warning" ? "warning: " : "";
  return `${location(p)}: ${where}${level}${p.message}`;
}

function escapeGithubData(text: string): string {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

function escapeGithubProperty(text: string): string {
  return escapeGithubData(text).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

/** A GitHub Actions workflow command, which becomes an annotation on the pull request's diff. */
export function formatProblemGithub(p: ManifestProblem): string {
  const command =
    p.severity === "error" ? "error" : p.severity === "warning" ? "warning" : "notice";
  const props = [
    `file=${escapeGithubProperty(p.file)}`,
    `line=${String(p.line)}`,
    `col=${String(p.col)}`,
    `title=${escapeGithubProperty(p.path === "" ? "llmops validate" : `llmops validate: ${p.path}`)}`,
  ];
  const text = p.path === "" ? p.message : `${p.path}: ${p.message}`;
  return `::${command} ${props.join(",")}::${escapeGithubData(text)}`;
}

function plural(n: number, word: string): string {
  return `${String(n)} ${word}${n === 1 ? "" : "s"}`;
}

export function summarize(report: ManifestReport): string {
  const checked = report.objects.filter((o) => o.status !== "foreign").length;
  const skipped = report.objects.length - checked;
  const counts =
    `${plural(report.files, "file")}, ${plural(checked, "llmops object")}` +
    (skipped > 0 ? ` (${plural(skipped, "other object")} skipped)` : "");
  const verdict = report.valid
    ? report.warnings > 0
      ? `valid, ${plural(report.warnings, "warning")}`
      : "valid"
    : `${plural(report.errors, "error")}, ${plural(report.warnings, "warning")}`;
  return `llmops validate: ${counts}: ${verdict}`;
}

/** Writes the report in the chosen format. */
export function printReport(report: ManifestReport, format: OutputFormat, io: CliIo): void {
  if (format === "json") {
    const checked = report.objects.filter((o) => o.status !== "foreign").length;
    const json = {
      valid: report.valid,
      summary: {
        files: report.files,
        objects: report.objects.length,
        llmopsObjects: checked,
        skipped: report.objects.length - checked,
        errors: report.errors,
        warnings: report.warnings,
      },
      problems: report.problems,
      objects: report.objects,
    };
    io.stdout(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  const line = format === "github" ? formatProblemGithub : formatProblemText;
  for (const p of report.problems) io.stdout(`${line(p)}\n`);
  io.stderr(`${summarize(report)}\n`);
}

/** Adds `validate` to the program. */
export function registerValidateCommand(program: Command, io: CliIo): void {
  program
    .command("validate")
    .description(
      "Validate Prompt, Experiment, TrainingJob and ModelDeployment manifests offline, as the " +
        "apiserver would (schema, defaults, CEL rules), plus duplicates and references across files. " +
        "Exit 0 when valid, 1 when not, 2 on usage errors.",
    )
    .argument("[paths...]", `files and directories to read (*.yaml, *.yml, *.json)`, [
      defaultValidatePath,
    ])
    .addOption(
      new Option("-o, --output <format>", "output format").choices(outputFormats).default("text"),
    )
    .option("--crds <dir>", "read the CRDs from this directory instead of the ones llmops ships")
    .action(async (paths: string[], opts: { output: OutputFormat; crds?: string }) => {
      const validateOptions: ValidateOptions = { output: opts.output, cwd: process.cwd() };
      if (opts.crds !== undefined) validateOptions.crds = opts.crds;
      let report: ManifestReport;
      try {
        report = await runValidate(paths, validateOptions);
      } catch (err: unknown) {
        if (err instanceof UsageError && paths.length === 1 && paths[0] === defaultValidatePath) {
          throw new UsageError(
            `no paths given, and ./${defaultValidatePath} (the default) does not exist; ` +
              "pass the manifest files or directories to validate",
            { cause: err },
          );
        }
        throw err;
      }
      printReport(report, opts.output, io);
      if (!report.valid) throw new CommandExit(ExitCode.Failure);
    });
}
