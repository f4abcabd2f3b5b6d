// Git sources: what the controller follows. Read from the `gitSync:` section of the controller's
// config file and/or `--git-source` flags; everything here is pure (parsing, defaults, checks).
import { errorMessage } from "../kube/errors.js";
import { parseDuration as parseGoDuration } from "../runtime/duration.js";
import { parse as parseYaml } from "yaml";

/** A Secret in the controller's namespace, and (where one value is meant) its key. */
export interface SecretKeyRef {
  name: string;
  key?: string;
}

export interface GitSourceConfig {
  /** DNS label: names the status ConfigMap (`llmops-sync-<name>`) and the webhook path. */
  name: string;
  /** https://, http://, ssh://, git@host:path or a local path / file:// URL. */
  url: string;
  branch: string;
  /** Directories (or files) inside the repository to read manifests from. */
  paths: string[];
  /** How often the remote is fetched and every object re-applied (drift correction). */
  intervalMs: number;
  /**
   * Credentials Secret (Flux's layout): `username` + `password` (HTTPS; a token goes in
   * `password`), or `bearerToken`; `identity` (+ optional `known_hosts`) for SSH.
   */
  secretRef?: SecretKeyRef;
  /** Namespace for objects whose manifest names none. */
  targetNamespace: string;
  /** Webhook HMAC secret (`POST /hooks/<name>`); default key `secret`. */
  webhookSecretRef?: SecretKeyRef;
  suspend: boolean;
  /** Delete objects this source applied that are gone from git. */
  prune: boolean;
}

export interface GitSyncConfig {
  sources: GitSourceConfig[];
  /** Where status ConfigMaps live and Secrets are read from; default: the controller's. */
  namespace?: string;
  /** Clones live here (the chart mounts an emptyDir). */
  cacheDir?: string;
}

export class GitSourceConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GitSourceConfigError";
  }
}

export const defaultPaths = ["specs/"];

/**
 * The source `llmops sync` and `llmops diff` act as when --source names none: the same for both,
 * so a diff right after a sync compares against what that sync applied. Not "main": a local sync
 * under a controller's source name would prune by that source's inventory.
 */
export const cliSourceName = "local";

export const defaultIntervalMs = 60_000;

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Parses a Go-style duration (`30s`, `1m30s`, `500ms`, `2h`) into milliseconds. */
export function parseDuration(value: string): number {
  try {
    return parseGoDuration(value);
  } catch (error) {
    throw new GitSourceConfigError(errorMessage(error), { cause: error });
  }
}

