// Where prompts are published outside the cluster (Langfuse prompt management today). A new
// provider is a new file implementing PromptRegistry.

/** One chat message of a resolved prompt; `{{var}}` placeholders are kept for the registry. */
export interface PublishedMessage {
  role: string;
  content: string;
}

export interface PromptPublication {
  /** Name of the prompt in the registry. */
  name: string;
  /** The content hash llmops computed; the idempotency key for the registry's version. */
  contentHash: string;
  /** llmops' own version number for this content (status.version). */
  llmopsVersion: number;
  template: { text: string } | { messages: PublishedMessage[] };
  /** Model, parameters and response format, stored as the registry's prompt config. */
  config: Record<string, unknown>;
  /** Labels that must point at this content, e.g. ["production"]. */
  labels: string[];
  /** Where the content came from, e.g. a git revision; becomes the commit message. */
  source?: string;
}

export interface PublishedVersion {
  /** The registry's version number for this content. */
  version: number;
  /** Labels now on that version. */
  labels: string[];
  /** True when this call created the version; false when it already existed. */
  created: boolean;
}

export interface PromptRegistry {
  /** Ensures exactly one registry version holds this content and moves the labels onto it. */
  publish(publication: PromptPublication): Promise<PublishedVersion>;
  /** Deletes every version of the prompt from the registry; a missing prompt is not an error. */
  remove(name: string): Promise<void>;
}
