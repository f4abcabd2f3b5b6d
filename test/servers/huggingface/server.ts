// A local server that speaks the parts of the Hugging Face Hub wire protocol that @huggingface/hub's
// datasetInfo / fileDownloadInfo / downloadFile call, so tests drive the official client against
// the Hub's routes, headers, status codes and error bodies:
//
//   GET  /api/datasets/{owner}/{name}/revision/{rev}?expand=…   repo info at a revision (sha, private…)
//   GET  /api/datasets/{owner}/{name}                           the same at main
//   GET  /api/models/{owner}/{name}[/revision/{rev}]            a model repo's info (the same store),
//                                                               with `safetensors` parameter counts
//                                                               from the commit's .safetensors headers
//   GET|HEAD /datasets/{owner}/{name}/resolve/{rev}/{path}      file bytes; Range; X-Repo-Commit, ETag
//   GET|HEAD /cdn/{sha256}                                      LFS storage the resolve route redirects to
//
// Errors as the Hub sends them: X-Error-Code / X-Error-Message headers (RepoNotFound,
// RevisionNotFound, EntryNotFound, GatedRepo) and a JSON body { "error": "…" }. Like the Hub, an
// anonymous request for a private or missing repo gets 401 RepoNotFound, a bad token gets 401
// "Invalid credentials in Authorization header", an authenticated request for a repo the token
// cannot see gets 404 RepoNotFound. Test-only: never imported by controller/ code.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { safetensorsInfo } from "./safetensors.js";

export interface HubTestDataset {
  /** owner/name */
  repo: string;
  /** Needs `token`; anonymous requests get 401, other tokens 404, as on the Hub. */
  private?: boolean;
  /** Needs `token`; anonymous requests get 401 GatedRepo, other tokens 403 GatedRepo. */
  gated?: boolean;
  /** The token that may read a private or gated repo. */
  token?: string;
  /** Store the files in "LFS": resolve answers 302 to /cdn/{sha256}, like the Hub's storage redirect. */
  lfs?: boolean;
  /** Content of the first commit on main. */
  files: Record<string, string | Uint8Array>;
  /** Extra branches created from that first commit, each with its own commit of these files. */
  branches?: Record<string, Record<string, string | Uint8Array>>;
  /** Tags on the first commit. */
  tags?: string[];
}

export interface RecordedHubRequest {
  method: string;
  /** Path as sent (still URL-encoded), with the query. */
  url: string;
  /** The Authorization header, when sent. */
  authorization: string | null;
  range: string | null;
}

interface StoredCommit {
  sha: string;
  parent: string | null;
  files: Map<string, Buffer>;
  date: Date;
}

interface StoredRepo {
  id: string;
  objectId: string;
  private: boolean;
  gated: boolean;
  token: string | null;
  lfs: boolean;
  commits: Map<string, StoredCommit>;
  refs: Map<string, string>;
}

class HubHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorCode: string | null,
  ) {
    super(message);
  }
}

export class HubTestServer {
  readonly requests: RecordedHubRequest[] = [];
  /** Fail the next `count` requests with this status (5xx by default) before serving normally. */
  failNext: { count: number; status: number } = { count: 0, status: 503 };
  /** Tokens the Hub knows (valid but not necessarily allowed on a given repo). */
  readonly knownTokens = new Set<string>();
  /** http://127.0.0.1:<port>, once started. */
  baseUrl = "";
  private readonly repos = new Map<string, StoredRepo>();
  private readonly blobs = new Map<string, Buffer>();
  private commitCounter = 0;
  private server: Server | undefined;

  /** Starts on a free loopback port; returns the base URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }

  /** Creates a dataset repo; returns the sha of main's first commit and of each extra branch. */
  addDataset(dataset: HubTestDataset): { main: string; branches: Record<string, string> } {
    if (this.repos.has(dataset.repo)) throw new Error(`dataset ${dataset.repo} already exists`);
    if (dataset.token !== undefined) this.knownTokens.add(dataset.token);
    const repo: StoredRepo = {
      id: dataset.repo,
      objectId: createHash("sha1").update(dataset.repo).digest("hex").slice(0, 24),
      private: dataset.private ?? false,
      gated: dataset.gated ?? false,
      token: dataset.token ?? null,
      lfs: dataset.lfs ?? false,
      commits: new Map(),
      refs: new Map(),
    };
    this.repos.set(dataset.repo, repo);
    const main = this.commit(dataset.repo, { branch: "main", files: dataset.files });
    for (const tag of dataset.tags ?? []) repo.refs.set(tag, main);
    const branches: Record<string, string> = {};
    for (const [branch, files] of Object.entries(dataset.branches ?? {})) {
      repo.refs.set(branch, main);
      branches[branch] = this.commit(dataset.repo, { branch, files });
    }
    return { main, branches };
  }

