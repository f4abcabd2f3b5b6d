// Tenants are namespaces, and Kubernetes RBAC decides who reads what: the bearer token of every
// request is checked with a TokenReview (who is this?), and the request itself with a
// SubjectAccessReview (may this user `get prompts` in that namespace?), as an aggregated API
// server does. Both answers are cached for `ttlMs` (default 10 s, like the apiserver's webhook
// authorizer cache) so a busy client costs the apiserver a few reviews a minute, not one per
// request; a revoked RoleBinding takes effect within that time. Tokens are keyed by their SHA-256
// and never logged, written anywhere or put in an error.
import { hash } from "node:crypto";
import type { KubeClient } from "../kube/client.js";
import { errorMessage } from "../kube/errors.js";
import type { KubeObject, ResourceType } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import { ApiError } from "./errors.js";

const TokenReviewType: ResourceType = {
  apiVersion: "authentication.k8s.io/v1",
  kind: "TokenReview",
  plural: "tokenreviews",
  namespaced: false,
};
const SubjectAccessReviewType: ResourceType = {
  apiVersion: "authorization.k8s.io/v1",
  kind: "SubjectAccessReview",
  plural: "subjectaccessreviews",
  namespaced: false,
};

/** Who a token belongs to. */
export interface TenantUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** What a request does, as RBAC sees it (group llmops.dev). */
export interface AccessRequest {
  verb: "get" | "list" | "create";
  resource: "prompts" | "experiments";
  subresource?: string;
  namespace: string;
  name?: string;
}

export interface TenantAuthOptions {
  client: KubeClient;
  clock: Clock;
  ttlMs?: number;
  /** Entries per cache at most; default 10,000. */
  maxEntries?: number;
}

interface Cached<T> {
  value: T;
  expires: number;
}

class TtlCache<T> {
  readonly #entries = new Map<string, Cached<T>>();
  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string): T | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.expires <= this.clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: T): void {
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expires: this.clock.now() + this.ttlMs });
  }
}

/** `Authorization: Bearer <token>` → the token, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  // No regular expression over a kilobyte of JWT on every request.
  if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== "bearer ") {
    return undefined;
  }
  const token = header.slice(7).trim();
  return token === "" || /\s/.test(token) ? undefined : token;
}

/** "user alice", "serviceaccount team-a/app" for the messages. */
export function describeUser(user: TenantUser): string {
  const sa = /^system:serviceaccount:([^:]+):(.+)$/.exec(user.username);
  return sa ? `serviceaccount ${sa[1] ?? ""}/${sa[2] ?? ""}` : `user ${user.username}`;
}

export class TenantAuth {
  readonly #client: KubeClient;
  readonly #users: TtlCache<TenantUser | null>;
  readonly #decisions: TtlCache<boolean>;
  readonly #recent = new Map<string, string>();

  constructor(options: TenantAuthOptions) {
    this.#client = options.client;
    const ttl = options.ttlMs ?? 10_000;
    const max = options.maxEntries ?? 10_000;
    this.#users = new TtlCache(options.clock, ttl, max);
    this.#decisions = new TtlCache(options.clock, ttl, max);
  }

