// Real git for the git sync tests: a bare repository on disk, a working clone that commits and
// pushes to it, and `git http-backend` served over HTTP with basic auth by a small node:http CGI
// wrapper (what GitHub, GitLab or Gitea look like to `git fetch`).
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { timingSafeEqual } from "node:crypto";
import { simpleGit, type SimpleGit } from "simple-git";
import { stringify } from "yaml";

export interface GitFixture {
  root: string;
  /** The bare repository (what the remote holds). */
  bare: string;
  /** A working clone with an identity, pushing to `bare`. */
  work: string;
  git: SimpleGit;
  write(file: string, text: string): Promise<void>;
  remove(file: string): Promise<void>;
  /** Commits everything in the working tree and pushes; returns the new commit. */
  commit(message: string, options?: { push?: boolean }): Promise<string>;
  push(options?: { force?: boolean }): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createGitFixture(branch = "main"): Promise<GitFixture> {
  const root = await mkdtemp(join(tmpdir(), "llmops-gitsync-"));
  const bare = join(root, "remote.git");
  const work = join(root, "work");
  await mkdir(bare);
  await simpleGit(bare).init(true, ["--initial-branch", branch]);
  await mkdir(work);
  const git = simpleGit(work);
  await git.init(["--initial-branch", branch]);
  await git.addConfig("user.name", "llmops test");
  await git.addConfig("user.email", "test@llmops.dev");
  await git.addConfig("commit.gpgsign", "false");
  await git.addRemote("origin", bare);
  const fixture: GitFixture = {
    root,
    bare,
    work,
    git,
    write: async (file, text) => {
      await mkdir(dirname(join(work, file)), { recursive: true });
      await writeFile(join(work, file), text);
    },
    remove: async (file) => {
      await rm(join(work, file));
    },
    commit: async (message, options = {}) => {
      await git.add(["-A"]);
      await git.commit(message, undefined, { "--allow-empty": null });
      if (options.push !== false) await fixture.push();
      return (await git.revparse(["HEAD"])).trim();
    },
    push: async (options = {}) => {
      await git.push([
        "-u",
        "origin",
        `HEAD:refs/heads/${branch}`,
        ...(options.force ? ["--force"] : []),
      ]);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  return fixture;
}

/** A Prompt manifest; `system` changes the content (and so the prompt version). */
export function promptYaml(
  name: string,
  options: { system?: string; namespace?: string; annotations?: Record<string, string> } = {},
): string {
  return stringify({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: {
      name,
      ...(options.namespace !== undefined && { namespace: options.namespace }),
      ...(options.annotations !== undefined && { annotations: options.annotations }),
    },
    spec: {
      template: {
        messages: [
          { role: "system", content: options.system ?? "You triage tickets for {{product}}." },
          { role: "user", content: "{{ticket}}" },
        ],
      },
      variables: [
        { name: "product", default: "Acme" },
        { name: "ticket", required: true },
      ],
      model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      labels: ["production"],
    },
  });
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>/remote.git`: the repository's clone URL. */
  url: string;
  port: number;
  requests: number;
  stop(): Promise<void>;
  /** Starts again on the same port after stop(). */
  restart(): Promise<void>;
}

function checkBasicAuth(req: IncomingMessage, username: string, password: string): boolean {
  const header = req.headers.authorization ?? "";
  if (!header.startsWith("Basic ")) return false;
  const given = Buffer.from(header.slice(6), "base64");
  const want = Buffer.from(`${username}:${password}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Runs `git http-backend` as a CGI program for one request. */
function serveCgi(
  projectRoot: string,
  req: IncomingMessage,
  res: ServerResponse,
  user: string,
): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const child = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
      HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
    },
  });
  req.pipe(child.stdin);
  let buffered = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf("\r\n\r\n");
    if (end === -1) return;
    headersDone = true;
    let status = 200;
    for (const line of buffered.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(buffered.subarray(end + 4));
  });
  child.stdout.on("end", () => {
    res.end();
  });
  child.on("error", () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}

/** Serves every repository under `projectRoot` with basic auth (`username` / `password`). */
export async function startGitHttpServer(options: {
  projectRoot: string;
  repository: string;
  username: string;
  password: string;
}): Promise<GitHttpServer> {
  let server: Server | undefined;
  let port = 0;
  const state: GitHttpServer = {
    url: "",
    port: 0,
    requests: 0,
    stop: async () => {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      await new Promise<void>((resolve) => {
        s.close(() => {
          resolve();
        });
        s.closeAllConnections();
      });
    },
    restart: async () => {
      await listen();
    },
  };
  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => {
      state.requests++;
      if (!checkBasicAuth(req, options.username, options.password)) {
        req.resume();
        res.writeHead(401, { "www-authenticate": 'Basic realm="git"' });
        res.end("authentication required\n");
        return;
      }
      serveCgi(options.projectRoot, req, res, options.username);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        resolve();
      });
    });
    server = s;
    port = (s.address() as AddressInfo).port;
    state.port = port;
    state.url = `http://127.0.0.1:${String(port)}/${options.repository}`;
  };
  await listen();
  return state;
}
