// The one place a reconciler's status reaches the apiserver: conditions are derived from the
// outcome (kstatus), and the status subresource is written once, only when it changed.
import type { KubeClient } from "../kube/client.js";
import type { KubeObject, ResourceType, StoredObject } from "../kube/resources.js";
import {
  setCondition,
  statusChanged,
  summarize,
  type Condition,
  type ConditionInput,
  type ReconcileOutcome,
} from "./conditions.js";
import type { CacheReader } from "./registry.js";

/** The status fields every kind shares. */
export interface KstatusFields {
  observedGeneration?: number;
  conditions?: Condition[];
}

/**
 * Summarizes `outcome` (and the kind's own `conditions`, stamped with the object's generation)
 * into `next` and writes it by server-side apply to the status subresource
 * (the controller owns the whole status), unless it equals what the object already has.
 * Resolves to true when it wrote. With `cache`, the written object is recorded there, so a
 * reconcile that follows before the watch event compares against this status, not the old one.
 */
export async function writeStatus<S extends KstatusFields>(options: {
  client: KubeClient;
  type: ResourceType;
  object: StoredObject<KubeObject & { status?: S }>;
  outcome: ReconcileOutcome;
  next: S;
  conditions?: readonly Omit<ConditionInput, "observedGeneration">[];
  now: string;
  cache?: CacheReader;
}): Promise<boolean> {
  const { client, type, object, outcome, next, now } = options;
  const generation = object.metadata.generation ?? 0;
  let previous = object.status?.conditions;
  for (const condition of options.conditions ?? []) {
    previous = setCondition(previous, { ...condition, observedGeneration: generation }, now);
  }
  const summary = summarize({
    previous,
    previousObservedGeneration: object.status?.observedGeneration,
    generation,
    outcome,
    now,
  });
  const status: S = {
    ...next,
    conditions: summary.conditions,
    ...(summary.observedGeneration !== undefined
      ? { observedGeneration: summary.observedGeneration }
      : {}),
  };
  if (!statusChanged(object.status, status)) return false;
  const written = await client.applyStatus(
    type,
    {
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
      status,
    },
    { force: true },
  );
  options.cache?.recordWrite?.(type, written, object.metadata.resourceVersion);
  return true;
}
