// The controller's HTTP API for applications (port 8081 by default): prompts by version or label,
// render and test, Experiment results, online A/B assignments and outcomes (routes in
// prompt-routes.ts and experiment-routes.ts, documented in openapi.ts).
//
// Every replica serves it, leader or not: it reads Prompts and Experiments through informers of
// its own (a standby's manager runs none), version snapshots from the API, and writes only the
// online runs' counts (controller/online/store.ts), never a spec. Each request is bounded (body
// size, per-client token bucket), authenticated with a TokenReview and authorized with a
// SubjectAccessReview in the namespace it reads (tenants.ts).
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Ajv, type ValidateFunction } from "ajv";
import type { Logger } from "pino";
import type { Experiment, Prompt } from "../api/generated/index.js";
import { ExperimentType, PromptType } from "../api/kinds.js";
import type { PriceTable, RetryPolicy } from "../backends/llm/index.js";
import type { KubeClient } from "../kube/client.js";
import { errorMessage } from "../kube/errors.js";
import type { ResourceType, StoredObject } from "../kube/resources.js";
import type { OnlineStore } from "../online/store.js";
import type { PromptSnapshot } from "../prompts/snapshots.js";
import type { Clock } from "../runtime/clock.js";
import { parseListenAddress } from "../runtime/http-server.js";
import { Informer } from "../runtime/informer.js";
import { ApiError, errorBody } from "./errors.js";
import { experimentRoutes } from "./experiment-routes.js";
import { openApiDocument, requestSchemas } from "./openapi.js";
import { promptRoutes } from "./prompt-routes.js";
import { RateLimiter } from "./rate-limit.js";
import { TenantAuth, type AccessRequest, type TenantUser } from "./tenants.js";

export interface ApiServerOptions {
  /** `host:port`, `:port` or `0` (off). */
  address: string;
  client: KubeClient;
  logger: Logger;
  clock: Clock;
  /** Namespaces served; empty: all. */
  namespaces: readonly string[];
  store: OnlineStore;
  /** Requests per second per client, and the burst above it. */
  rateLimit: { ratePerSecond: number; burst: number };
  /** How long TokenReview and SubjectAccessReview answers are reused; default 10 s. */
  authCacheTtlMs?: number;
  /** Prices for the test endpoint's cost. */
  prices: PriceTable;
  /** Model client settings for the test endpoint (tests shorten them). */
  llm?: { timeoutMs?: number; retry?: Partial<RetryPolicy> };
  /**
   * The caches to read, already running or run by their owner (the manager's shared informers,
   * so the controller keeps one copy of each object); without it the server runs its own.
   */
  informers?: (type: ResourceType) => Informer[];
}

export interface ApiServer {
  readonly url: string;
  /** True once the Prompt and Experiment caches have synced. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** What a route handler gets. */
export interface ApiRequest {
  req: IncomingMessage;
  params: Record<string, string>;
  query: URLSearchParams;
  user: TenantUser;
}

/** What a handler answers (JSON unless `raw`). */
export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Read access to the API server's caches and its dependencies. */
export interface ApiContext {
  options: ApiServerOptions;
  auth: TenantAuth;
  get<T extends Prompt | Experiment>(
    type: ResourceType,
    namespace: string,
    name: string,
  ): StoredObject<T> | undefined;
  list<T extends Prompt | Experiment>(type: ResourceType, namespace?: string): StoredObject<T>[];
  validate: Record<keyof typeof requestSchemas, ValidateFunction>;
  /** Immutable version snapshots already read, by `ns/name@version#hash`. */
  snapshots: Map<string, PromptSnapshot>;
}

export interface Route {
  method: "GET" | "POST";
  /** OpenAPI path template, e.g. `/v1/prompts/{namespace}/{name}`. */
  path: string;
  /** What RBAC must allow; undefined: the handler checks (listing several namespaces). */
  access?: (params: Record<string, string>) => AccessRequest;
  handle: (context: ApiContext, request: ApiRequest) => Promise<ApiReply>;
}

/** Every route the API serves, as the OpenAPI document lists them. */
export function apiRoutes(): Route[] {
  return [...promptRoutes(), ...experimentRoutes()];
}

interface CompiledRoute extends Route {
  segments: string[];
}

function compile(route: Route): CompiledRoute {
  return { ...route, segments: route.path.split("/").filter((s) => s !== "") };
}

function match(route: CompiledRoute, parts: readonly string[]): Record<string, string> | undefined {
  if (route.segments.length !== parts.length) return undefined;
  for (let i = 0; i < parts.length; i++) {
    const want = route.segments[i] ?? "";
    if (!want.startsWith("{") && want !== parts[i]) return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const want = route.segments[i] ?? "";
    if (want.startsWith("{")) params[want.slice(1, -1)] = decodePathSegment(parts[i] ?? "");
  }
  return params;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError(
      400,
      "InvalidPath",
      `the path segment "${segment}" is not valid percent-encoding`,
    );
  }
}

