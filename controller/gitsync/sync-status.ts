// Where a source's inventory and sync status live: a ConfigMap `llmops-sync-<source>` in the
// controller's namespace, written by server-side apply (field manager llmops-gitsync).
//
// Why a ConfigMap: `kubectl get configmap llmops-sync-main -o yaml` shows it to anyone who can read
// the namespace, it needs no CRD of its own, and Events can point at it. The flat keys (ready,
// reason, message, lastAppliedRevision…) are for humans and `-o jsonpath`; `status.json` and
// `inventory.json` are the complete records `llmops status` and the syncer read. The inventory is
// the list of objects this source applied: the only objects it may ever prune.
import type { KubeClient } from "../kube/client.js";
import { ConfigMapType, type ConfigMap, type StoredObject } from "../kube/resources.js";
import type { Condition } from "../runtime/conditions.js";
import {
  gitSyncFieldManager,
  managedByLabel,
  managedByValue,
  syncSourceLabel as statusSourceLabel,
  syncStatusLabel as statusLabel,
} from "../api/well-known.js";

export function statusConfigMapName(source: string): string {
  return `llmops-sync-${source}`;
}

/** One object the source applied. */
export interface InventoryEntry {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  path: string;
  /** Hash of the manifest as last applied (see DesiredObject.hash). */
  hash: string;
}

export interface SyncError {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface SourceSyncStatus {
  source: string;
  /** Without credentials. */
  url: string;
  branch: string;
  paths: string[];
  suspended: boolean;
  /** The revision that is live: every object in the inventory comes from it. */
  lastAppliedRevision?: string;
  lastAppliedTime?: string;
  /** The newest revision seen (applied or refused). */
  lastAttemptedRevision?: string;
  lastAttemptedTime?: string;
  /** Ready / Reconciling / Stalled, kstatus style. */
  conditions: Condition[];
  /** Findings (file:line:col) that kept lastAttemptedRevision from being applied. */
  errors: SyncError[];
  objects: number;
}

export interface StoredSyncState {
  status: SourceSyncStatus;
  inventory: InventoryEntry[];
  configMap: StoredObject;
}

/** Reads the ConfigMap of `source`, or undefined when it was never written. */
export async function readSyncState(
  client: KubeClient,
  namespace: string,
  source: string,
): Promise<StoredSyncState | undefined> {
  const cm = await client.tryGet<ConfigMap>(ConfigMapType, {
    namespace,
    name: statusConfigMapName(source),
  });
  return cm === undefined ? undefined : decodeSyncState(cm);
}

/** Decodes a status ConfigMap (as listed by `llmops status`). */
export function decodeSyncState(cm: StoredObject<ConfigMap>): StoredSyncState | undefined {
  try {
    const status = JSON.parse(cm.data?.["status.json"] ?? "") as SourceSyncStatus;
    const inventory = JSON.parse(cm.data?.["inventory.json"] ?? "[]") as InventoryEntry[];
    return { status, inventory, configMap: cm };
  } catch {
    return undefined;
  }
}

function readyCondition(status: SourceSyncStatus): Condition | undefined {
  return status.conditions.find((c) => c.type === "Ready");
}

/** The ConfigMap for `status` and `inventory` (pure). */
export function syncConfigMap(
  namespace: string,
  status: SourceSyncStatus,
  inventory: readonly InventoryEntry[],
): ConfigMap & { metadata: { name: string; namespace: string } } {
  const ready = readyCondition(status);
  const data: Record<string, string> = {
    source: status.source,
    url: status.url,
    branch: status.branch,
    ready: ready?.status ?? "Unknown",
    reason: ready?.reason ?? "",
    message: ready?.message ?? "",
    lastAppliedRevision: status.lastAppliedRevision ?? "",
    lastAppliedTime: status.lastAppliedTime ?? "",
    lastAttemptedRevision: status.lastAttemptedRevision ?? "",
    lastAttemptedTime: status.lastAttemptedTime ?? "",
    "status.json": JSON.stringify(status, null, 2),
    "inventory.json": JSON.stringify(inventory, null, 2),
  };
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: statusConfigMapName(status.source),
      namespace,
      labels: {
        [managedByLabel]: managedByValue,
        [statusLabel]: "true",
        [statusSourceLabel]: status.source,
      },
    },
    data,
  };
}

/** Writes status and inventory (server-side apply; force: the ConfigMap is ours alone). */
export async function writeSyncState(
  client: KubeClient,
  namespace: string,
  status: SourceSyncStatus,
  inventory: readonly InventoryEntry[],
): Promise<StoredObject> {
  return client.apply(ConfigMapType, syncConfigMap(namespace, status, inventory), {
    fieldManager: gitSyncFieldManager,
    force: true,
  });
}
