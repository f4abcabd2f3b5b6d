// HTTP transport to the apiserver: one connection pool per client, credentials from a KubeConfig.
//
// Why not the generated client-node APIs: in 2.0.1 every request builds a fresh undici Agent (a new
// TLS handshake per call, no keep-alive), objects of built-in kinds come back as class instances
// with Date fields while watch events are plain JSON, and KubernetesObjectApi has no subresources.
// We still let KubeConfig do what it is good at — resolving in-cluster, exec, OIDC and file-based
// credentials — and only own the connection pool and the wire format.
import type { Readable } from "node:stream";
import type { KubeCredentialSource } from "./kubeconfig.js";
import { Agent, ProxyAgent, request, type Dispatcher } from "undici";
import { TransientError, apiStatusFromBody, errorFromStatus, errorMessage } from "./errors.js";
import { parseRetryAfter } from "../runtime/retry-after.js";

export interface TransportOptions {
  /** Our loadKubeConfig(), or a @kubernetes/client-node KubeConfig (same shape). */
  kubeConfig: KubeCredentialSource;
  /**
   * How long resolved credentials are reused before KubeConfig is asked again. Exec and OIDC
   * providers cache tokens themselves; this only bounds how often we rebuild headers.
   */
  authRefreshMs?: number;
  /** Limit for one ordinary (non-watch) request, headers and body together. */
  requestTimeoutMs?: number;
  userAgent?: string;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Names the request in error messages, e.g. `PATCH Prompt ns/name`. */
  what: string;
}

export interface HttpResponse {
  status: number;
  body: unknown;
}

export interface StreamResponse {
  body: Readable;
  /** Closes the stream and its connection; safe to call more than once. */
  close: () => void;
}

interface AuthState {
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  tlsFingerprint: string;
  resolvedAt: number;
}

const defaultAuthRefreshMs = 60_000;
const defaultRequestTimeoutMs = 30_000;

export class KubeTransport {
  readonly server: string;
  private readonly kubeConfig: KubeCredentialSource;
  private readonly authRefreshMs: number;
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;
  private auth: AuthState | undefined;
  private pendingAuth: Promise<AuthState> | undefined;
  private closed = false;

  constructor(options: TransportOptions) {
    const cluster = options.kubeConfig.getCurrentCluster();
    if (cluster === null) {
      throw new Error("kubeconfig has no current cluster: set a current-context or pass one");
    }
    this.server = cluster.server.replace(/\/+$/, "");
    this.kubeConfig = options.kubeConfig;
    this.authRefreshMs = options.authRefreshMs ?? defaultAuthRefreshMs;
    this.requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
    this.userAgent = options.userAgent ?? "llmops-controller";
  }

  /** Sends one request and returns the parsed JSON body; non-2xx answers throw typed errors. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let response = await this.send(req, { stream: false });
    if (response.statusCode === 401) {
      // A rotated token: resolve credentials again once before giving up.
      await response.body.dump();
      this.auth = undefined;
      response = await this.send(req, { stream: false });
    }
    const text = await readText(response.body).catch((err: unknown) => {
      throw new TransientError(`${req.what}: reading the response failed: ${errorMessage(err)}`, {
        cause: err,
      });
    });
    const body = parseJson(text);
    if (response.statusCode >= 200 && response.statusCode < 300) {
      return { status: response.statusCode, body };
    }
    throw errorFromStatus(req.what, apiStatusFromBody(response.statusCode, body), {
      retryAfterMs: parseRetryAfter(headerValue(response.headers["retry-after"]), Date.now()),
    });
  }

  /**
   * Opens a streaming GET (a watch). No body timeout: the caller runs its own watchdog, because a
   * quiet watch is normal and only the caller knows how long "too quiet" is.
   */
  async stream(req: Omit<HttpRequest, "method" | "body" | "contentType">): Promise<StreamResponse> {
    const controller = new AbortController();
    const onAbort = (): void => {
      controller.abort();
    };
    req.signal?.addEventListener("abort", onAbort, { once: true });
    const close = (): void => {
      req.signal?.removeEventListener("abort", onAbort);
      controller.abort();
    };
    try {
      const response = await this.send(
        { ...req, method: "GET", signal: controller.signal },
        { stream: true },
      );
      if (response.statusCode !== 200) {
        const body = parseJson(await response.body.text().catch(() => ""));
        if (response.statusCode === 401) this.auth = undefined;
        throw errorFromStatus(req.what, apiStatusFromBody(response.statusCode, body), {
          retryAfterMs: parseRetryAfter(headerValue(response.headers["retry-after"]), Date.now()),
        });
      }
      // Swallow the AbortError that our own close() causes on the body stream.
      response.body.on("error", () => undefined);
      return { body: response.body, close };
    } catch (err: unknown) {
      close();
      throw err;
    }
  }

