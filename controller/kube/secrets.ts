// Reading one value of a Secret: the only way credentials enter the controller.
import type { KubeClient } from "./client.js";
import { isNotFound } from "./errors.js";
import { SecretType, type KubeObject } from "./resources.js";

/** A Secret or key a spec refers to is missing; the message names the field and the fix. */
export class MissingSecretError extends Error {
  override name = "MissingSecretError";
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

/**
 * The decoded value of `ref` in `namespace`. `field` is the spec field that holds the reference,
 * for the error message. Never log the result.
 */
export async function readSecretValue(
  client: KubeClient,
  namespace: string,
  ref: SecretKeyRef,
  field: string,
): Promise<string> {
  let secret: KubeObject & { data?: Record<string, string> };
  try {
    secret = await client.get(SecretType, { namespace, name: ref.name });
  } catch (err: unknown) {
    if (isNotFound(err)) {
      throw new MissingSecretError(
        `${field}: Secret ${namespace}/${ref.name} does not exist; create it or fix the reference`,
        { cause: err },
      );
    }
    throw err;
  }
  const value = secret.data?.[ref.key];
  if (value === undefined) {
    throw new MissingSecretError(
      `${field}: Secret ${namespace}/${ref.name} has no key ${ref.key}; add it or fix the reference`,
    );
  }
  return Buffer.from(value, "base64").toString("utf8");
}
