// /v1/prompts: list, one version (live, ?version= or ?label=) with ETag, render, test.
import { createHash } from "node:crypto";
import type { ErrorObject } from "ajv";
import type { Prompt } from "../api/generated/index.js";
import { PromptType } from "../api/kinds.js";
import { LlmError, createOpenAiChatClient, type ChatRequest } from "../backends/llm/index.js";
import { errorMessage } from "../kube/errors.js";
import type { StoredObject } from "../kube/resources.js";
import { MissingSecretError, readSecretValue } from "../kube/secrets.js";
import { renderPrompt, selectPromptVersion, type VersionSelector } from "../prompts/render.js";
import { readPromptSnapshot, snapshotSpec, type PromptSnapshotSpec } from "../prompts/snapshots.js";
import { readJsonBody } from "./body.js";
import { ApiError } from "./errors.js";
import type { ApiContext, ApiReply, ApiRequest, Route } from "./server.js";

/** Bodies of render and test requests at most. */
const maxPromptBodyBytes = 64 * 1024;

export function promptRoutes(): Route[] {
  const one = (verb: "get" | "create", subresource?: string) => (p: Record<string, string>) => ({
    verb,
    resource: "prompts" as const,
    namespace: p.namespace ?? "",
    name: p.name ?? "",
    ...(subresource !== undefined ? { subresource } : {}),
  });
  return [
    { method: "GET", path: "/v1/prompts", handle: listPrompts },
    {
      method: "GET",
      path: "/v1/prompts/{namespace}/{name}",
      access: one("get"),
      handle: getPrompt,
    },
    {
      method: "POST",
      path: "/v1/prompts/{namespace}/{name}/render",
      access: one("get"),
      handle: renderRoute,
    },
    {
      method: "POST",
      path: "/v1/prompts/{namespace}/{name}/test",
      // A call costs money: a permission of its own, beyond reading the prompt.
      access: one("create", "test"),
      handle: testRoute,
    },
  ];
}

/** A validation error of ajv as a field path: `/variables` → `variables`, `/3/value` → `[3].value`. */
export function schemaProblem(
  prefix: string,
  errors: readonly ErrorObject[] | null | undefined,
): ApiError {
  const e = errors?.[0];
  const path = (e?.instancePath ?? "")
    .split("/")
    .filter((s) => s !== "")
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
    .join("");
  const extra =
    e?.keyword === "additionalProperties"
      ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
      : "";
  const field = `${prefix}${path}`.replace(/^\./, "") || prefix || "body";
  return new ApiError(
    400,
    "InvalidBody",
    `${field}: ${e?.message ?? "is invalid"}${extra}; see /openapi.json`,
    {
      field,
    },
  );
}

async function listPrompts(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const only = request.query.get("namespace") ?? undefined;
  const prompts = context.list<Prompt>(PromptType, only);
  const namespaces =
    only !== undefined ? [only] : [...new Set(prompts.map((p) => p.metadata.namespace ?? ""))];
  const allowed = new Set<string>();
  for (const namespace of namespaces.sort()) {
    try {
      await context.auth.authorize(request.user, { verb: "list", resource: "prompts", namespace });
      allowed.add(namespace);
    } catch (error) {
      // Asked for one namespace: say it is not allowed; listing all: leave it out.
      if (only !== undefined || !(error instanceof ApiError) || error.status !== 403) throw error;
    }
  }
  const items = prompts
    .filter((p) => allowed.has(p.metadata.namespace ?? ""))
    .sort((a, b) =>
      `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ""}/${b.metadata.name}`,
      ),
    )
    .map((p) => ({
      namespace: p.metadata.namespace ?? "",
      name: p.metadata.name,
      version: p.status?.version ?? null,
      contentHash: p.status?.contentHash ?? null,
      labels: p.spec.labels ?? [],
      versions: (p.status?.history ?? []).map((h) => ({
        version: h.version,
        contentHash: h.contentHash,
        labels: h.labels ?? [],
      })),
    }));
  return { status: 200, body: { items } };
}

