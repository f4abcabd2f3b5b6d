// Langfuse prompt management through the official @langfuse/client.
//
// Idempotency: every version we create carries the label `llmops-<hash>` (Langfuse labels are
// unique per prompt, so the label is a content-addressed pointer). Before creating, we look the
// label up: a retry after a crash, or a revert to earlier content, finds the existing version and
// only moves labels. No duplicate version is ever created for the same content.
//
// Failures are the client's own errors, passed on as they are (their text reaches the Prompt's
// status); a 404 is told apart with langfuseStatus, as everywhere Langfuse is used.
import type { LangfuseClient } from "@langfuse/client";
import { langfuseClient } from "../langfuse/client.js";
import { langfuseRequestOptions, type LangfuseConnection } from "../langfuse/connection.js";
import { langfuseStatus } from "../langfuse/errors.js";
import type { PromptPublication, PromptRegistry, PublishedVersion } from "./prompt-registry.js";

/** The Langfuse connection a registry publishes through (the name the Prompt reconciler uses). */
export type LangfuseCredentials = LangfuseConnection;

export interface LangfuseRegistryOptions {
  credentials: LangfuseCredentials;
  /** Per-request timeout in seconds; default the connection's, else 10. */
  timeoutSeconds?: number;
}

/** Per-request timeout of publishing when neither the options nor the connection set one. */
const registryTimeoutSeconds = 10;

/** The label that marks the version holding this content. */
export function contentLabel(contentHash: string): string {
  return `llmops-${contentHash
    .replace(/^sha256:/, "")
    .slice(0, 16)
    .toLowerCase()}`;
}

export class LangfusePromptRegistry implements PromptRegistry {
  private readonly client: LangfuseClient;
  /** Per request: the client's own `timeout` option does not reach its API calls. */
  private readonly request: { timeoutInSeconds: number };

  constructor(options: LangfuseRegistryOptions) {
    this.client = langfuseClient(options.credentials);
    this.request = langfuseRequestOptions(
      { timeoutSeconds: options.timeoutSeconds ?? options.credentials.timeoutSeconds },
      registryTimeoutSeconds,
    );
  }

  async publish(publication: PromptPublication): Promise<PublishedVersion> {
    const marker = contentLabel(publication.contentHash);
    const existing = await this.findByLabel(publication.name, marker);
    if (existing) {
      const missing = publication.labels.filter((l) => !existing.labels.includes(l));
      if (missing.length === 0) {
        return { version: existing.version, labels: existing.labels, created: false };
      }
      const updated = await this.client.api.promptVersion.update(
        publication.name,
        existing.version,
        { newLabels: [...existing.labels.filter((l) => l !== "latest"), ...missing] },
        this.request,
      );
      return { version: updated.version, labels: updated.labels, created: false };
    }
    const common = {
      name: publication.name,
      config: {
        ...publication.config,
        llmops: { contentHash: publication.contentHash, version: publication.llmopsVersion },
      },
      labels: [marker, ...publication.labels],
      tags: ["llmops"],
      commitMessage: publication.source
        ? `llmops version ${String(publication.llmopsVersion)} from ${publication.source}`
        : `llmops version ${String(publication.llmopsVersion)}`,
    };
    // No client-side retry for create: a retried request whose first attempt did land would mint
    // a second version. Our work queue retries instead, and the label lookup above runs first.
    const once = { ...this.request, maxRetries: 0 };
    const created =
      "text" in publication.template
        ? await this.client.api.prompts.create(
            { ...common, type: "text", prompt: publication.template.text },
            once,
          )
        : await this.client.api.prompts.create(
            {
              ...common,
              type: "chat",
              prompt: publication.template.messages.map((m) => ({ ...m, type: "chatmessage" })),
            },
            once,
          );
    return { version: created.version, labels: created.labels, created: true };
  }

  async remove(name: string): Promise<void> {
    try {
      await this.client.api.prompts.delete(name, undefined, this.request);
    } catch (err: unknown) {
      if (langfuseStatus(err) !== 404) throw err;
    }
  }

  private async findByLabel(
    name: string,
    label: string,
  ): Promise<{ version: number; labels: string[] } | undefined> {
    try {
      const found = await this.client.api.prompts.get(name, { label }, this.request);
      return { version: found.version, labels: found.labels };
    } catch (err: unknown) {
      if (langfuseStatus(err) === 404) return undefined;
      throw err;
    }
  }
}
