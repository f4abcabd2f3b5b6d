// Owner references on children, so the garbage collector deletes what a custom resource created
// when the resource goes, and so watches on children can find their owner again.
import type { KubeObject, OwnerReference, StoredObject } from "./resources.js";

/** The controller owner reference pointing at `owner` (blocks foreground deletion until GC). */
export function controllerReference(owner: StoredObject): OwnerReference {
  if (owner.apiVersion === undefined || owner.kind === undefined) {
    throw new TypeError(
      `owner ${owner.metadata.name} has no apiVersion/kind: read it through KubeClient, which fills them in`,
    );
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The owner reference marked `controller: true`, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

/** True when `obj` is controlled by `owner` (same uid). */
export function isControlledBy(obj: KubeObject, owner: StoredObject): boolean {
  return controllerOf(obj)?.uid === owner.metadata.uid;
}

/**
 * Returns a copy of `child` with `owner` as its controller. Throws when the owner could never be
 * honoured: cross-namespace ownership (the garbage collector would delete the child at once) or a
 * child already controlled by something else.
 */
export function withControllerReference<T extends KubeObject>(child: T, owner: StoredObject): T {
  const ownerNamespace = owner.metadata.namespace ?? "";
  const childNamespace = child.metadata?.namespace ?? "";
  if (ownerNamespace !== "" && ownerNamespace !== childNamespace) {
    throw new TypeError(
      `${owner.kind ?? "owner"} ${ownerNamespace}/${owner.metadata.name} cannot own an object in namespace "${childNamespace}": owner references must stay within one namespace`,
    );
  }
  const reference = controllerReference(owner);
  const existing = child.metadata?.ownerReferences ?? [];
  const otherController = existing.find(
    (ref) => ref.controller === true && ref.uid !== reference.uid,
  );
  if (otherController !== undefined) {
    throw new TypeError(
      `${child.metadata?.name ?? "object"} is already controlled by ${otherController.kind} ${otherController.name}`,
    );
  }
  return {
    ...child,
    metadata: {
      ...child.metadata,
      ownerReferences: [...existing.filter((ref) => ref.uid !== reference.uid), reference],
    },
  };
}
