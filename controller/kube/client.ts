// The narrow Kubernetes client the rest of the controller uses. Every write names a field
// manager; writes go through server-side apply unless a precondition (resourceVersion) is the
// point of the write, as for finalizers and leases.
import { NotFoundError, TransientError, errorMessage } from "./errors.js";
import {
  ConfigMapType,
  describeObject,
  type ConfigMap,
  type KubeObject,
  type ObjectKey,
  type ResourceType,
  type StoredObject,
  resourcePath,
} from "./resources.js";
import type { KubeTransport } from "./transport.js";

export interface KubeClientOptions {
  transport: KubeTransport;
  /** Field manager for every write unless a call names another (`llmops-controller`). */
  fieldManager: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface ListOptions extends RequestOptions {
  /** Omit (or `""`) to list across all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; pages are followed until the end by `list`. */
  limit?: number;
}

export interface ListResult<T extends KubeObject> {
  items: StoredObject<T>[];
  /** The collection's resourceVersion: where a watch continues from. */
  resourceVersion: string;
}

export interface ApplyOptions extends RequestOptions {
  /** Take ownership of fields another manager owns instead of failing with a conflict. */
  force?: boolean;
  fieldManager?: string;
  dryRun?: boolean;
  /** Unknown or duplicate fields: fail the request (`Strict`), warn, or drop them silently. */
  fieldValidation?: "Strict" | "Warn" | "Ignore";
}

export interface WriteOptions extends RequestOptions {
  fieldManager?: string;
}

export interface DeleteOptions extends RequestOptions {
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  /** Only delete this incarnation of the object / this exact revision. */
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
}

export interface WatchOptions extends RequestOptions {
  namespace?: string;
  resourceVersion?: string;
  /** Server-side limit on the watch's lifetime. */
  timeoutSeconds?: number;
  labelSelector?: string;
  fieldSelector?: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent {
  type: WatchEventType;
  /** A KubeObject, or a `Status` for ERROR events. */
  object: Record<string, unknown>;
}

export interface WatchStream extends AsyncIterable<WatchEvent> {
  /** Ends the watch; the iterator then finishes. Safe to call more than once. */
  close(): void;
}

/** What the apiserver says about a bearer token (authentication.k8s.io/v1 TokenReview status). */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: {
    username?: string;
    uid?: string;
    groups?: string[];
    /** E.g. `authentication.kubernetes.io/pod-name` for a token bound to a pod. */
    extra?: Record<string, string[]>;
  };
  /** The requested audiences the token is valid for. */
  audiences?: string[];
  error?: string;
}

export class KubeClient {
  readonly fieldManager: string;
  private readonly transport: KubeTransport;

  constructor(options: KubeClientOptions) {
    this.transport = options.transport;
    this.fieldManager = options.fieldManager;
  }

  /** Reads one object; throws NotFoundError when it does not exist. */
  async get<T extends KubeObject>(
    type: ResourceType,
    key: ObjectKey,
    options: RequestOptions = {},
  ): Promise<StoredObject<T>> {
    const response = await this.transport.request({
      method: "GET",
      path: resourcePath(type, key),
      signal: options.signal,
      what: `GET ${describeObject(type, key)}`,
    });
    return response.body as StoredObject<T>;
  }

  /** Reads one object, or undefined when it does not exist. */
  async tryGet<T extends KubeObject>(
    type: ResourceType,
    key: ObjectKey,
    options: RequestOptions = {},
  ): Promise<StoredObject<T> | undefined> {
    try {
      return await this.get<T>(type, key, options);
    } catch (err: unknown) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Reads a ConfigMap, or undefined when it does not exist. */
  getConfigMap(
    key: ObjectKey,
    options: RequestOptions = {},
  ): Promise<StoredObject<ConfigMap> | undefined> {
    return this.tryGet<ConfigMap>(ConfigMapType, key, options);
  }

  /** Lists every object (following pages) and the collection's resourceVersion. */
  async list<T extends KubeObject>(
    type: ResourceType,
    options: ListOptions = {},
  ): Promise<ListResult<T>> {
    const items: StoredObject<T>[] = [];
    let resourceVersion = "";
    for await (const page of this.listPages<T>(type, options)) {
      for (const item of page.items) items.push(item);
      resourceVersion ||= page.resourceVersion;
    }
    return { items, resourceVersion };
  }

  /**
   * Lists page by page (`limit` objects each), so a caller that keeps only part of each object
   * (an informer's cache) never holds the whole collection at once. Every page carries the
   * resourceVersion of the snapshot the pages belong to.
   */
  async *listPages<T extends KubeObject>(
    type: ResourceType,
    options: ListOptions = {},
  ): AsyncGenerator<ListResult<T>, void, undefined> {
    let continueToken: string | undefined;
    let resourceVersion = "";
    const where = options.namespace ? `in ${options.namespace}` : "in all namespaces";
    do {
      const response = await this.transport.request({
        method: "GET",
        path: resourcePath(type, { namespace: options.namespace }),
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit,
          continue: continueToken,
        },
        signal: options.signal,
        what: `LIST ${type.plural} ${where}`,
      });
      const page = response.body as {
        items?: StoredObject<T>[] | null;
        metadata?: { resourceVersion?: string; continue?: string };
      };
      const items = page.items ?? [];
      // List items carry no apiVersion/kind; fill them in so every object is self-describing.
      for (const item of items) {
        item.apiVersion = type.apiVersion;
        item.kind = type.kind;
      }
      // The resourceVersion of the first page is the snapshot the later pages belong to.
      if (resourceVersion === "") resourceVersion = page.metadata?.resourceVersion ?? "";
      continueToken = page.metadata?.continue || undefined;
      yield { items, resourceVersion };
    } while (continueToken !== undefined);
  }

