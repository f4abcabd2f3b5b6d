// `POST /hooks/<source>`: push webhooks from GitHub, GitLab and Gitea trigger an immediate sync.
// The signature is checked before anything else is read from the payload; a wrong one gets 401 and
// changes nothing. Bodies are size-limited; comparisons are constant-time.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { errorMessage } from "../kube/errors.js";
import type { HttpRoute } from "../runtime/http-server.js";
import type { GitSyncMetrics } from "./metrics.js";

export const webhookPathPrefix = "/hooks/";
export const defaultMaxWebhookBytes = 1024 * 1024;

/** What the receiver needs from the syncer. */
export interface WebhookTarget {
  source(name: string): { branch: string; webhookSecretRef?: unknown } | undefined;
  /** The HMAC secret, or undefined when the source's webhook is not enabled. */
  webhookSecret(name: string): Promise<Buffer | undefined>;
  trigger(name: string): boolean;
}

export type SignatureCheck =
  { ok: true; provider: "github" | "gitlab" | "gitea" } | { ok: false; reason: string };

function header(headers: IncomingMessage["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Constant-time equality of two strings (hashed first, so lengths leak nothing either). */
function safeEqual(a: string, b: string): boolean {
  const ha = createHmac("sha256", "llmops-compare").update(a).digest();
  const hb = createHmac("sha256", "llmops-compare").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Checks a push webhook's signature: GitHub `X-Hub-Signature-256: sha256=<hex HMAC>`, Gitea
 * `X-Gitea-Signature: <hex HMAC>`, GitLab `X-Gitlab-Token: <secret>`. Pure.
 */
export function verifyWebhookSignature(
  headers: IncomingMessage["headers"],
  body: Buffer,
  secret: Buffer,
): SignatureCheck {
  const hmac = (): string => createHmac("sha256", secret).update(body).digest("hex");
  const github = header(headers, "x-hub-signature-256");
  const gitea = header(headers, "x-gitea-signature");
  const gitlab = header(headers, "x-gitlab-token");
  if (gitea !== undefined) {
    return safeEqual(gitea.trim().toLowerCase(), hmac())
      ? { ok: true, provider: "gitea" }
      : { ok: false, reason: "X-Gitea-Signature does not match" };
  }
  if (github !== undefined) {
    return safeEqual(github.trim().toLowerCase(), `sha256=${hmac()}`)
      ? { ok: true, provider: "github" }
      : { ok: false, reason: "X-Hub-Signature-256 does not match" };
  }
  if (gitlab !== undefined) {
    return safeEqual(gitlab, secret.toString("utf8"))
      ? { ok: true, provider: "gitlab" }
      : { ok: false, reason: "X-Gitlab-Token does not match" };
  }
  return {
    ok: false,
    reason: "no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header",
  };
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(header(req.headers, "content-length"));
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Which branch a push payload is about (`ref: refs/heads/main`), if it says. */
export function pushedBranch(body: Buffer): string | undefined {
  try {
    const payload = JSON.parse(body.toString("utf8")) as { ref?: unknown };
    return typeof payload.ref === "string" && payload.ref.startsWith("refs/heads/")
      ? payload.ref.slice("refs/heads/".length)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface WebhookRouteOptions {
  target: WebhookTarget;
  logger: Logger;
  metrics: GitSyncMetrics;
  maxBodyBytes?: number;
}

/** The `/hooks/<source>` route for the controller's HTTP server. */
export function webhookRoute(options: WebhookRouteOptions): HttpRoute {
  const { target, logger, metrics } = options;
  const limit = options.maxBodyBytes ?? defaultMaxWebhookBytes;
  return {
    pathPrefix: webhookPathPrefix,
    handle: async (req, res) => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      const name = decodeURIComponent(path.slice(webhookPathPrefix.length));
      const count = (result: string): void => {
        metrics.webhookRequests.inc({ source: target.source(name) ? name : "", result });
      };
      if (req.method !== "POST") {
        count("bad_request");
        res.setHeader("allow", "POST");
        send(res, 405, { error: "use POST" });
        return;
      }
      const source = target.source(name);
      const secret = source === undefined ? undefined : await target.webhookSecret(name);
      if (source === undefined || secret === undefined) {
        count("not_found");
        req.resume();
        send(res, 404, { error: `no git source "${name}" with a webhook` });
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, limit);
      } catch (err: unknown) {
        if (err instanceof BodyTooLarge) {
          count("too_large");
          res.setHeader("connection", "close");
          send(res, 413, { error: `body larger than ${String(limit)} bytes` });
          return;
        }
        throw err;
      }
      const check = verifyWebhookSignature(req.headers, body, secret);
      if (!check.ok) {
        count("unauthorized");
        logger.warn({ source: name, reason: check.reason }, "webhook refused");
        send(res, 401, { error: "signature verification failed" });
        return;
      }
      const event =
        header(req.headers, "x-github-event") ??
        header(req.headers, "x-gitea-event") ??
        header(req.headers, "x-gitlab-event");
      if (event === "ping") {
        count("ignored");
        send(res, 200, { ok: true, event: "ping" });
        return;
      }
      const branch = pushedBranch(body);
      if (branch !== undefined && branch !== source.branch) {
        count("ignored");
        send(res, 202, {
          triggered: false,
          reason: `push to ${branch}, source follows ${source.branch}`,
        });
        return;
      }
      try {
        target.trigger(name);
      } catch (err: unknown) {
        logger.error({ source: name, err: errorMessage(err) }, "webhook trigger failed");
      }
      count("accepted");
      logger.info({ source: name, provider: check.provider }, "webhook: sync triggered");
      send(res, 202, { triggered: true, source: name });
    },
  };
}