  /** Commits a new tree to a branch (created if missing), moving it; returns the new sha. */
  commit(
    repoId: string,
    change: { branch?: string; files: Record<string, string | Uint8Array>; replace?: boolean },
  ): string {
    const repo = this.repos.get(repoId);
    if (!repo) throw new Error(`no dataset ${repoId}`);
    const branch = change.branch ?? "main";
    const parentSha = repo.refs.get(branch) ?? null;
    const parent = parentSha === null ? undefined : repo.commits.get(parentSha);
    const files = new Map(change.replace === true ? [] : (parent?.files ?? []));
    for (const [path, content] of Object.entries(change.files)) {
      const bytes = Buffer.from(content);
      files.set(path, bytes);
      this.blobs.set(sha256(bytes), bytes);
    }
    this.commitCounter += 1;
    const sha = createHash("sha1")
      .update(`${repoId}\n${branch}\n${String(this.commitCounter)}\n${parentSha ?? ""}`)
      .digest("hex");
    repo.commits.set(sha, { sha, parent: parentSha, files, date: new Date() });
    repo.refs.set(branch, sha);
    return sha;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    this.requests.push({
      method,
      url: rawUrl,
      authorization: req.headers.authorization ?? null,
      range: req.headers.range ?? null,
    });
    try {
      if (this.failNext.count > 0) {
        this.failNext.count -= 1;
        throw new HubHttpError(
          this.failNext.status,
          "Internal Error - We're working hard to fix this as soon as possible!",
          null,
        );
      }
      if (method !== "GET" && method !== "HEAD") {
        throw new HubHttpError(405, `${method} is not supported by the test Hub`, null);
      }
      const url = new URL(rawUrl, "http://hub.invalid");
      const segments = url.pathname.split("/").slice(1);
      // Models and datasets share one store: a test names the repos it serves.
      if (segments[0] === "api" && (segments[1] === "datasets" || segments[1] === "models")) {
        this.serveRepoInfo(req, res, url, segments.slice(2));
      } else if (segments[0] === "datasets" && segments[3] === "resolve") {
        this.serveResolve(req, res, segments.slice(1));
      } else if (segments[0] === "cdn" && segments.length === 2) {
        const blob = this.blobs.get(segments[1] ?? "");
        if (!blob) throw new HubHttpError(404, "Not Found", null);
        sendBytes(req, res, blob, { ETag: `"${segments[1] ?? ""}"` });
      } else {
        throw new HubHttpError(404, "Not Found", null);
      }
    } catch (err: unknown) {
      const e = err instanceof HubHttpError ? err : new HubHttpError(500, String(err), null);
      const headers: Record<string, string> = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Error-Message": e.message,
        "X-Request-Id": `Root=test-${String(this.requests.length)}`,
      };
      if (e.errorCode !== null) headers["X-Error-Code"] = e.errorCode;
      res.writeHead(e.status, headers);
      res.end(method === "HEAD" ? undefined : JSON.stringify({ error: e.message }));
    }
  }

  /** /api/datasets/{owner}/{name}[/revision/{rev}] */
  private serveRepoInfo(req: IncomingMessage, res: ServerResponse, url: URL, rest: string[]): void {
    const [owner, name, word, ...revParts] = rest;
    if (owner === undefined || name === undefined || (word !== undefined && word !== "revision")) {
      throw new HubHttpError(404, "Not Found", null);
    }
    const repo = this.authorize(req, `${owner}/${name}`);
    const revision = word === undefined ? "main" : decodeURIComponent(revParts.join("/"));
    const commit = this.resolveRevision(repo, revision === "HEAD" ? "main" : revision);
    const full: Record<string, unknown> = {
      _id: repo.objectId,
      id: repo.id,
      author: repo.id.split("/")[0],
      sha: commit.sha,
      private: repo.private,
      gated: repo.gated ? "auto" : false,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: [],
      lastModified: commit.date.toISOString(),
      createdAt: commit.date.toISOString(),
      siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })),
    };
    // Parameter counts from the commit's .safetensors headers, as the Hub reports them.
    const safetensors = safetensorsInfo(commit.files);
    if (safetensors !== undefined) full.safetensors = safetensors;
    // With ?expand=…, the Hub returns only the expanded fields (plus the ids).
    const expand = url.searchParams.getAll("expand");
    const body =
      expand.length === 0
        ? full
        : Object.fromEntries(
            Object.entries(full).filter(
              ([key]) => key === "_id" || key === "id" || expand.includes(key),
            ),
          );
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
    res.end(req.method === "HEAD" ? undefined : JSON.stringify(body));
  }

  /** /datasets/{owner}/{name}/resolve/{rev}/{path…} */
  private serveResolve(req: IncomingMessage, res: ServerResponse, rest: string[]): void {
    const [owner, name, , rev, ...pathParts] = rest;
    if (owner === undefined || name === undefined || rev === undefined || pathParts.length === 0) {
      throw new HubHttpError(404, "Not Found", null);
    }
    const repo = this.authorize(req, `${owner}/${name}`);
    const commit = this.resolveRevision(repo, decodeURIComponent(rev));
    const path = pathParts.map((part) => decodeURIComponent(part)).join("/");
    const content = commit.files.get(path);
    if (content === undefined) {
      throw new HubHttpError(404, "Entry not found", "EntryNotFound");
    }
    const oid = sha256(content);
    const common = { "X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes" };
    if (repo.lfs) {
      // The Hub answers LFS files with a redirect to its storage, announcing size and hash.
      res.writeHead(302, {
        ...common,
        Location: `/cdn/${oid}?X-Amz-Signature=test`,
        "X-Linked-Size": String(content.byteLength),
        "X-Linked-ETag": `"${oid}"`,
        "Content-Length": "0",
      });
      res.end();
      return;
    }
    const gitOid = createHash("sha1")
      .update(`blob ${String(content.byteLength)}\0`)
      .update(content)
      .digest("hex");
    sendBytes(req, res, content, { ...common, ETag: `"${gitOid}"` });
  }

  /** The repo if this request may read it; otherwise the Hub's answer for it. */
  private authorize(req: IncomingMessage, repoId: string): StoredRepo {
    const header = req.headers.authorization;
    let token: string | null = null;
    if (header !== undefined) {
      const match = /^Bearer (\S+)$/.exec(header);
      if (!match?.[1] || !this.knownTokens.has(match[1])) {
        throw new HubHttpError(401, "Invalid credentials in Authorization header", null);
      }
      token = match[1];
    }
    const repo = this.repos.get(repoId);
    const allowed =
      repo !== undefined && (!repo.private || (token !== null && token === repo.token));
    if (!allowed) {
      // Anonymous: 401 for a private repo and for a missing one alike, so as not to leak which.
      throw new HubHttpError(token === null ? 401 : 404, "Repository not found", "RepoNotFound");
    }
    if (repo.gated && token !== repo.token) {
      throw new HubHttpError(
        token === null ? 401 : 403,
        `Access to dataset ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
        "GatedRepo",
      );
    }
    return repo;
  }

  private resolveRevision(repo: StoredRepo, revision: string): StoredCommit {
    const sha = repo.refs.get(revision) ?? revision;
    const commit = repo.commits.get(sha);
    if (!commit) throw new HubHttpError(404, `Invalid rev id: ${revision}`, "RevisionNotFound");
    return commit;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** 200 with the whole content, or 206 for a satisfiable `Range: bytes=a-b`, as the Hub's storage does. */
function sendBytes(
  req: IncomingMessage,
  res: ServerResponse,
  content: Buffer,
  headers: Record<string, string>,
): void {
  const total = content.byteLength;
  const base = {
    ...headers,
    "Content-Type": "text/plain; charset=utf-8",
    "Accept-Ranges": "bytes",
  };
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  if (range) {
    const [, startText = "", endText = ""] = range;
    let start = startText === "" ? total - Number(endText) : Number(startText);
    let end = startText === "" || endText === "" ? total - 1 : Math.min(Number(endText), total - 1);
    start = Math.max(0, start);
    if (start > end || start >= total) {
      res.writeHead(416, { ...base, "Content-Range": `bytes */${String(total)}` });
      res.end();
      return;
    }
    end = Math.max(start, end);
    const slice = content.subarray(start, end + 1);
    res.writeHead(206, {
      ...base,
      "Content-Range": `bytes ${String(start)}-${String(end)}/${String(total)}`,
      "Content-Length": String(slice.byteLength),
    });
    res.end(req.method === "HEAD" ? undefined : slice);
    return;
  }
  res.writeHead(200, { ...base, "Content-Length": String(total) });
  res.end(req.method === "HEAD" ? undefined : content);
}