  async create<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    options: WriteOptions = {},
  ): Promise<StoredObject<T>> {
    const namespace = obj.metadata?.namespace;
    const response = await this.transport.request({
      method: "POST",
      path: resourcePath(type, { namespace }),
      query: { fieldManager: options.fieldManager ?? this.fieldManager },
      body: withTypeMeta(type, obj),
      signal: options.signal,
      what: `CREATE ${describeObject(type, { namespace: namespace ?? "", name: obj.metadata?.name ?? obj.metadata?.generateName ?? "" })}`,
    });
    return response.body as StoredObject<T>;
  }

  /**
   * Replaces an object (PUT). With `metadata.resourceVersion` set, the apiserver refuses a stale
   * write with 409 → ConflictError: the read-modify-write that leader election needs.
   */
  async update<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    options: WriteOptions = {},
  ): Promise<StoredObject<T>> {
    const key = requireKey(type, obj);
    const response = await this.transport.request({
      method: "PUT",
      path: resourcePath(type, key),
      query: { fieldManager: options.fieldManager ?? this.fieldManager },
      body: withTypeMeta(type, obj),
      signal: options.signal,
      what: `UPDATE ${describeObject(type, key)}`,
    });
    return response.body as StoredObject<T>;
  }

  /** Server-side apply of the fields in `obj`, owned by the field manager. */
  async apply<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    options: ApplyOptions = {},
  ): Promise<StoredObject<T>> {
    return this.applyTo(type, obj, { ...options, subresource: undefined });
  }

  /**
   * Server-side apply to the status subresource. `obj` carries only name/namespace and `status`;
   * the whole status is owned by the field manager, so fields left out are removed. Pass
   * `force: true` when someone else (kubectl edit) may have touched status.
   */
  async applyStatus<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    options: ApplyOptions = {},
  ): Promise<StoredObject<T>> {
    return this.applyTo(type, obj, { ...options, subresource: "status" });
  }

  /**
   * JSON merge patch (RFC 7386), sent with its explicit content type (client-node would default
   * to JSON patch). Include `metadata.resourceVersion` in the patch to make it conditional.
   */
  async mergePatch<T extends KubeObject>(
    type: ResourceType,
    key: ObjectKey,
    patch: Record<string, unknown>,
    options: WriteOptions & { subresource?: "status" } = {},
  ): Promise<StoredObject<T>> {
    const response = await this.transport.request({
      method: "PATCH",
      path: resourcePath(type, { ...key, subresource: options.subresource }),
      query: { fieldManager: options.fieldManager ?? this.fieldManager },
      body: patch,
      contentType: "application/merge-patch+json",
      signal: options.signal,
      what: `PATCH ${describeObject(type, key)}${options.subresource ? "/" + options.subresource : ""}`,
    });
    return response.body as StoredObject<T>;
  }

  /** Merge patch of the status subresource. */
  async mergePatchStatus<T extends KubeObject>(
    type: ResourceType,
    key: ObjectKey,
    status: unknown,
    options: WriteOptions = {},
  ): Promise<StoredObject<T>> {
    return this.mergePatch<T>(type, key, { status }, { ...options, subresource: "status" });
  }

  /**
   * Deletes an object. Resolves to false when it was already gone, so finalizers and cleanup stay
   * idempotent without a try/catch at every call site.
   */
  async delete(type: ResourceType, key: ObjectKey, options: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.transport.request({
        method: "DELETE",
        path: resourcePath(type, key),
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          ...(options.propagationPolicy && { propagationPolicy: options.propagationPolicy }),
          ...(options.preconditions && { preconditions: options.preconditions }),
          ...(options.gracePeriodSeconds !== undefined && {
            gracePeriodSeconds: options.gracePeriodSeconds,
          }),
        },
        signal: options.signal,
        what: `DELETE ${describeObject(type, key)}`,
      });
      return true;
    } catch (err: unknown) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** Deletes every object of `type` in `namespace` that matches `labelSelector` (one request). */
  async deleteCollection(
    type: ResourceType,
    options: { namespace: string; labelSelector: string; signal?: AbortSignal },
  ): Promise<void> {
    await this.transport.request({
      method: "DELETE",
      path: resourcePath(type, { namespace: options.namespace }),
      query: { labelSelector: options.labelSelector },
      signal: options.signal,
      what: `DELETE ${type.plural} in ${options.namespace} matching ${options.labelSelector}`,
    });
  }

  /**
   * Opens a watch. Events arrive as parsed JSON lines; the stream ends when the server closes it
   * (timeoutSeconds), on a network error (thrown from the iterator as TransientError) or close().
   */
  async watch(type: ResourceType, options: WatchOptions = {}): Promise<WatchStream> {
    const where = options.namespace ? `in ${options.namespace}` : "in all namespaces";
    const what = `WATCH ${type.plural} ${where}`;
    const stream = await this.transport.stream({
      path: resourcePath(type, { namespace: options.namespace }),
      query: {
        watch: true,
        allowWatchBookmarks: true,
        resourceVersion: options.resourceVersion,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      signal: options.signal,
      what,
    });
    let closed = false;
    return {
      close: () => {
        closed = true;
        stream.close();
      },
      async *[Symbol.asyncIterator]() {
        let buffered = "";
        // Decode as a string stream so a multi-byte character split across chunks stays intact.
        stream.body.setEncoding("utf8");
        try {
          for await (const chunk of stream.body) {
            buffered += chunk as string;
            let newline = buffered.indexOf("\n");
            while (newline !== -1) {
              const line = buffered.slice(0, newline).trim();
              buffered = buffered.slice(newline + 1);
              newline = buffered.indexOf("\n");
              if (line !== "") yield parseWatchLine(what, line);
            }
          }
        } catch (err: unknown) {
          if (closed) return;
          throw new TransientError(`${what}: stream failed: ${errorMessage(err)}`, { cause: err });
        } finally {
          stream.close();
        }
      },
    };
  }

  /**
   * Asks the apiserver who a bearer token belongs to (a TokenReview, never stored). With
   * `audiences`, the token must be valid for one of them. The token is sent only in the body and
   * never appears in errors.
   */
  async reviewToken(
    token: string,
    options: RequestOptions & { audiences?: readonly string[] } = {},
  ): Promise<TokenReviewStatus> {
    const response = await this.transport.request({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/tokenreviews",
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, ...(options.audiences && { audiences: options.audiences }) },
      },
      signal: options.signal,
      what: "CREATE TokenReview",
    });
    return (response.body as { status?: TokenReviewStatus }).status ?? {};
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.transport.close();
  }

  private async applyTo<T extends KubeObject>(
    type: ResourceType,
    obj: T,
    options: ApplyOptions & { subresource: "status" | undefined },
  ): Promise<StoredObject<T>> {
    const key = requireKey(type, obj);
    const body = withTypeMeta(type, obj);
    // Apply bodies must not carry server-owned metadata; a stale resourceVersion would turn the
    // apply into a conditional write that fails for no reason.
    if (body.metadata !== undefined) {
      const { resourceVersion: _rv, managedFields: _mf, uid: _uid, ...metadata } = body.metadata;
      body.metadata = metadata;
    }
    const response = await this.transport.request({
      method: "PATCH",
      path: resourcePath(type, { ...key, subresource: options.subresource }),
      query: {
        fieldManager: options.fieldManager ?? this.fieldManager,
        force: options.force === true ? true : undefined,
        dryRun: options.dryRun === true ? "All" : undefined,
        fieldValidation: options.fieldValidation,
      },
      body,
      // JSON is YAML, so the apply content type accepts a JSON body.
      contentType: "application/apply-patch+yaml",
      signal: options.signal,
      what: `APPLY ${describeObject(type, key)}${options.subresource ? "/" + options.subresource : ""}`,
    });
    return response.body as StoredObject<T>;
  }
}

function withTypeMeta<T extends KubeObject>(type: ResourceType, obj: T): T {
  return { ...obj, apiVersion: type.apiVersion, kind: type.kind };
}

function requireKey(type: ResourceType, obj: KubeObject): ObjectKey {
  const name = obj.metadata?.name;
  if (name === undefined || name === "") {
    throw new TypeError(`${type.kind}: metadata.name is required for this request`);
  }
  const namespace = obj.metadata?.namespace ?? "";
  if (type.namespaced && namespace === "") {
    throw new TypeError(`${type.kind} ${name}: metadata.namespace is required for this request`);
  }
  return { namespace: type.namespaced ? namespace : "", name };
}

function parseWatchLine(what: string, line: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err: unknown) {
    throw new TransientError(`${what}: malformed watch event: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const event = parsed as { type?: unknown; object?: unknown };
  if (typeof event.type !== "string" || typeof event.object !== "object" || event.object === null) {
    throw new TransientError(`${what}: malformed watch event without type or object`);
  }
  return { type: event.type as WatchEventType, object: event.object as Record<string, unknown> };
}
