// LLM access for experiments and judges: the ChatModelClient interface and its OpenAI-compatible
// implementation, price table, per-endpoint concurrency and typed errors.
export * from "./types.js";
export * from "./errors.js";
export * from "./pricing.js";
export * from "./concurrency.js";
export * from "./retry.js";
export * from "./openai-client.js";
