// Reads git credentials and webhook secrets from Kubernetes Secrets (a credentials Secret is read
// whole: which keys it has says which kind of credentials it holds). Values stay in memory; no
// function here logs them or returns them inside an error message.
import type { KubeClient } from "../kube/client.js";
import { NotFoundError, TerminalError } from "../kube/errors.js";
import { SecretType, type KubeObject } from "../kube/resources.js";
import { readSecretValue } from "../kube/secrets.js";
import type { GitCredentials } from "./git-repository.js";
import type { SecretKeyRef } from "./source-config.js";

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

async function secretData(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  let secret: SecretObject;
  try {
    secret = await client.get<SecretObject>(SecretType, { namespace, name });
  } catch (err: unknown) {
    if (err instanceof NotFoundError) {
      throw new TerminalError(`Secret ${namespace}/${name} does not exist; create it`, {
        cause: err,
        reason: "SecretNotFound",
      });
    }
    throw err;
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    out[key] = Buffer.from(value, "base64").toString("utf8");
  }
  return out;
}

/** Parses a credentials Secret's keys (Flux's layout) into GitCredentials. Pure. */
export function credentialsFromSecretData(
  data: Readonly<Record<string, string>>,
  secretName: string,
): GitCredentials {
  if (data.identity !== undefined) {
    return data.known_hosts !== undefined
      ? { kind: "ssh", identity: data.identity, knownHosts: data.known_hosts }
      : { kind: "ssh", identity: data.identity };
  }
  if (data.bearerToken !== undefined) return { kind: "bearer", token: data.bearerToken };
  if (data.password !== undefined) {
    return { kind: "basic", username: data.username ?? "git", password: data.password };
  }
  throw new TerminalError(
    `Secret ${secretName} has none of password (with username), bearerToken or identity; ` +
      "add the credentials under one of those keys",
    { reason: "InvalidCredentials" },
  );
}

export async function readGitCredentials(
  client: KubeClient,
  namespace: string,
  ref: SecretKeyRef,
): Promise<GitCredentials> {
  return credentialsFromSecretData(
    await secretData(client, namespace, ref.name),
    `${namespace}/${ref.name}`,
  );
}

/** The webhook HMAC secret (key `secret` unless the ref names one), via kube/secrets.ts. */
export async function readWebhookSecret(
  client: KubeClient,
  namespace: string,
  ref: SecretKeyRef,
): Promise<Buffer> {
  const value = await readSecretValue(
    client,
    namespace,
    { name: ref.name, key: ref.key ?? "secret" },
    "webhook.secretRef",
  );
  return Buffer.from(value, "utf8");
}
