// The @langfuse/client instance for a connection, built the same way by the prompt registry, the
// dataset reader and the call tracker. Imports the client: load this module only where Langfuse is
// used (the callers import it on first use).
import { LangfuseClient } from "@langfuse/client";
import { langfuseBaseUrl, type LangfuseConnection } from "./connection.js";

/** A client for `connection`'s host and keys; pass langfuseRequestOptions to each API call. */
export function langfuseClient(connection: LangfuseConnection): LangfuseClient {
  return new LangfuseClient({
    baseUrl: langfuseBaseUrl(connection),
    publicKey: connection.publicKey,
    secretKey: connection.secretKey,
  });
}
