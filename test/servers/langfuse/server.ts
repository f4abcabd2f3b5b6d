// A local server that speaks the Langfuse public API (the parts llmops uses), so tests drive the
// official @langfuse/client against the documented wire format, status codes and error bodies.
// Test-only: never shipped.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StoredPrompt {
  name: string;
  version: number;
  type: "chat" | "text";
  prompt: unknown;
  config: unknown;
  labels: string[];
  tags: string[];
  commitMessage: string | null;
  createdAt: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface LangfuseTestServerOptions {
  publicKey: string;
  secretKey: string;
  /** Largest accepted request body; larger bodies get 413. */
  maxBodyBytes?: number;
}

/** Langfuse label rule: lowercase letters, digits, `_`, `-`, `.`; "latest" is managed by Langfuse. */
const labelPattern = /^[a-z0-9_.-]+$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorName: string,
  ) {
    super(message);
  }
}

export class LangfuseTestServer {
  readonly prompts: StoredPrompt[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Fail the next N requests (of one method, if given) with this status before serving normally. */
  failNext: { count: number; status: number; method?: string } = { count: 0, status: 500 };
  /** http://127.0.0.1:<port>, once started. */
  baseUrl = "";
  private server: Server | undefined;

  constructor(private readonly options: LangfuseTestServerOptions) {}

  /** Starts on a free loopback port; returns the base URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.handle(req, res);
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

  /** Versions created through POST /api/public/v2/prompts for `name`. */
  createCalls(name: string): number {
    return this.requests.filter(
      (r) =>
        r.method === "POST" &&
        r.path === "/api/public/v2/prompts" &&
        (r.body as { name?: string } | undefined)?.name === name,
    ).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      const body = await this.readBody(req);
      this.requests.push({ method: req.method ?? "GET", path: url.pathname, body });
      this.authenticate(req);
      const failMethod = this.failNext.method;
      if (this.failNext.count > 0 && (failMethod === undefined || failMethod === req.method)) {
        this.failNext.count -= 1;
        throw new HttpError(this.failNext.status, "injected failure", "InternalServerError");
      }
      const result = this.route(req.method ?? "GET", url, body);
      if (result === undefined) {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(result.status, { "content-type": "application/json" });
      res.end(JSON.stringify(result.body));
    } catch (err: unknown) {
      const e =
        err instanceof HttpError
          ? err
          : new HttpError(500, (err as Error).message, "InternalServerError");
      res.writeHead(e.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: e.message, error: e.errorName }));
    }
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const limit = this.options.maxBodyBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, "Request body too large", "PayloadTooLarge");
      chunks.push(chunk);
    }
    if (size === 0) return undefined;
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    } catch {
      throw new HttpError(400, "Invalid JSON body", "InvalidRequestError");
    }
  }

  private authenticate(req: IncomingMessage): void {
    const expected =
      "Basic " +
      Buffer.from(`${this.options.publicKey}:${this.options.secretKey}`).toString("base64");
    if (req.headers.authorization !== expected) {
      throw new HttpError(
        401,
        "Invalid credentials. Confirm that you've configured the correct host.",
        "UnauthorizedError",
      );
    }
  }

  private route(
    method: string,
    url: URL,
    body: unknown,
  ): { status: number; body: unknown } | undefined {
    const path = url.pathname;
    if (path === "/api/public/health") return { status: 200, body: { status: "OK" } };
    if (path === "/api/public/v2/prompts" && method === "POST") {
      return { status: 200, body: this.createPrompt(body) };
    }
    if (path === "/api/public/v2/prompts" && method === "GET") {
      return { status: 200, body: this.listPrompts(url) };
    }
    const version = /^\/api\/public\/v2\/prompts\/([^/]+)\/versions\/(\d+)$/.exec(path);
    if (version && method === "PATCH") {
      return {
        status: 200,
        body: this.updateLabels(decodeURIComponent(version[1] ?? ""), Number(version[2]), body),
      };
    }
    const one = /^\/api\/public\/v2\/prompts\/([^/]+)$/.exec(path);
    if (one && method === "GET") {
      return { status: 200, body: this.getPrompt(decodeURIComponent(one[1] ?? ""), url) };
    }
    if (one && method === "DELETE") {
      this.deletePrompt(decodeURIComponent(one[1] ?? ""), url);
      return undefined;
    }
    throw new HttpError(404, `No route for ${method} ${path}`, "NotFoundError");
  }

  private checkLabels(labels: unknown): string[] {
    if (labels === undefined) return [];
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) {
      throw new HttpError(400, "labels must be an array of strings", "InvalidRequestError");
    }
    for (const label of labels) {
      if (!labelPattern.test(label) || label === "latest") {
        throw new HttpError(
          400,
          `Invalid label "${label}": use lowercase letters, digits, "_", "-" or "."; "latest" is reserved`,
          "InvalidRequestError",
        );
      }
    }
    return [...new Set(labels)];
  }

  /** A label names at most one version of a prompt: taking it moves it off the others. */
  private moveLabels(name: string, labels: readonly string[], to: StoredPrompt): void {
    for (const p of this.prompts) {
      if (p.name === name && p !== to) p.labels = p.labels.filter((l) => !labels.includes(l));
    }
  }

  private refreshLatest(name: string): void {
    const versions = this.prompts.filter((p) => p.name === name);
    const newest = Math.max(...versions.map((p) => p.version));
    for (const p of versions) {
      p.labels = p.labels.filter((l) => l !== "latest");
      if (p.version === newest) p.labels.push("latest");
    }
  }

  private createPrompt(body: unknown): StoredPrompt {
    const b = (body ?? {}) as Record<string, unknown>;
    const { name, type, prompt } = b;
    if (typeof name !== "string" || name === "") {
      throw new HttpError(400, "name is required", "InvalidRequestError");
    }
    if (type !== "chat" && type !== "text" && type !== undefined) {
      throw new HttpError(400, `type must be "chat" or "text"`, "InvalidRequestError");
    }
    const kind = type ?? "text";
    if (kind === "text" ? typeof prompt !== "string" : !Array.isArray(prompt)) {
      throw new HttpError(400, `prompt does not match type ${kind}`, "InvalidRequestError");
    }
    const labels = this.checkLabels(b.labels);
    const existing = this.prompts.filter((p) => p.name === name);
    const tags = Array.isArray(b.tags) ? (b.tags as string[]) : (existing[0]?.tags ?? []);
    const created: StoredPrompt = {
      name,
      version: existing.length === 0 ? 1 : Math.max(...existing.map((p) => p.version)) + 1,
      type: kind,
      prompt,
      config: b.config ?? {},
      labels,
      tags,
      commitMessage: typeof b.commitMessage === "string" ? b.commitMessage : null,
      createdAt: new Date().toISOString(),
    };
    for (const p of existing) p.tags = tags;
    this.prompts.push(created);
    this.moveLabels(name, labels, created);
    this.refreshLatest(name);
    return this.view(created);
  }

  private getPrompt(name: string, url: URL): StoredPrompt {
    const version = url.searchParams.get("version");
    const label = url.searchParams.get("label") ?? (version === null ? "production" : null);
    const found = this.prompts.find(
      (p) =>
        p.name === name &&
        (version === null || p.version === Number(version)) &&
        (label === null || p.labels.includes(label)),
    );
    if (!found) {
      throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    }
    return this.view(found);
  }

  private updateLabels(name: string, version: number, body: unknown): StoredPrompt {
    const target = this.prompts.find((p) => p.name === name && p.version === version);
    if (!target) throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    const labels = this.checkLabels((body as { newLabels?: unknown } | undefined)?.newLabels);
    // newLabels replaces the version's labels; "latest" stays where Langfuse put it.
    target.labels = [...labels, ...(target.labels.includes("latest") ? ["latest"] : [])];
    this.moveLabels(name, labels, target);
    return this.view(target);
  }

  private listPrompts(url: URL): unknown {
    const name = url.searchParams.get("name");
    const label = url.searchParams.get("label");
    const page = Number(url.searchParams.get("page") ?? "1");
    const limit = Number(url.searchParams.get("limit") ?? "50");
    const names = [...new Set(this.prompts.map((p) => p.name))].filter(
      (n) => name === null || n === name,
    );
    const metas = names
      .map((n) => {
        const versions = this.prompts.filter((p) => p.name === n);
        return {
          name: n,
          type: versions[0]?.type ?? "text",
          versions: versions.map((p) => p.version),
          labels: [...new Set(versions.flatMap((p) => p.labels))],
          tags: versions[0]?.tags ?? [],
          lastUpdatedAt: versions.at(-1)?.createdAt ?? "",
          lastConfig: versions.at(-1)?.config ?? {},
        };
      })
      .filter((m) => label === null || m.labels.includes(label));
    return {
      data: metas.slice((page - 1) * limit, page * limit),
      meta: { page, limit, totalItems: metas.length, totalPages: Math.ceil(metas.length / limit) },
    };
  }

  private deletePrompt(name: string, url: URL): void {
    const version = url.searchParams.get("version");
    const label = url.searchParams.get("label");
    const before = this.prompts.length;
    for (let i = this.prompts.length - 1; i >= 0; i--) {
      const p = this.prompts[i];
      if (
        p &&
        p.name === name &&
        (version === null || p.version === Number(version)) &&
        (label === null || p.labels.includes(label))
      ) {
        this.prompts.splice(i, 1);
      }
    }
    if (this.prompts.length === before) {
      throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    }
  }

  private view(p: StoredPrompt): StoredPrompt & { resolutionGraph: null } {
    return structuredClone({ ...p, resolutionGraph: null });
  }
}
