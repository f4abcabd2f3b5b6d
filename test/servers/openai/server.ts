// A local server that speaks the OpenAI chat-completions wire format, for tests and benchmarks
// only (never shipped). Its models answer a dataset with known accuracies, it can be slow, and it
// injects the failures real providers produce: 429 with Retry-After, 5xx, hangs, malformed
// bodies and dropped connections. It records every request so tests can check that no item was
// sent twice.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { correctItemIds, findItem, wrongAnswer, type DatasetItem } from "./dataset.js";

/** What a chat request looked like to the server. */
export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string }[];
  response_format?: { type: string; json_schema?: { name?: string; schema?: unknown } };
  [key: string]: unknown;
}

/** A model the server serves. */
export interface ModelConfig {
  id: string;
  /** Fraction of dataset items answered correctly (exactly round(accuracy · n) of them). */
  accuracy?: number;
  /** Response delay in ms. */
  latencyMs?: number;
  /** Full control over the answer (e.g. a judge); overrides the dataset behaviour. */
  respond?: (request: ChatRequestBody) => string;
}

/** A failure to inject. */
export type Fault =
  | { type: "rate-limit"; retryAfter?: string; retryAfterMs?: number }
  | { type: "server-error"; status?: number; retryAfter?: string }
  | { type: "hang" }
  | { type: "malformed"; body?: string; contentType?: string }
  | { type: "reset" }
  | { type: "status"; status: number; body: unknown };

/** When to inject a fault. All given conditions must hold. */
export interface FaultRule {
  fault: Fault;
  /** Only requests for this model. */
  model?: string;
  /** Only requests whose prompt contains this dataset item. */
  itemId?: string;
  /** Only these request numbers (1-based; counted per model when `model` is set, else overall). */
  requests?: readonly number[];
  /** Only every N-th request (same counting). */
  every?: number;
  /** Stop after injecting this many times. */
  times?: number;
}

/** One request the server saw. */
export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  model: string | null;
  itemId: string | null;
  authorized: boolean;
  /** Status sent, or null for hangs and resets. */
  status: number | null;
  fault: Fault["type"] | null;
  body: ChatRequestBody | null;
  headers: Record<string, string | string[] | undefined>;
}

/** Options for `startOpenAiTestServer`. */
export interface OpenAiTestServerOptions {
  /** Bearer token required on every request; omit to accept any (or none). */
  apiKey?: string;
  models: readonly ModelConfig[];
  dataset?: readonly DatasetItem[];
  faults?: readonly FaultRule[];
  /** Seed for which items each model gets right; default 0. */
  seed?: number;
  /** Requests processed at once, like a serving engine's batch size; the rest queue. */
  maxConcurrency?: number;
}

/** A running server. */
export interface OpenAiTestServer {
  /** Base URL including `/v1`, as clients expect. */
  baseURL: string;
  requests: RecordedRequest[];
  /** Highest number of chat requests being processed at once. */
  maxInFlight(): number;
  /** Chat requests being processed now. */
  inFlight(): number;
  /** Replaces the fault rules (counters restart). */
  setFaults(rules: readonly FaultRule[]): void;
  /** Items each model answers correctly. */
  correctIds(modelId: string): Set<string>;
  /**
   * Answered (HTTP 200, i.e. billable) chat requests per dataset item id, to assert that nothing
   * was paid for twice; `{ all: true }` counts every attempt, refused ones included.
   */
  callsPerItem(options?: { model?: string; all?: boolean }): Map<string, number>;
  close(): Promise<void>;
}

function openAiError(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
) {
  return { error: { message, type, param, code } };
}

/** Masks a key the way OpenAI's 401 message does: first and last characters only. */
function maskKey(key: string): string {
  return key.length <= 8 ? "***" : `${key.slice(0, 3)}***${key.slice(-4)}`;
}

function approxTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Starts the server on 127.0.0.1 and an ephemeral port. */
export async function startOpenAiTestServer(
  options: OpenAiTestServerOptions,
): Promise<OpenAiTestServer> {
  const dataset = options.dataset ?? [];
  const models = new Map(options.models.map((m) => [m.id, m]));
  const correct = new Map<string, Set<string>>();
  for (const m of options.models) {
    correct.set(m.id, correctItemIds(m.id, m.accuracy ?? 0, dataset, options.seed ?? 0));
  }
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let rules: { rule: FaultRule; injected: number }[] = [];
  const counters = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let active = 0;
  const queue: (() => void)[] = [];

  const setFaults = (next: readonly FaultRule[]): void => {
    rules = next.map((rule) => ({ rule, injected: 0 }));
    counters.clear();
  };
  setFaults(options.faults ?? []);

  const nextCount = (key: string): number => {
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    return n;
  };

  const pickFault = (model: string, itemId: string | null, overall: number, perModel: number) => {
    for (const entry of rules) {
      const { rule } = entry;
      const n = rule.model === undefined ? overall : perModel;
      if (rule.model !== undefined && rule.model !== model) continue;
      if (rule.itemId !== undefined && rule.itemId !== itemId) continue;
      if (rule.requests !== undefined && !rule.requests.includes(n)) continue;
      if (rule.every !== undefined && n % rule.every !== 0) continue;
      if (rule.times !== undefined && entry.injected >= rule.times) continue;
      entry.injected++;
      return rule.fault;
    }
    return null;
  };

  const acquireSlot = async (): Promise<void> => {
    if (options.maxConcurrency === undefined || active < options.maxConcurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => queue.push(resolve));
    active++;
  };
  const releaseSlot = (): void => {
    active--;
    queue.shift()?.();
  };

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(text);
  };

  const answerFor = (
    model: ModelConfig,
    body: ChatRequestBody,
    item: DatasetItem | undefined,
  ): string => {
    if (model.respond) return model.respond(body);
    let text: string;
    if (item === undefined) text = "I do not know.";
    else
      text =
        correct.get(model.id)?.has(item.id) === true ? item.expected : wrongAnswer(item.expected);
    if (body.response_format?.type === "json_schema") return JSON.stringify({ answer: text });
    return text;
  };

  const handleChat = async (
    req: IncomingMessage,
    res: ServerResponse,
    record: RecordedRequest,
    raw: string,
  ) => {
    let body: ChatRequestBody;
    try {
      body = JSON.parse(raw) as ChatRequestBody;
      if (typeof body.model !== "string" || !Array.isArray(body.messages)) throw new Error("shape");
    } catch {
      record.status = 400;
      send(
        res,
        400,
        openAiError(
          "We could not parse the JSON body of your request.",
          "invalid_request_error",
          null,
        ),
      );
      return;
    }
    record.body = body;
    record.model = body.model;
    const prompt = body.messages
      .map((m) => (typeof m.content === "string" ? m.content : ""))
      .join("\n");
    const item = findItem(dataset, prompt);
    record.itemId = item?.id ?? null;
    const model = models.get(body.model);
    if (model === undefined) {
      record.status = 404;
      send(
        res,
        404,
        openAiError(
          `The model \`${body.model}\` does not exist or you do not have access to it.`,
          "invalid_request_error",
          "model_not_found",
        ),
      );
      return;
    }
    const fault = pickFault(
      body.model,
      record.itemId,
      nextCount("*"),
      nextCount(`model:${body.model}`),
    );
    record.fault = fault?.type ?? null;
    if (fault !== null) {
      switch (fault.type) {
        case "rate-limit": {
          record.status = 429;
          const headers: Record<string, string> = {};
          if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
          if (fault.retryAfterMs !== undefined)
            headers["retry-after-ms"] = String(fault.retryAfterMs);
          send(
            res,
            429,
            openAiError(
              `Rate limit reached for ${body.model} on requests per min (RPM): Limit 3, Used 3, Requested 1.`,
              "requests",
              "rate_limit_exceeded",
            ),
            headers,
          );
          return;
        }
        case "server-error":
          record.status = fault.status ?? 500;
          send(
            res,
            record.status,
            openAiError(
              "The server had an error while processing your request. Sorry about that!",
              "server_error",
              null,
            ),
            fault.retryAfter !== undefined ? { "retry-after": fault.retryAfter } : {},
          );
          return;
        case "hang":
          // Never answer; the client's timeout (or the server's close) ends it.
          return;
        case "reset":
          req.socket.destroy();
          return;
        case "malformed":
          record.status = 200;
          res.writeHead(200, { "content-type": fault.contentType ?? "application/json" });
          res.end(
            fault.body ??
              '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
          );
          return;
        case "status":
          record.status = fault.status;
          send(res, fault.status, fault.body);
          return;
      }
    }
    await acquireSlot();
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (model.latencyMs !== undefined && model.latencyMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, model.latencyMs));
      }
      const content = answerFor(model, body, item);
      const promptTokens = approxTokens(prompt);
      const completionTokens = approxTokens(content);
      record.status = 200;
      send(res, 200, {
        id: `chatcmpl-${String(record.seq)}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content, refusal: null },
            logprobs: null,
            finish_reason: "stop",
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
        system_fingerprint: null,
      });
    } finally {
      inFlight--;
      releaseSlot();
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const auth = req.headers.authorization;
      const authorized = options.apiKey === undefined || auth === `Bearer ${options.apiKey}`;
      const record: RecordedRequest = {
        seq: requests.length + 1,
        method: req.method ?? "GET",
        path,
        model: null,
        itemId: null,
        authorized,
        status: null,
        fault: null,
        body: null,
        headers: { ...req.headers },
      };
      requests.push(record);
      if (!authorized) {
        record.status = 401;
        const presented =
          auth?.startsWith("Bearer ") === true ? auth.slice("Bearer ".length) : undefined;
        send(
          res,
          401,
          presented === undefined
            ? openAiError(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                null,
              )
            : openAiError(
                `Incorrect API key provided: ${maskKey(presented)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
                "invalid_request_error",
                "invalid_api_key",
              ),
        );
        return;
      }
      if (req.method === "GET" && path === "/v1/models") {
        record.status = 200;
        send(res, 200, {
          object: "list",
          data: options.models.map((m) => ({
            id: m.id,
            object: "model",
            created: 0,
            owned_by: "llmops-test",
          })),
        });
        return;
      }
      if (req.method === "POST" && path === "/v1/chat/completions") {
        handleChat(req, res, record, raw).catch((error: unknown) => {
          record.status = 500;
          if (!res.headersSent) send(res, 500, openAiError(String(error), "server_error", null));
        });
        return;
      }
      record.status = 404;
      send(
        res,
        404,
        openAiError(`Invalid URL (${req.method ?? "GET"} ${path})`, "invalid_request_error", null),
      );
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${String(port)}/v1`,
    requests,
    maxInFlight: () => maxInFlight,
    inFlight: () => inFlight,
    setFaults,
    correctIds: (modelId) => new Set(correct.get(modelId) ?? []),
    callsPerItem: (filter = {}) => {
      const counts = new Map<string, number>();
      for (const r of requests) {
        if (r.path !== "/v1/chat/completions" || r.itemId === null) continue;
        if (filter.model !== undefined && r.model !== filter.model) continue;
        if (filter.all !== true && r.status !== 200) continue;
        counts.set(r.itemId, (counts.get(r.itemId) ?? 0) + 1);
      }
      return counts;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Hanging requests would keep close() waiting forever.
        for (const socket of sockets) socket.destroy();
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      }),
  };
}
