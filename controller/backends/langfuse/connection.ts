// Where and as whom the controller talks to Langfuse: one shape for prompt publishing, Experiment
// datasets and tracking. Pure (no client import), so the kube Secret reader and the lazily loaded
// Langfuse modules can share it without pulling @langfuse/client into every controller.

/** A Langfuse host and the project's API key pair (read from Secrets, never from a spec). */
export interface LangfuseConnection {
  baseUrl: string;
  publicKey: string;
  secretKey: string;
  /** Per-request timeout in seconds; each use has its own default (see langfuseRequestOptions). */
  timeoutSeconds?: number;
}

/** Where a spec that names no baseURL points. */
export const langfuseCloudUrl = "https://cloud.langfuse.com";

/** Per-request timeout of dataset reads and tracking when the connection sets none. */
export const defaultLangfuseTimeoutSeconds = 30;

/** The base URL without trailing slashes: request paths and browser links are appended to it. */
export function langfuseBaseUrl(connection: Pick<LangfuseConnection, "baseUrl">): string {
  return connection.baseUrl.replace(/\/+$/, "");
}

/**
 * Options for each @langfuse/client API call: the client's own `timeout` option never reaches
 * them, so every request carries the timeout (`fallbackSeconds` when the connection has none).
 */
export function langfuseRequestOptions(
  connection: Pick<LangfuseConnection, "timeoutSeconds">,
  fallbackSeconds = defaultLangfuseTimeoutSeconds,
): { timeoutInSeconds: number } {
  return { timeoutInSeconds: connection.timeoutSeconds ?? fallbackSeconds };
}