  /**
   * The user of `header`'s token when a TokenReview answered for it recently (null: it was
   * rejected), undefined when the apiserver must be asked (authenticate).
   */
  cached(header: string | undefined): TenantUser | null | undefined {
    if (header === undefined) return undefined;
    // The last headers seen, in this process's memory only, spare hashing a kilobyte of JWT on
    // every request of a busy client; they expire with the review they point at.
    const recent = this.#recent.get(header);
    if (recent !== undefined) {
      const user = this.#users.get(recent);
      if (user !== undefined) return user;
      this.#recent.delete(header);
    }
    const token = bearerToken(header);
    if (token === undefined) return undefined;
    const key = tokenKey(token);
    const user = this.#users.get(key);
    if (user !== undefined) {
      if (this.#recent.size >= 1024) this.#recent.clear();
      this.#recent.set(header, key);
    }
    return user;
  }

  /** The user of the request's bearer token; 401 when there is none or the apiserver rejects it. */
  async authenticate(header: string | undefined): Promise<TenantUser> {
    const token = bearerToken(header);
    if (token === undefined) {
      throw new ApiError(
        401,
        "Unauthorized",
        "send a Kubernetes bearer token (Authorization: Bearer <token>), such as a ServiceAccount token",
      );
    }
    const key = tokenKey(token);
    let user = this.#users.get(key);
    if (user === undefined) {
      user = await this.#review(token);
      this.#users.set(key, user);
    }
    if (user === null) {
      throw new ApiError(
        401,
        "Unauthorized",
        "the bearer token was not accepted by the Kubernetes API server",
      );
    }
    return user;
  }

  /** 403 unless RBAC lets `user` do `request`. */
  async authorize(user: TenantUser, request: AccessRequest): Promise<void> {
    const key = `${userKey(user)}\u0000${request.verb}\u0000${request.resource}\u0000${request.subresource ?? ""}\u0000${request.namespace}\u0000${request.name ?? ""}`;
    let allowed = this.#decisions.get(key);
    if (allowed === undefined) {
      allowed = await this.#accessReview(user, request);
      this.#decisions.set(key, allowed);
    }
    if (!allowed) {
      const what = `${request.verb} ${request.resource}${request.subresource ? `/${request.subresource}` : ""}`;
      throw new ApiError(
        403,
        "Forbidden",
        `${describeUser(user)} cannot ${what} in namespace ${request.namespace}; a Role granting ${what} (apiGroup llmops.dev) bound to it allows this`,
      );
    }
  }

  async #review(token: string): Promise<TenantUser | null> {
    let review;
    try {
      review = await this.#client.create<KubeObject & { status?: ReviewStatus }>(TokenReviewType, {
        spec: { token },
      });
    } catch (error) {
      // errorMessage names the request (CREATE TokenReview), never its body.
      throw new ApiError(
        503,
        "AuthenticationUnavailable",
        `the token could not be checked: ${errorMessage(error)}; retry`,
        {
          retryAfterSeconds: 1,
        },
      );
    }
    const status = review.status;
    if (status?.authenticated !== true || status.user?.username === undefined) return null;
    return {
      username: status.user.username,
      ...(status.user.uid !== undefined ? { uid: status.user.uid } : {}),
      groups: status.user.groups ?? [],
      ...(status.user.extra !== undefined ? { extra: status.user.extra } : {}),
    };
  }

  async #accessReview(user: TenantUser, request: AccessRequest): Promise<boolean> {
    try {
      const review = await this.#client.create<KubeObject & { status?: { allowed?: boolean } }>(
        SubjectAccessReviewType,
        {
          spec: {
            user: user.username,
            groups: user.groups,
            ...(user.uid !== undefined ? { uid: user.uid } : {}),
            ...(user.extra !== undefined ? { extra: user.extra } : {}),
            resourceAttributes: {
              group: "llmops.dev",
              resource: request.resource,
              verb: request.verb,
              namespace: request.namespace,
              ...(request.subresource !== undefined ? { subresource: request.subresource } : {}),
              ...(request.name !== undefined ? { name: request.name } : {}),
            },
          },
        },
      );
      return review.status?.allowed === true;
    } catch (error) {
      throw new ApiError(
        503,
        "AuthorizationUnavailable",
        `access could not be checked: ${errorMessage(error)}; retry`,
        {
          retryAfterSeconds: 1,
        },
      );
    }
  }
}

interface ReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

function tokenKey(token: string): string {
  return hash("sha256", token, "base64");
}

const userKeys = new WeakMap<TenantUser, string>();

/** A key for everything about `user` RBAC looks at, computed once per cached user. */
function userKey(user: TenantUser): string {
  let key = userKeys.get(user);
  if (key === undefined) {
    key = JSON.stringify([user.username, user.uid ?? "", user.groups, user.extra ?? {}]);
    userKeys.set(user, key);
  }
  return key;
}
