// A local server that speaks the Langfuse public API (the parts llmops uses), so tests drive the
// official @langfuse/client against the documented wire format, status codes and error bodies.
// Test-only: never shipped.
import { randomUUID } from "node:crypto";
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

/** A trace as upserted through ingestion (`trace-create` merges into the trace with the same id). */
export interface StoredTrace {
  id: string;
  timestamp?: string;
  name?: string;
  sessionId?: string;
  input?: unknown;
  output?: unknown;
  metadata?: unknown;
  tags?: string[];
  [field: string]: unknown;
}

/** A span, generation or event as upserted through ingestion. */
export interface StoredObservation {
  id: string;
  type: "SPAN" | "GENERATION" | "EVENT";
  traceId: string;
  name?: string;
  startTime?: string;
  endTime?: string;
  model?: string;
  input?: unknown;
  output?: unknown;
  metadata?: unknown;
  usageDetails?: Record<string, number>;
  costDetails?: Record<string, number>;
  level?: string;
  statusMessage?: string;
  [field: string]: unknown;
}

export interface StoredScore {
  id: string;
  name: string;
  value: number | string;
  dataType?: string;
  traceId?: string;
  observationId?: string;
  sessionId?: string;
  comment?: string;
  metadata?: unknown;
  [field: string]: unknown;
}

