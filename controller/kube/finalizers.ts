// Finalizers: added before the controller creates anything outside the object, removed once that
// is cleaned up. Writes are conditional on resourceVersion, because a merge patch replaces the
// whole list and would otherwise drop a finalizer someone else added meanwhile (→ ConflictError,
// and the queue retries with the fresh object).
import type { KubeClient, WriteOptions } from "./client.js";
import type { KubeObject, ResourceType, StoredObject } from "./resources.js";

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) === true;
}

/** True once deletion was requested: finalize, do not reconcile. */
export function isBeingDeleted(obj: KubeObject): boolean {
  const ts = obj.metadata?.deletionTimestamp;
  return ts !== undefined && ts !== "";
}

/** Adds `finalizer` unless present; returns the object as stored afterwards. */
export async function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: StoredObject<T>,
  finalizer: string,
  options: WriteOptions = {},
): Promise<StoredObject<T>> {
  if (hasFinalizer(obj, finalizer)) return obj;
  const finalizers = [...(obj.metadata.finalizers ?? []), finalizer];
  return writeFinalizers(client, type, obj, finalizers, options);
}

/** Removes `finalizer` if present; the apiserver deletes the object when the list empties. */
export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: StoredObject<T>,
  finalizer: string,
  options: WriteOptions = {},
): Promise<StoredObject<T>> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
  return writeFinalizers(client, type, obj, finalizers, options);
}

function writeFinalizers<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: StoredObject<T>,
  finalizers: string[],
  options: WriteOptions,
): Promise<StoredObject<T>> {
  return client.mergePatch<T>(
    type,
    { namespace: obj.metadata.namespace ?? "", name: obj.metadata.name },
    {
      metadata: {
        resourceVersion: obj.metadata.resourceVersion,
        // null deletes the field; an empty list would be stored as-is on some kinds.
        finalizers: finalizers.length === 0 ? null : finalizers,
      },
    },
    options,
  );
}
