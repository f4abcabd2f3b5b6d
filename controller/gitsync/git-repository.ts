// Git access through simple-git: a bare cache repository per source, fetched with a forced
// refspec (so a force-pushed branch is followed), and manifest files read at one commit without a
// checkout. Credentials reach git through environment variables only: never the URL, never the
// command line, never the repository's config on disk.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { simpleGit, type SimpleGit } from "simple-git";
import type { ManifestInput } from "../api/manifests/validate-manifests.js";
import { redactUrl } from "./source-config.js";
import { isManifestPath } from "./revision.js";

/** Credentials as read from a Secret; they only ever live in memory and git's environment. */
export type GitCredentials =
  | { kind: "basic"; username: string; password: string }
  | { kind: "bearer"; token: string }
  | { kind: "ssh"; identity: string; knownHosts?: string };

/** A failure talking to the remote: the message is safe to show (URL without credentials). */
export class GitFetchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GitFetchError";
  }
}

// Variables simple-git must let through to git; everything else GIT_* it strips.
const allowedEnvironment = [
  "GIT_TERMINAL_PROMPT",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_KEY_0",
  "GIT_CONFIG_VALUE_0",
  "GIT_CONFIG_KEY_1",
  "GIT_CONFIG_VALUE_1",
  "GIT_SSH_COMMAND",
  "GIT_CONFIG_NOSYSTEM",
] as const;

// What git gets from our own environment: enough to find binaries, CA certificates and proxies;
// nothing that could run a program (EDITOR, PAGER, GIT_*).
const passedEnvironment = [
  "PATH",
  "HOME",
  "USER",
  "LANG",
  "LC_ALL",
  "TMPDIR",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
] as const;

/** A simple-git instance for `dir`, with the environment git needs and nothing it must not see. */
export function gitAt(
  dir: string,
  options: { env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal } = {},
): SimpleGit {
  const git = simpleGit({
    baseDir: dir,
    allowEnvironment: allowedEnvironment,
    unsafe: { allowUnsafeConfigEnvCount: true, allowUnsafeSshCommand: true },
    timeout: { block: options.timeoutMs ?? 120_000 },
    ...(options.signal !== undefined && { abort: options.signal }),
  });
  const base: Record<string, string> = {};
  for (const key of passedEnvironment) {
    const value = process.env[key];
    if (value !== undefined) base[key] = value;
  }
  return git.env({ ...base, GIT_TERMINAL_PROMPT: "0", ...options.env });
}

/** Environment that hands `credentials` to git (HTTP header via GIT_CONFIG_*, or an SSH key file). */
export async function credentialEnvironment(
  credentials: GitCredentials | undefined,
  keyDir: string,
): Promise<Record<string, string>> {
  if (credentials === undefined) return {};
  switch (credentials.kind) {
    case "basic":
    case "bearer": {
      const header =
        credentials.kind === "basic"
          ? `Authorization: Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`
          : `Authorization: Bearer ${credentials.token}`;
      return {
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.extraHeader",
        GIT_CONFIG_VALUE_0: header,
      };
    }
    case "ssh": {
      await mkdir(keyDir, { recursive: true, mode: 0o700 });
      const identity = join(keyDir, "identity");
      await writeFile(
        identity,
        credentials.identity.endsWith("\n") ? credentials.identity : `${credentials.identity}\n`,
        { mode: 0o600 },
      );
      const parts = ["ssh", "-i", identity, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"];
      if (credentials.knownHosts !== undefined) {
        const knownHosts = join(keyDir, "known_hosts");
        await writeFile(knownHosts, credentials.knownHosts, { mode: 0o600 });
        parts.push("-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes");
      } else {
        parts.push("-o", "StrictHostKeyChecking=accept-new");
      }
      return { GIT_SSH_COMMAND: parts.join(" ") };
    }
  }
}

/** Replaces every occurrence of the URL (and any credentials in it) in a git error message. */
export function safeMessage(err: unknown, url: string): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .split(url)
    .join(redactUrl(url))
    .replace(/Authorization: [^\s'"]+( [^\s'"]+)?/gi, "Authorization: [Redacted]")
    .trim();
}

export interface FetchOptions {
  url: string;
  branch: string;
  credentials?: GitCredentials;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * The cache repository of one source: bare, in `dir`. `fetch` brings the branch's tip in with a
 * forced refspec and returns its commit; the previous state stays when the remote cannot be
 * reached.
 */
export class GitCache {
  constructor(private readonly dir: string) {}

  get directory(): string {
    return this.dir;
  }

  private async ensure(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const git = gitAt(this.dir);
    if (!(await git.checkIsRepo().catch(() => false))) {
      await git.init(true);
    }
  }

  /** Fetches `branch` from `url` and returns the commit SHA at its tip. */
  async fetch(options: FetchOptions): Promise<string> {
    await this.ensure();
    const keyDir = join(this.dir, ".llmops-keys");
    const env = await credentialEnvironment(options.credentials, keyDir);
    const git = gitAt(this.dir, {
      env,
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      ...(options.signal !== undefined && { signal: options.signal }),
    });
    const ref = `refs/llmops/${options.branch}`;
    try {
      // `+` follows force pushes; a dedicated ref namespace keeps one branch per cache.
      await git.raw([
        "fetch",
        "--no-tags",
        "--no-write-fetch-head",
        "--",
        options.url,
        `+refs/heads/${options.branch}:${ref}`,
      ]);
    } catch (err: unknown) {
      throw new GitFetchError(
        `fetching ${options.branch} from ${redactUrl(options.url)} failed: ${safeMessage(err, options.url)}`,
        { cause: err },
      );
    } finally {
      if (options.credentials?.kind === "ssh") await rm(keyDir, { recursive: true, force: true });
    }
    return (await git.revparse([ref])).trim();
  }

  /** The manifest files under `paths` at `commit`. */
  async read(commit: string, paths: readonly string[]): Promise<ManifestInput[]> {
    return readManifestsAt(gitAt(this.dir), commit, paths);
  }
}

/** Lists the manifest files under `paths` at `commit` and reads them (no checkout needed). */
export async function readManifestsAt(
  git: SimpleGit,
  commit: string,
  paths: readonly string[],
): Promise<ManifestInput[]> {
  const listing = await git.raw(["ls-tree", "-r", "-z", "--full-tree", commit]);
  const blobs: { oid: string; file: string }[] = [];
  for (const entry of listing.split("\0")) {
    if (entry === "") continue;
    const tab = entry.indexOf("\t");
    const [, type, oid] = entry.slice(0, tab).split(" ");
    const file = entry.slice(tab + 1);
    if (type === "blob" && oid !== undefined && isManifestPath(file, paths)) {
      blobs.push({ oid, file });
    }
  }
  blobs.sort((a, b) => a.file.localeCompare(b.file));
  const out: ManifestInput[] = new Array<ManifestInput>(blobs.length);
  // A few readers at a time: each is one short-lived git process.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < blobs.length) {
      const i = next++;
      const blob = blobs[i];
      if (blob === undefined) continue;
      out[i] = { file: blob.file, text: await git.raw(["cat-file", "blob", blob.oid]) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, blobs.length) }, worker));
  return out;
}
