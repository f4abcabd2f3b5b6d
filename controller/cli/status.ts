// `llmops status`: the llmops objects in the cluster (Ready, the kind's key figure, the git
// revision they came from, age) and the sync state of every git source.
import { Command, Option } from "commander";
import { llmopsKinds } from "../api/generated/index.js";
import type { KubeClient } from "../kube/client.js";
import { setTimeout as sleep } from "node:timers/promises";
import { NotFoundError, TransientError } from "../kube/errors.js";
import {
  ConfigMapType,
  type ConfigMap,
  type KubeObject,
  type StoredObject,
} from "../kube/resources.js";
import { revisionAnnotation, sourceAnnotation, syncStatusLabel } from "../api/well-known.js";
import { decodeSyncState } from "../gitsync/sync-status.js";
import { cliKubeClient } from "./cluster-client.js";
import type { CliIo } from "./program.js";

interface StatusObject extends KubeObject {
  status?: {
    conditions?: { type: string; status: string; reason?: string }[];
    version?: number;
    phase?: string;
    canaryWeight?: number;
  };
}

export interface ObjectRow {
  kind: string;
  namespace: string;
  name: string;
  ready: string;
  /** Prompt: version; Experiment / TrainingJob: phase; ModelDeployment: phase and weight. */
  figure: string;
  source: string;
  revision: string;
  created: string;
}

export interface SourceRow {
  source: string;
  namespace: string;
  ready: string;
  reason: string;
  message: string;
  url: string;
  branch: string;
  lastAppliedRevision: string;
  lastAttemptedRevision: string;
  lastAppliedTime: string;
  objects: number;
  suspended: boolean;
}

export interface StatusReport {
  objects: ObjectRow[];
  sources: SourceRow[];
}

/** The kind's key figure, as its printer column shows it. Pure. */
export function keyFigure(kind: string, obj: StatusObject): string {
  const s = obj.status;
  switch (kind) {
    case "Prompt":
      return s?.version === undefined ? "" : `v${String(s.version)}`;
    case "ModelDeployment":
      return [s?.phase, s?.canaryWeight === undefined ? undefined : `${String(s.canaryWeight)}%`]
        .filter((x) => x !== undefined)
        .join(" ");
    default:
      return s?.phase ?? "";
  }
}

/** kubectl-style age: 45s, 12m, 5h, 3d. Pure. */
export function formatAge(created: string, now: number): string {
  const ms = now - Date.parse(created);
  if (!Number.isFinite(ms)) return "";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${String(s)}s`;
  if (s < 7200) return `${String(Math.floor(s / 60))}m`;
  if (s < 172_800) return `${String(Math.floor(s / 3600))}h`;
  return `${String(Math.floor(s / 86_400))}d`;
}

/** Retries what the apiserver says may work soon (429 while a new CRD's storage starts, 5xx). */
async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err: unknown) {
      if (!(err instanceof TransientError) || attempt >= 5) throw err;
      await sleep(err.retryAfterMs ?? 500 * attempt);
    }
  }
}

export async function collectStatus(
  client: KubeClient,
  options: { namespace?: string; source?: string },
): Promise<StatusReport> {
  const objects: ObjectRow[] = [];
  for (const type of Object.values(llmopsKinds)) {
    let items: StoredObject<StatusObject>[];
    try {
      items = (
        await withRetries(() =>
          client.list<StatusObject>(type, {
            ...(options.namespace !== undefined && { namespace: options.namespace }),
          }),
        )
      ).items;
    } catch (err: unknown) {
      if (err instanceof NotFoundError) continue; // CRD not installed
      throw err;
    }
    for (const obj of items) {
      const source = obj.metadata.annotations?.[sourceAnnotation] ?? "";
      if (options.source !== undefined && source !== options.source) continue;
      objects.push({
        kind: type.kind,
        namespace: obj.metadata.namespace ?? "",
        name: obj.metadata.name,
        ready: obj.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown",
        figure: keyFigure(type.kind, obj),
        source,
        revision: obj.metadata.annotations?.[revisionAnnotation] ?? "",
        created: obj.metadata.creationTimestamp ?? "",
      });
    }
  }
  const configMaps = await client.list<ConfigMap>(ConfigMapType, {
    labelSelector: `${syncStatusLabel}=true`,
    ...(options.namespace !== undefined && { namespace: options.namespace }),
  });
  const sources: SourceRow[] = [];
  for (const cm of configMaps.items) {
    const state = decodeSyncState(cm);
    if (state === undefined) continue;
    const s = state.status;
    if (options.source !== undefined && s.source !== options.source) continue;
    const ready = s.conditions.find((c) => c.type === "Ready");
    sources.push({
      source: s.source,
      namespace: cm.metadata.namespace ?? "",
      ready: s.suspended ? "Suspended" : (ready?.status ?? "Unknown"),
      reason: ready?.reason ?? "",
      message: ready?.message ?? "",
      url: s.url,
      branch: s.branch,
      lastAppliedRevision: s.lastAppliedRevision ?? "",
      lastAttemptedRevision: s.lastAttemptedRevision ?? "",
      lastAppliedTime: s.lastAppliedTime ?? "",
      objects: s.objects,
      suspended: s.suspended,
    });
  }
  return { objects, sources };
}

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function printStatus(report: StatusReport, io: CliIo, now: number): void {
  if (report.sources.length > 0) {
    io.stdout(
      formatTable(
        ["SOURCE", "READY", "APPLIED", "ATTEMPTED", "OBJECTS", "AGE", "MESSAGE"],
        report.sources.map((s) => [
          s.source,
          s.ready,
          s.lastAppliedRevision.slice(0, 7),
          s.lastAttemptedRevision.slice(0, 7),
          String(s.objects),
          s.lastAppliedTime === "" ? "" : formatAge(s.lastAppliedTime, now),
          s.message.length > 100 ? `${s.message.slice(0, 97)}...` : s.message,
        ]),
      ),
    );
    io.stdout("\n");
  } else {
    io.stdout("No git sources (no llmops-sync-<source> ConfigMaps found).\n\n");
  }
  if (report.objects.length === 0) {
    io.stdout("No llmops objects found.\n");
    return;
  }
  io.stdout(
    formatTable(
      ["KIND", "NAMESPACE", "NAME", "READY", "STATUS", "SOURCE", "REVISION", "AGE"],
      report.objects.map((o) => [
        o.kind,
        o.namespace,
        o.name,
        o.ready,
        o.figure,
        o.source,
        o.revision.slice(0, 7),
        formatAge(o.created, now),
      ]),
    ),
  );
}

/** Adds `status` to the program. */
export function registerStatusCommand(program: Command, io: CliIo): void {
  program
    .command("status")
    .description(
      "Show llmops objects (Ready, version or phase, git revision, age) and the sync state of " +
        "every git source.",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("-n, --namespace <ns>", "only this namespace (default: all)")
    .option("--source <name>", "only objects and state of this git source")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "json"])
        .default("text"),
    )
    .action(
      async (opts: {
        kubeconfig?: string;
        namespace?: string;
        source?: string;
        output: string;
      }) => {
        const client = cliKubeClient({
          ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
          fieldManager: "llmops-cli",
        });
        try {
          const report = await collectStatus(client, {
            ...(opts.namespace !== undefined && { namespace: opts.namespace }),
            ...(opts.source !== undefined && { source: opts.source }),
          });
          if (opts.output === "json") io.stdout(`${JSON.stringify(report, null, 2)}\n`);
          else printStatus(report, io, Date.now());
        } finally {
          await client.close();
        }
      },
    );
}