/** The URL as it may be shown: any `user:password@` part is removed. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new GitSourceConfigError(`${where} must be a mapping`);
  }
  return value as Record<string, unknown>;
}

function optionalString(record: Record<string, unknown>, key: string, where: string) {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new GitSourceConfigError(`${where}.${key} must be a non-empty string`);
  }
  return value;
}

function secretRef(value: unknown, where: string): SecretKeyRef | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return { name: value };
  const record = asRecord(value, where);
  const name = optionalString(record, "name", where);
  if (name === undefined) throw new GitSourceConfigError(`${where}.name is required`);
  const key = optionalString(record, "key", where);
  return key === undefined ? { name } : { name, key };
}

/** Checks and defaults one source as written in the config file (or built from flags). */
export function parseGitSource(value: unknown, where: string): GitSourceConfig {
  const record = asRecord(value, where);
  const known = new Set([
    "name",
    "url",
    "branch",
    "paths",
    "path",
    "interval",
    "secretRef",
    "targetNamespace",
    "webhook",
    "suspend",
    "prune",
  ]);
  for (const key of Object.keys(record)) {
    if (!known.has(key)) {
      throw new GitSourceConfigError(
        `${where}.${key} is not a source field; known fields: ${[...known].join(", ")}`,
      );
    }
  }
  const name = optionalString(record, "name", where);
  if (name === undefined || !dnsLabel.test(name) || name.length > 50) {
    throw new GitSourceConfigError(
      `${where}.name must be a DNS label of at most 50 characters (got ${JSON.stringify(record.name)})`,
    );
  }
  const url = optionalString(record, "url", where);
  if (url === undefined) throw new GitSourceConfigError(`${where}.url is required`);
  let paths: string[] = defaultPaths;
  const rawPaths = record.paths ?? record.path;
  if (typeof rawPaths === "string") paths = [rawPaths];
  else if (Array.isArray(rawPaths)) {
    if (rawPaths.length === 0 || rawPaths.some((p) => typeof p !== "string" || p === "")) {
      throw new GitSourceConfigError(`${where}.paths must be a non-empty list of paths`);
    }
    paths = rawPaths as string[];
  } else if (rawPaths !== undefined) {
    throw new GitSourceConfigError(`${where}.paths must be a list of paths`);
  }
  for (const p of paths) {
    if (p.startsWith("/") || p.split("/").includes("..")) {
      throw new GitSourceConfigError(
        `${where}.paths: "${p}" must be relative to the repository root, without ..`,
      );
    }
  }
  const interval = record.interval;
  const intervalMs =
    interval === undefined
      ? defaultIntervalMs
      : typeof interval === "number"
        ? interval * 1000
        : typeof interval === "string"
          ? parseDuration(interval)
          : Number.NaN;
  if (!(intervalMs >= 1000)) {
    throw new GitSourceConfigError(`${where}.interval must be at least 1s`);
  }
  const webhook =
    record.webhook === undefined ? undefined : asRecord(record.webhook, `${where}.webhook`);
  const webhookSecretRef = secretRef(webhook?.secretRef, `${where}.webhook.secretRef`);
  if (webhook !== undefined && webhookSecretRef === undefined) {
    throw new GitSourceConfigError(
      `${where}.webhook.secretRef is required: webhooks are only accepted with an HMAC secret`,
    );
  }
  const targetNamespace = optionalString(record, "targetNamespace", where) ?? "default";
  const bool = (key: string, fallback: boolean): boolean => {
    const v = record[key];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean")
      throw new GitSourceConfigError(`${where}.${key} must be true or false`);
    return v;
  };
  const source: GitSourceConfig = {
    name,
    url,
    branch: optionalString(record, "branch", where) ?? "main",
    paths,
    intervalMs,
    targetNamespace,
    suspend: bool("suspend", false),
    prune: bool("prune", true),
  };
  const credentials = secretRef(record.secretRef, `${where}.secretRef`);
  if (credentials !== undefined) source.secretRef = credentials;
  if (webhookSecretRef !== undefined) source.webhookSecretRef = webhookSecretRef;
  return source;
}

/** Parses the controller config file's text: a `gitSync:` section (other sections are ignored). */
export function parseGitSyncConfig(text: string, file: string): GitSyncConfig {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err: unknown) {
    throw new GitSourceConfigError(`${file}: not YAML: ${(err as Error).message}`, { cause: err });
  }
  if (document === null || document === undefined) return { sources: [] };
  const root = asRecord(document, file);
  if (root.gitSync === undefined) return { sources: [] };
  const section = asRecord(root.gitSync, `${file}: gitSync`);
  const rawSources = section.sources ?? [];
  if (!Array.isArray(rawSources)) {
    throw new GitSourceConfigError(`${file}: gitSync.sources must be a list`);
  }
  const config: GitSyncConfig = {
    sources: rawSources.map((s, i) => parseGitSource(s, `${file}: gitSync.sources[${String(i)}]`)),
  };
  const namespace = optionalString(section, "namespace", `${file}: gitSync`);
  if (namespace !== undefined) config.namespace = namespace;
  const cacheDir = optionalString(section, "cacheDir", `${file}: gitSync`);
  if (cacheDir !== undefined) config.cacheDir = cacheDir;
  checkUniqueNames(config.sources);
  return config;
}

/**
 * Parses `--git-source name=main,url=https://…,branch=main,path=specs/,interval=30s,
 * secret=git-creds,webhookSecret=hook,targetNamespace=team-a,suspend=true`.
 */
export function parseGitSourceFlag(value: string): GitSourceConfig {
  const record: Record<string, unknown> = {};
  const paths: string[] = [];
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) {
      throw new GitSourceConfigError(`--git-source: expected key=value, got "${part}"`);
    }
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    switch (key) {
      case "path":
      case "paths":
        paths.push(v);
        break;
      case "secret":
        record.secretRef = { name: v };
        break;
      case "webhookSecret":
        record.webhook = { secretRef: { name: v } };
        break;
      case "suspend":
      case "prune":
        record[key] = v === "true";
        break;
      default:
        record[key] = v;
    }
  }
  if (paths.length > 0) record.paths = paths;
  return parseGitSource(record, "--git-source");
}

export function checkUniqueNames(sources: readonly GitSourceConfig[]): void {
  const seen = new Set<string>();
  for (const s of sources) {
    if (seen.has(s.name)) {
      throw new GitSourceConfigError(
        `git source "${s.name}" is defined twice; names must be unique`,
      );
    }
    seen.add(s.name);
  }
}