function selectorOf(query: URLSearchParams): VersionSelector {
  const version = query.get("version");
  const label = query.get("label");
  if (version !== null && label !== null) {
    throw new ApiError(400, "InvalidQuery", "give ?version= or ?label=, not both", {
      field: "version",
    });
  }
  if (version !== null) {
    const n = Number(version);
    if (!Number.isInteger(n) || n < 1) {
      throw new ApiError(
        400,
        "InvalidQuery",
        `version must be a whole number ≥ 1, got "${version}"`,
        {
          field: "version",
        },
      );
    }
    return { version: n };
  }
  if (label !== null) return { label };
  return { live: true };
}

interface VersionContent {
  prompt: StoredObject<Prompt>;
  version: number;
  contentHash: string;
  labels: string[];
  live: boolean;
  spec: PromptSnapshotSpec;
}

/** The Prompt version a request names, with its content (from the spec or its snapshot). */
async function versionContent(context: ApiContext, request: ApiRequest): Promise<VersionContent> {
  const namespace = request.params.namespace ?? "";
  const name = request.params.name ?? "";
  const prompt = context.get<Prompt>(PromptType, namespace, name);
  if (prompt === undefined) {
    throw new ApiError(404, "PromptNotFound", `Prompt ${namespace}/${name} does not exist`);
  }
  const selected = selectPromptVersion(prompt, selectorOf(request.query));
  if (!selected.ok) {
    throw new ApiError(selected.status, selected.code, selected.message, {
      ...(selected.status === 503 ? { retryAfterSeconds: 1 } : {}),
    });
  }
  const base = {
    prompt,
    version: selected.version,
    contentHash: selected.contentHash,
    labels: selected.labels,
    live: selected.live,
  };
  if (selected.live) return { ...base, spec: snapshotSpec(prompt.spec) };
  const key = `${namespace}/${name}@${String(selected.version)}#${selected.contentHash}`;
  let snapshot = context.snapshots.get(key);
  if (snapshot === undefined) {
    snapshot = await readPromptSnapshot(context.options.client, namespace, name, selected.version);
    if (snapshot?.contentHash !== selected.contentHash) {
      throw new ApiError(
        404,
        "VersionUnavailable",
        `the content of version ${String(selected.version)} of Prompt ${namespace}/${name} is not available (its snapshot ConfigMap is missing or was edited)`,
      );
    }
    if (context.snapshots.size >= 1000)
      context.snapshots.delete(context.snapshots.keys().next().value ?? "");
    context.snapshots.set(key, snapshot);
  }
  return { ...base, spec: snapshot.spec };
}

function describe(content: VersionContent): string {
  return `Prompt ${content.prompt.metadata.namespace ?? ""}/${content.prompt.metadata.name} version ${String(content.version)}`;
}

async function getPrompt(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const content = await versionContent(context, request);
  const { spec } = content;
  const body = {
    namespace: content.prompt.metadata.namespace ?? "",
    name: content.prompt.metadata.name,
    version: content.version,
    contentHash: content.contentHash,
    labels: content.labels,
    live: content.live,
    template: spec.template,
    variables: spec.variables ?? [],
    model: {
      name: spec.model.name,
      ...(spec.model.parameters ? { parameters: spec.model.parameters } : {}),
    },
    ...(spec.responseFormat ? { responseFormat: spec.responseFormat } : {}),
  };
  const text = JSON.stringify(body);
  const etag = `"${createHash("sha256").update(text).digest("hex").slice(0, 32)}"`;
  const headers = { etag, "cache-control": "no-cache" };
  const match = request.req.headers["if-none-match"];
  if (match !== undefined && match.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return { status: 304, headers };
  }
  return { status: 200, body, headers };
}

async function renderRequest(
  context: ApiContext,
  request: ApiRequest,
): Promise<{ content: VersionContent; messages: ReturnType<typeof rendered> }> {
  const body = await readJsonBody(request.req, maxPromptBodyBytes);
  if (!context.validate.render(body)) throw schemaProblem("", context.validate.render.errors);
  const content = await versionContent(context, request);
  const variables = (body as { variables?: Record<string, unknown> }).variables ?? {};
  return { content, messages: rendered(content, variables) };
}