export interface StoredDataset {
  id: string;
  name: string;
  description: string | null;
  metadata: unknown;
  projectId: string;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetItem {
  id: string;
  datasetId: string;
  datasetName: string;
  status: "ACTIVE" | "ARCHIVED";
  input: unknown;
  expectedOutput: unknown;
  metadata: unknown;
  sourceTraceId: string | null;
  sourceObservationId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetRun {
  id: string;
  name: string;
  description: string | null;
  metadata: unknown;
  datasetId: string;
  createdAt: string;
}

export interface StoredDatasetRunItem {
  id: string;
  datasetRunId: string;
  datasetRunName: string;
  datasetItemId: string;
  traceId: string;
  observationId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The project every key pair of this server belongs to. */
export const testProjectId = "llmops-test-project";

const ingestionEventTypes = new Set([
  "trace-create",
  "span-create",
  "span-update",
  "generation-create",
  "generation-update",
  "event-create",
  "score-create",
  "sdk-log",
]);

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
  /** Ingested traces, observations and scores by id (ingestion upserts on the body id). */
  readonly traces = new Map<string, StoredTrace>();
  readonly observations = new Map<string, StoredObservation>();
  readonly scores = new Map<string, StoredScore>();
  /** Datasets by name, their items by id, runs by id, and run items in creation order. */
  readonly datasets = new Map<string, StoredDataset>();
  readonly datasetItems = new Map<string, StoredDatasetItem>();
  readonly datasetRuns = new Map<string, StoredDatasetRun>();
  readonly datasetRunItems: StoredDatasetRunItem[] = [];
  /**
   * Rejects ingestion events for which it returns a message (as a 400 entry of the 207 answer),
   * the way Langfuse reports events it cannot store.
   */
  rejectIngestionEvent:
    ((event: { type: string; body: Record<string, unknown> }) => string | null) | null = null;
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
    if (path === "/api/public/health") return { status: 200, body: { status: "OK", version: "3" } };
    const tracking = this.routeTracking(method, url, body);
    if (tracking !== undefined) return tracking;
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

  /** Creates dataset `name` with items (ARCHIVED ones too), as if made in the Langfuse UI. */
  seedDataset(
    name: string,
    items: readonly {
      id?: string;
      input: unknown;
      expectedOutput?: unknown;
      metadata?: unknown;
      status?: "ACTIVE" | "ARCHIVED";
    }[],
  ): StoredDataset {
    const dataset = this.upsertDataset({ name });
    for (const item of items) {
      this.upsertDatasetItem({ datasetName: name, ...item });
    }
    return dataset;
  }

  /** Run items of dataset run `runName`. */
  runItems(runName: string): StoredDatasetRunItem[] {
    return this.datasetRunItems.filter((i) => i.datasetRunName === runName);
  }

  private routeTracking(
    method: string,
    url: URL,
    body: unknown,
  ): { status: number; body: unknown } | undefined {
    const path = url.pathname;
    if (path === "/api/public/projects" && method === "GET") {
      return {
        status: 200,
        body: { data: [{ id: testProjectId, name: "llmops-test", metadata: {} }] },
      };
    }
    if (path === "/api/public/ingestion" && method === "POST") {
      return { status: 207, body: this.ingest(body) };
    }
    if (path === "/api/public/scores" && method === "POST") {
      const b = object(body, "body");
      const id = typeof b.id === "string" ? b.id : randomUUID();
      const error = this.checkScore({ ...b, id });
      if (error !== null) throw new HttpError(400, error, "InvalidRequestError");
      this.scores.set(id, { ...(this.scores.get(id) ?? {}), ...b, id } as StoredScore);
      return { status: 200, body: { id } };
    }
    if (path === "/api/public/v2/datasets" && method === "POST") {
      return { status: 200, body: this.upsertDataset(body) };
    }
    if (path === "/api/public/v2/datasets" && method === "GET") {
      return { status: 200, body: paginate([...this.datasets.values()], url) };
    }
    const dataset = /^\/api\/public\/v2\/datasets\/([^/]+)$/.exec(path);
    if (dataset && method === "GET") {
      return { status: 200, body: this.datasetNamed(decodeURIComponent(dataset[1] ?? "")) };
    }
    if (path === "/api/public/dataset-items" && method === "POST") {
      return { status: 200, body: this.upsertDatasetItem(body) };
    }
    if (path === "/api/public/dataset-items" && method === "GET") {
      const name = url.searchParams.get("datasetName");
      const datasetId = name === null ? null : this.datasetNamed(name).id;
      // Langfuse lists items newest first, archived ones included.
      const items = [...this.datasetItems.values()]
        .filter((i) => datasetId === null || i.datasetId === datasetId)
        .reverse();
      return { status: 200, body: paginate(items, url) };
    }
    const item = /^\/api\/public\/dataset-items\/([^/]+)$/.exec(path);
    if (item && method === "GET") {
      const found = this.datasetItems.get(decodeURIComponent(item[1] ?? ""));
      if (!found) throw new HttpError(404, "Dataset item not found", "LangfuseNotFoundError");
      return { status: 200, body: structuredClone(found) };
    }
    if (path === "/api/public/dataset-run-items" && method === "POST") {
      return { status: 200, body: this.createRunItem(body) };
    }
    if (path === "/api/public/dataset-run-items" && method === "GET") {
      const datasetId = url.searchParams.get("datasetId");
      const runName = url.searchParams.get("runName");
      if (datasetId === null || runName === null) {
        throw new HttpError(400, "datasetId and runName are required", "InvalidRequestError");
      }
      const run = [...this.datasetRuns.values()].find(
        (r) => r.datasetId === datasetId && r.name === runName,
      );
      if (!run) {
        throw new HttpError(
          404,
          "Dataset run not found for the given project and dataset id",
          "LangfuseNotFoundError",
        );
      }
      const items = this.datasetRunItems.filter((i) => i.datasetRunId === run.id);
      return { status: 200, body: paginate(items, url) };
    }
    return undefined;
  }

  /** Ingestion answers 207 with a success or an error per event; valid events are stored. */
  private ingest(body: unknown): { successes: unknown[]; errors: unknown[] } {
    const batch = (body as { batch?: unknown } | undefined)?.batch;
    if (!Array.isArray(batch)) {
      throw new HttpError(
        400,
        "Invalid request data: batch must be an array",
        "InvalidRequestError",
      );
    }
    const successes: { id: string; status: number }[] = [];
    const errors: { id: string; status: number; message: string; error: string }[] = [];
    for (const raw of batch as unknown[]) {
      const event = (raw ?? {}) as Record<string, unknown>;
      const eventId = typeof event.id === "string" ? event.id : "";
      const problem = this.checkEvent(event);
      if (problem !== null) {
        errors.push({ id: eventId, status: 400, message: "Invalid request data", error: problem });
        continue;
      }
      const type = event.type as string;
      const eventBody = event.body as Record<string, unknown>;
      const rejected = this.rejectIngestionEvent?.({ type, body: eventBody }) ?? null;
      if (rejected !== null) {
        errors.push({ id: eventId, status: 400, message: "Invalid request data", error: rejected });
        continue;
      }
      this.store(type, eventBody);
      successes.push({ id: eventId, status: 201 });
    }
    return { successes, errors };
  }

  private checkEvent(event: Record<string, unknown>): string | null {
    if (typeof event.id !== "string" || event.id === "") return "event id is required";
    if (typeof event.timestamp !== "string" || Number.isNaN(Date.parse(event.timestamp))) {
      return "event timestamp must be an ISO 8601 datetime";
    }
    if (typeof event.type !== "string" || !ingestionEventTypes.has(event.type)) {
      return `unknown event type ${JSON.stringify(event.type)}`;
    }
    const b = event.body;
    if (b === null || typeof b !== "object" || Array.isArray(b))
      return "event body must be an object";
    const body = b as Record<string, unknown>;
    if (event.type === "sdk-log") return null;
    for (const key of ["timestamp", "startTime", "endTime", "completionStartTime"]) {
      const v = body[key];
      if (v !== undefined && v !== null && (typeof v !== "string" || Number.isNaN(Date.parse(v)))) {
        return `body.${key} must be an ISO 8601 datetime`;
      }
    }
    if (event.type === "score-create") return this.checkScore(body);
    if (event.type === "trace-create") {
      if (body.id !== undefined && typeof body.id !== "string") return "body.id must be a string";
      if (
        body.tags !== undefined &&
        !(Array.isArray(body.tags) && body.tags.every((t) => typeof t === "string"))
      ) {
        return "body.tags must be an array of strings";
      }
      return null;
    }
    // Observations.
    if (typeof body.id !== "string" || body.id === "") return "body.id is required";
    if (
      !event.type.endsWith("-update") &&
      (typeof body.traceId !== "string" || body.traceId === "")
    ) {
      return "body.traceId is required";
    }
    for (const key of ["usageDetails", "costDetails"]) {
      const v = body[key];
      if (
        v !== undefined &&
        (v === null || typeof v !== "object" || Object.values(v).some((n) => typeof n !== "number"))
      ) {
        return `body.${key} must map names to numbers`;
      }
    }
    if (
      body.level !== undefined &&
      !["DEBUG", "DEFAULT", "WARNING", "ERROR"].includes(body.level as string)
    ) {
      return "body.level must be DEBUG, DEFAULT, WARNING or ERROR";
    }
    return null;
  }

  private checkScore(body: Record<string, unknown>): string | null {
    if (typeof body.name !== "string" || body.name === "") return "score name is required";
    const { value, dataType } = body;
    if (typeof value !== "number" && typeof value !== "string") {
      return "score value must be a number or a string";
    }
    if (typeof value === "number" && !Number.isFinite(value)) return "score value must be finite";
    if ((dataType === "NUMERIC" || dataType === "BOOLEAN") && typeof value !== "number") {
      return `a ${dataType} score needs a numeric value`;
    }
    if (dataType === "BOOLEAN" && value !== 0 && value !== 1) return "a BOOLEAN score is 0 or 1";
    if (
      typeof body.traceId !== "string" &&
      typeof body.sessionId !== "string" &&
      typeof body.datasetRunId !== "string"
    ) {
      return "a score needs a traceId, sessionId or datasetRunId";
    }
    return null;
  }

  private store(type: string, body: Record<string, unknown>): void {
    if (type === "sdk-log") return;
    if (type === "trace-create") {
      const id = typeof body.id === "string" ? body.id : randomUUID();
      this.traces.set(id, { ...(this.traces.get(id) ?? {}), ...defined(body), id });
      return;
    }
    if (type === "score-create") {
      const id = typeof body.id === "string" ? body.id : randomUUID();
      this.scores.set(id, { ...(this.scores.get(id) ?? {}), ...defined(body), id } as StoredScore);
      return;
    }
    const id = body.id as string;
    const kind = type.startsWith("generation")
      ? "GENERATION"
      : type.startsWith("span")
        ? "SPAN"
        : "EVENT";
    const existing = this.observations.get(id);
    this.observations.set(id, {
      ...(existing ?? {}),
      ...defined(body),
      id,
      type: kind,
      traceId: (body.traceId as string | undefined) ?? existing?.traceId ?? "",
    });
  }

  private datasetNamed(name: string): StoredDataset {
    const found = this.datasets.get(name);
    if (!found) throw new HttpError(404, "Dataset not found", "LangfuseNotFoundError");
    return structuredClone(found);
  }

  /** POST /api/public/v2/datasets upserts on the name. */
  private upsertDataset(body: unknown): StoredDataset {
    const b = object(body, "body");
    if (typeof b.name !== "string" || b.name === "") {
      throw new HttpError(400, "name is required", "InvalidRequestError");
    }
    const now = new Date().toISOString();
    const existing = this.datasets.get(b.name);
    const dataset: StoredDataset = {
      id: existing?.id ?? `ds-${randomUUID()}`,
      name: b.name,
      description:
        typeof b.description === "string" ? b.description : (existing?.description ?? null),
      metadata: b.metadata ?? existing?.metadata ?? null,
      projectId: testProjectId,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.datasets.set(b.name, dataset);
    return structuredClone(dataset);
  }

  /** POST /api/public/dataset-items upserts on the id; ids are unique per project, not per dataset. */
  private upsertDatasetItem(body: unknown): StoredDatasetItem {
    const b = object(body, "body");
    if (typeof b.datasetName !== "string") {
      throw new HttpError(400, "datasetName is required", "InvalidRequestError");
    }
    const dataset = this.datasets.get(b.datasetName);
    if (!dataset) throw new HttpError(404, "Dataset not found", "LangfuseNotFoundError");
    if (
      b.status !== undefined &&
      b.status !== null &&
      b.status !== "ACTIVE" &&
      b.status !== "ARCHIVED"
    ) {
      throw new HttpError(400, "status must be ACTIVE or ARCHIVED", "InvalidRequestError");
    }
    const id = typeof b.id === "string" && b.id !== "" ? b.id : randomUUID();
    const existing = this.datasetItems.get(id);
    if (existing && existing.datasetId !== dataset.id) {
      throw new HttpError(
        404,
        `The dataset item with id ${id} already exists in a dataset other than ${dataset.name}`,
        "LangfuseNotFoundError",
      );
    }
    const now = new Date().toISOString();
    const item: StoredDatasetItem = {
      id,
      datasetId: dataset.id,
      datasetName: dataset.name,
      status: b.status ?? existing?.status ?? "ACTIVE",
      input: b.input ?? existing?.input ?? null,
      expectedOutput: b.expectedOutput ?? existing?.expectedOutput ?? null,
      metadata: b.metadata ?? existing?.metadata ?? null,
      sourceTraceId:
        (b.sourceTraceId as string | null | undefined) ?? existing?.sourceTraceId ?? null,
      sourceObservationId:
        (b.sourceObservationId as string | null | undefined) ??
        existing?.sourceObservationId ??
        null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.datasetItems.set(id, item);
    return structuredClone(item);
  }

  /** Like Langfuse: the run is created on first use, every request mints a new run item. */
  private createRunItem(body: unknown): StoredDatasetRunItem {
    const b = object(body, "body");
    if (typeof b.runName !== "string" || b.runName === "" || typeof b.datasetItemId !== "string") {
      throw new HttpError(400, "runName and datasetItemId are required", "InvalidRequestError");
    }
    const item = this.datasetItems.get(b.datasetItemId);
    if (!item || item.status !== "ACTIVE") {
      throw new HttpError(404, "Dataset item not found", "LangfuseNotFoundError");
    }
    let traceId = typeof b.traceId === "string" ? b.traceId : undefined;
    const observationId = typeof b.observationId === "string" ? b.observationId : null;
    if (traceId === undefined && observationId !== null) {
      const observation = this.observations.get(observationId);
      if (!observation) throw new HttpError(404, "Observation not found", "LangfuseNotFoundError");
      traceId = observation.traceId;
    }
    if (traceId === undefined) throw new HttpError(404, "Trace not found", "LangfuseNotFoundError");
    const now = new Date().toISOString();
    let run = [...this.datasetRuns.values()].find(
      (r) => r.datasetId === item.datasetId && r.name === b.runName,
    );
    if (!run) {
      run = {
        id: `run-${randomUUID()}`,
        name: b.runName,
        description: typeof b.runDescription === "string" ? b.runDescription : null,
        metadata: b.metadata ?? null,
        datasetId: item.datasetId,
        createdAt: now,
      };
      this.datasetRuns.set(run.id, run);
    }
    const runItem: StoredDatasetRunItem = {
      id: randomUUID(),
      datasetRunId: run.id,
      datasetRunName: run.name,
      datasetItemId: item.id,
      traceId,
      observationId,
      createdAt: now,
      updatedAt: now,
    };
    this.datasetRunItems.push(runItem);
    return structuredClone(runItem);
  }

  private view(p: StoredPrompt): StoredPrompt & { resolutionGraph: null } {
    return structuredClone({ ...p, resolutionGraph: null });
  }
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${what} must be a JSON object`, "InvalidRequestError");
  }
  return value as Record<string, unknown>;
}

/** The members that are not undefined (ingestion updates only what an event sets). */
function defined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/** Langfuse's page-based pagination: `page` from 1, `limit` default 50, and a `meta` block. */
function paginate(all: readonly unknown[], url: URL): unknown {
  const page = Number(url.searchParams.get("page") ?? "1");
  const limit = Number(url.searchParams.get("limit") ?? "50");
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1) {
    throw new HttpError(400, "page and limit must be positive integers", "InvalidRequestError");
  }
  return {
    data: structuredClone(all.slice((page - 1) * limit, page * limit)),
    meta: { page, limit, totalItems: all.length, totalPages: Math.ceil(all.length / limit) },
  };
}
