// Langfuse credentials from the Secrets a spec section names (Prompt publishing, Experiment datasets
// and tracking all name them the same way): read from Kubernetes Secrets, never from the spec.
import { langfuseCloudUrl, type LangfuseConnection } from "../backends/langfuse/connection.js";
import type { KubeClient } from "./client.js";
import { readSecretValue } from "./secrets.js";

/** A spec section that points at Langfuse. */
export interface LangfuseKeyRefs {
  baseURL?: string;
  publicKeySecretRef: { name: string; key: string };
  secretKeySecretRef: { name: string; key: string };
}

/** The connection `spec` names (`field` is its path, for messages about a missing Secret). */
export async function langfuseKeys(
  client: KubeClient,
  namespace: string,
  spec: LangfuseKeyRefs,
  field: string,
): Promise<LangfuseConnection> {
  return {
    baseUrl: spec.baseURL ?? langfuseCloudUrl,
    publicKey: await readSecretValue(
      client,
      namespace,
      spec.publicKeySecretRef,
      `${field}.publicKeySecretRef`,
    ),
    secretKey: await readSecretValue(
      client,
      namespace,
      spec.secretKeySecretRef,
      `${field}.secretKeySecretRef`,
    ),
  };
}