  /** Closes pooled connections; in-flight requests finish first. */
  async close(): Promise<void> {
    this.closed = true;
    const auth = this.auth;
    this.auth = undefined;
    await auth?.dispatcher.close().catch(() => undefined);
  }

  private async send(
    req: HttpRequest,
    mode: { stream: boolean },
  ): Promise<Dispatcher.ResponseData> {
    if (this.closed) throw new Error(`${req.what}: the Kubernetes client is closed`);
    const auth = await this.resolveAuth();
    const url = new URL(this.server + req.path);
    for (const [name, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {
      ...auth.headers,
      accept: "application/json",
      "user-agent": this.userAgent,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = typeof req.body === "string" ? req.body : JSON.stringify(req.body);
      headers["content-type"] = req.contentType ?? "application/json";
    }
    try {
      return await request(url, {
        method: req.method,
        headers,
        body,
        signal: req.signal,
        dispatcher: auth.dispatcher,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: mode.stream ? 0 : this.requestTimeoutMs,
      });
    } catch (err: unknown) {
      if (req.signal?.aborted === true) throw err;
      throw new TransientError(`${req.what}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async resolveAuth(): Promise<AuthState> {
    const current = this.auth;
    if (current !== undefined && Date.now() - current.resolvedAt < this.authRefreshMs) {
      return current;
    }
    // One resolution at a time: exec credential plugins are expensive.
    this.pendingAuth ??= this.buildAuth(current).finally(() => {
      this.pendingAuth = undefined;
    });
    return this.pendingAuth;
  }

  private async buildAuth(previous: AuthState | undefined): Promise<AuthState> {
    const opts: {
      headers?: Record<string, unknown>;
      auth?: string;
      ca?: unknown;
      cert?: unknown;
      key?: unknown;
      pfx?: unknown;
      passphrase?: string;
      rejectUnauthorized?: boolean;
      servername?: string;
    } = {};
    try {
      await this.kubeConfig.applyToHTTPSOptions(opts);
    } catch (err: unknown) {
      throw new TransientError(`resolving Kubernetes credentials failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (typeof value === "string" || typeof value === "number") {
        headers[name.toLowerCase()] = String(value);
      }
    }
    if (opts.auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    }
    const tls = {
      ...(opts.ca !== undefined && { ca: opts.ca as Buffer }),
      ...(opts.cert !== undefined && { cert: opts.cert as Buffer }),
      ...(opts.key !== undefined && { key: opts.key as Buffer }),
      ...(opts.pfx !== undefined && { pfx: opts.pfx as Buffer }),
      ...(opts.passphrase !== undefined && { passphrase: opts.passphrase }),
      ...(opts.rejectUnauthorized !== undefined && { rejectUnauthorized: opts.rejectUnauthorized }),
      ...(opts.servername !== undefined && { servername: opts.servername }),
    };
    const proxyUrl = this.kubeConfig.getCurrentCluster()?.proxyUrl;
    const tlsFingerprint = JSON.stringify({ tls, proxyUrl });
    let dispatcher: Dispatcher;
    if (previous !== undefined && previous.tlsFingerprint === tlsFingerprint) {
      // Same certificates: keep the warm connections.
      dispatcher = previous.dispatcher;
    } else {
      if (proxyUrl?.startsWith("socks") === true) {
        throw new Error(`SOCKS proxies are not supported (cluster proxy-url ${proxyUrl})`);
      }
      dispatcher =
        proxyUrl !== undefined && proxyUrl !== ""
          ? new ProxyAgent({ uri: proxyUrl, requestTls: tls, allowH2: false })
          : new Agent({
              // HTTP/1.1 on purpose: with HTTP/2 every watch and write would share one TCP
              // connection, and one half-open connection would stall them all. Over HTTP/1.1 a
              // stalled watch owns its socket, and closing the watch (watchdog) destroys it.
              allowH2: false,
              connect: { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 },
            });
      // Rotated certificates: let requests on the old pool finish, then close it.
      void previous?.dispatcher.close().catch(() => undefined);
    }
    const state: AuthState = { headers, dispatcher, tlsFingerprint, resolvedAt: Date.now() };
    this.auth = state;
    return state;
  }
}

/**
 * The body as text, decoded chunk by chunk. Not body.text(): that joins every chunk into one
 * Buffer first, and a list page is megabytes — allocations that size come from malloc's heap, which
 * glibc does not give back once it is fragmented.
 */
async function readText(body: AsyncIterable<Buffer | Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