function rendered(content: VersionContent, variables: Record<string, unknown>) {
  const result = renderPrompt(content.spec, variables, describe(content));
  if (!result.ok) {
    const first = result.problems[0];
    throw new ApiError(
      422,
      first?.code ?? "InvalidVariables",
      result.problems.map((p) => p.message).join("; "),
      {
        ...(first ? { field: first.field } : {}),
        details: result.problems,
      },
    );
  }
  return result.messages;
}

async function renderRoute(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const { content, messages } = await renderRequest(context, request);
  return {
    status: 200,
    body: {
      namespace: content.prompt.metadata.namespace ?? "",
      name: content.prompt.metadata.name,
      version: content.version,
      contentHash: content.contentHash,
      messages,
      model: {
        name: content.spec.model.name,
        ...(content.spec.model.parameters ? { parameters: content.spec.model.parameters } : {}),
      },
      ...(content.spec.responseFormat ? { responseFormat: content.spec.responseFormat } : {}),
    },
  };
}

async function testRoute(context: ApiContext, request: ApiRequest): Promise<ApiReply> {
  const { content, messages } = await renderRequest(context, request);
  const { spec } = content;
  const namespace = content.prompt.metadata.namespace ?? "";
  const endpoint = spec.model.endpoint;
  if (endpoint === undefined) {
    throw new ApiError(
      422,
      "NoEndpoint",
      `${describe(content)} has no spec.model.endpoint to call; set one on the Prompt`,
      {
        field: "spec.model.endpoint",
      },
    );
  }
  let apiKey: string | null = null;
  if (endpoint.apiKeySecretRef) {
    try {
      apiKey = await readSecretValue(
        context.options.client,
        namespace,
        endpoint.apiKeySecretRef,
        "spec.model.endpoint.apiKeySecretRef",
      );
    } catch (error) {
      if (error instanceof MissingSecretError) {
        throw new ApiError(422, "SecretNotFound", `${describe(content)}: ${error.message}`, {
          field: "spec.model.endpoint.apiKeySecretRef",
        });
      }
      throw error;
    }
  }
  const client = createOpenAiChatClient({
    baseURL: endpoint.baseURL,
    apiKey,
    prices: context.options.prices,
    clock: context.options.clock,
    timeoutMs: context.options.llm?.timeoutMs ?? 60_000,
    retry: { maxRetries: 1, ...context.options.llm?.retry },
  });
  const params = spec.model.parameters ?? {};
  const format = spec.responseFormat;
  const chat: ChatRequest = {
    model: spec.model.name,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
    ...(params.topP !== undefined ? { topP: params.topP } : {}),
    ...(params.maxTokens !== undefined ? { maxTokens: params.maxTokens } : {}),
    ...(params.seed !== undefined ? { seed: params.seed } : {}),
    ...(params.stop !== undefined ? { stop: params.stop } : {}),
    ...(format?.type === "json_schema" && format.schema
      ? {
          jsonSchema: {
            name: format.name ?? "response",
            schema: format.schema,
            ...(format.strict !== undefined ? { strict: format.strict } : {}),
          },
        }
      : {}),
  };
  let completion;
  try {
    completion = await client.complete(chat);
  } catch (error) {
    if (!(error instanceof LlmError)) throw error;
    throw new ApiError(
      502,
      "ModelCallFailed",
      `calling ${spec.model.name} at ${endpoint.baseURL} failed: ${errorMessage(error)}`,
    );
  }
  return {
    status: 200,
    body: {
      namespace,
      name: content.prompt.metadata.name,
      version: content.version,
      contentHash: content.contentHash,
      messages,
      output: completion.content,
      finishReason: completion.finishReason,
      model: completion.model,
      usage: completion.usage,
      costUSD: completion.costUSD,
      latencyMs: completion.latencyMs,
    },
  };
}
