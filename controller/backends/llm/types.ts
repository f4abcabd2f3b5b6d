// The interface the Experiment reconciler and the llmJudge evaluator use to call a model. A new
// provider is a new implementation of ChatModelClient, not an `if` in the callers.

/** One chat message. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A JSON schema the model must answer with (`response_format: json_schema`). */
export interface JsonSchemaFormat {
  /** Name sent to the provider ([a-zA-Z0-9_-], at most 64 characters). */
  name: string;
  schema: Record<string, unknown>;
  /** Ask the provider to enforce the schema exactly (OpenAI's strict mode); omitted when unset. */
  strict?: boolean;
}

/** One chat-completion request. */
export interface ChatRequest {
  model: string;
  messages: readonly ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: readonly string[];
  /** When set, the request asks for structured output with this schema. */
  jsonSchema?: JsonSchemaFormat;
}

/** Tokens the provider reports for one call. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** Why an attempt was retried and how long the client waited before the next one. */
export interface RetryRecord {
  /** `http 429`, `http 503`, `timeout`, `connection`. */
  reason: string;
  delayMs: number;
  /** True when the delay came from the server's Retry-After. */
  fromRetryAfter: boolean;
}

/** The result of a successful call. */
export interface ChatCompletion {
  /** Provider's completion id, when it sent one. */
  id: string | null;
  /** Model that answered, as the provider names it. */
  model: string;
  /** Text of the first choice; null when the model returned no text (e.g. only a refusal). */
  content: string | null;
  finishReason: string | null;
  /** Null when the provider did not report usage. */
  usage: TokenUsage | null;
  /** USD from the price table; null when the model or the usage is unknown (never guessed as 0). */
  costUSD: number | null;
  /** Wall time of the successful attempt, ms. */
  latencyMs: number;
  /** Attempts made, including the successful one. */
  attempts: number;
  retries: RetryRecord[];
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call (and any retry wait); the client rejects with LlmAbortedError. */
  signal?: AbortSignal;
}

/** A chat model endpoint. */
export interface ChatModelClient {
  /** Sends one chat completion, retrying transient failures, and returns text, usage and cost. */
  complete(request: ChatRequest, options?: CallOptions): Promise<ChatCompletion>;
  /** Lists the model ids the endpoint serves (a cheap readiness and credentials check). */
  listModels(options?: CallOptions): Promise<string[]>;
}