/** Starts the API server, or returns undefined when the address is `0`. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer | undefined> {
  const listen = parseListenAddress(options.address);
  if (listen === undefined) return undefined;
  const stop = new AbortController();
  const informers = new Map<string, Informer>();
  for (const type of [PromptType, ExperimentType]) {
    if (options.informers !== undefined) {
      for (const informer of options.informers(type)) {
        informers.set(`${type.kind}/${informer.namespace}`, informer);
      }
      continue;
    }
    for (const namespace of options.namespaces.length > 0 ? options.namespaces : [""]) {
      const informer = new Informer({
        client: options.client,
        type,
        namespace,
        clock: options.clock,
        logger: options.logger.child({ component: "api-cache", kind: type.kind }),
      });
      informers.set(`${type.kind}/${namespace}`, informer);
      void informer.run(stop.signal);
    }
  }
  const informerFor = (type: ResourceType, namespace: string): Informer | undefined =>
    informers.get(`${type.kind}/${namespace}`) ?? informers.get(`${type.kind}/`);
  const ajv = new Ajv({ allErrors: false, strict: false });
  const context: ApiContext = {
    options,
    auth: new TenantAuth({
      client: options.client,
      clock: options.clock,
      ...(options.authCacheTtlMs !== undefined ? { ttlMs: options.authCacheTtlMs } : {}),
    }),
    get: <T extends Prompt | Experiment>(type: ResourceType, namespace: string, name: string) =>
      informerFor(type, namespace)?.get(`${namespace}/${name}`) as StoredObject<T> | undefined,
    list: <T extends Prompt | Experiment>(type: ResourceType, namespace?: string) =>
      [...informers.values()]
        .filter((i) => i.type.kind === type.kind)
        .flatMap((i) => i.list())
        .filter(
          (o) => namespace === undefined || o.metadata.namespace === namespace,
        ) as unknown as StoredObject<T>[],
    validate: {
      render: ajv.compile(requestSchemas.render),
      assignment: ajv.compile(requestSchemas.assignment),
      outcomes: ajv.compile(requestSchemas.outcomes),
    },
    snapshots: new Map(),
  };
  let synced = false;
  const ready = (): boolean =>
    synced || (synced = [...informers.values()].every((i) => i.hasSynced()));
  const routes = apiRoutes().map(compile);
  const limiter = new RateLimiter({ ...options.rateLimit, clock: options.clock });
  // Requests whose token is not known yet are limited by address too, so random tokens cannot
  // turn into a flood of TokenReviews.
  const anonymous = new RateLimiter({ ...options.rateLimit, clock: options.clock });
  const openapi = JSON.stringify(openApiDocument);

  const server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      options.logger.error(
        { err: errorMessage(error), path: req.url?.split("?")[0] },
        "api request failed",
      );
      if (!res.headersSent)
        send(res, {
          status: 500,
          body: errorBody(new ApiError(500, "InternalError", "internal error")),
        });
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const url = {
      pathname: q === -1 ? raw : raw.slice(0, q),
      searchParams: new URLSearchParams(q === -1 ? "" : raw.slice(q + 1)),
    };
    if (url.pathname === "/openapi.json" && req.method === "GET") {
      send(res, { status: 200, body: openapi, headers: { "cache-control": "no-cache" } }, true);
      return;
    }
    try {
      const parts = url.pathname.split("/").filter((s) => s !== "");
      let params: Record<string, string> | undefined;
      let route: CompiledRoute | undefined;
      let methodMismatch = false;
      for (const r of routes) {
        const p = match(r, parts);
        if (p === undefined) continue;
        if (r.method !== req.method) {
          methodMismatch = true;
          continue;
        }
        route = r;
        params = p;
        break;
      }
      if (route === undefined || params === undefined) {
        throw methodMismatch
          ? new ApiError(
              405,
              "MethodNotAllowed",
              `${req.method ?? ""} is not allowed on ${url.pathname}`,
            )
          : new ApiError(404, "NotFound", `no route ${url.pathname}; see /openapi.json`);
      }
      const authorization = req.headers.authorization;
      let user = context.auth.cached(authorization);
      if (user === undefined) {
        const wait = anonymous.take(`addr:${req.socket.remoteAddress ?? ""}`);
        if (wait > 0) throw rateLimited(wait);
        user = await context.auth.authenticate(authorization);
      } else if (user === null) {
        user = await context.auth.authenticate(authorization); // answers the 401
      }
      const wait = limiter.take(`user:${user.username}`);
      if (wait > 0) throw rateLimited(wait);
      if (route.access) await context.auth.authorize(user, route.access(params));
      if (!ready()) {
        throw new ApiError(
          503,
          "NotReady",
          "the API is still reading Prompts and Experiments; retry",
          {
            retryAfterSeconds: 1,
          },
        );
      }
      send(res, await route.handle(context, { req, params, query: url.searchParams, user }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status >= 500)
        options.logger.warn({ code: error.code, err: error.message }, "api request failed");
      send(res, {
        status: error.status,
        body: errorBody(error),
        ...(error.extra.retryAfterSeconds !== undefined
          ? { headers: { "retry-after": String(error.extra.retryAfterSeconds) } }
          : {}),
      });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  options.logger.info(
    { address: `${host}:${String(bound.port)}` },
    "serving the HTTP API (/openapi.json)",
  );
  return {
    url: `http://${host}:${String(bound.port)}`,
    isReady: ready,
    close: async () => {
      stop.abort();
      await closeServer(server);
    },
  };
}

function rateLimited(seconds: number): ApiError {
  return new ApiError(
    429,
    "RateLimited",
    `this client's rate limit was reached; retry in ${String(seconds)} s`,
    {
      retryAfterSeconds: seconds,
    },
  );
}

function send(res: ServerResponse, reply: ApiReply, raw = false): void {
  const body =
    reply.body === undefined
      ? ""
      : raw && typeof reply.body === "string"
        ? reply.body
        : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "content-length": String(Buffer.byteLength(body)),
    ...reply.headers,
  });
  res.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}
