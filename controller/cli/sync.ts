// `llmops sync --dir specs/ [--watch]`: git sync for a working tree. The directory is applied as a
// whole with the same loader, validation, apply and prune as a git source (source name `local`,
// as `llmops diff` assumes, unless --source says otherwise; inventory and status in the
// llmops-sync-<source> ConfigMap), once or on every change (chokidar, debounced).
import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { Command } from "commander";
import { loadCrds, type CrdSet } from "../api/crds.js";
import { createObjectValidator, type ObjectValidator } from "../api/validation/object-validator.js";
import type { KubeClient } from "../kube/client.js";
import { errorMessage } from "../kube/errors.js";
import { isAborted } from "../runtime/clock.js";
import { conditionTime, removeCondition, setCondition } from "../runtime/conditions.js";
import { contentHash } from "../runtime/hash.js";
import {
  applyRevision,
  RevisionRejectedError,
  type ApplyOutcome,
} from "../gitsync/apply-revision.js";
import { loadRevision } from "../gitsync/revision.js";
import { cliSourceName } from "../gitsync/source-config.js";
import { readSyncState, writeSyncState, type SourceSyncStatus } from "../gitsync/sync-status.js";
import { describeOutcome } from "../gitsync/syncer.js";
import { cliKubeClient } from "./cluster-client.js";
import { CommandExit } from "./command-errors.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./program.js";
import { collectManifestFiles, formatProblemText } from "./validate.js";
import { gitSyncFieldManager } from "../api/well-known.js";

export interface DirectorySyncOptions {
  dir: string;
  cwd: string;
  source: string;
  namespace: string;
  /** Where the llmops-sync-<source> ConfigMap goes (default: `namespace`). */
  statusNamespace: string;
  prune: boolean;
}

export type DirectorySyncResult =
  | { state: "applied"; revision: string; outcome: ApplyOutcome }
  | { state: "invalid"; revision: string; messages: string[] }
  | { state: "failed"; message: string };

/** Applies a directory as a whole; reusable by the watch loop and tests. */
export class DirectorySync {
  private readonly validator: ObjectValidator;

  constructor(
    private readonly client: KubeClient,
    private readonly crds: CrdSet,
    private readonly options: DirectorySyncOptions,
  ) {
    this.validator = createObjectValidator(crds);
  }

  async syncOnce(): Promise<DirectorySyncResult> {
    const { options, client } = this;
    const files = await collectManifestFiles([options.dir], options.cwd);
    const inputs = await Promise.all(
      files.map(async (file) => {
        const rel = relative(options.cwd, file);
        return {
          file: rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file,
          text: await readFile(file, "utf8"),
        };
      }),
    );
    // A working tree has no commit: the revision names its content.
    const revision = `worktree-${contentHash(inputs).slice("sha256:".length, "sha256:".length + 12)}`;
    const loaded = loadRevision(inputs, this.validator, {
      source: options.source,
      revision,
      defaultNamespace: options.namespace,
    });
    const stored = await readSyncState(client, options.statusNamespace, options.source);
    const now = conditionTime(Date.now());
    const previous: SourceSyncStatus = stored?.status ?? {
      source: options.source,
      url: `file://${resolve(options.cwd, options.dir)}`,
      branch: "",
      paths: [options.dir],
      suspended: false,
      conditions: [],
      errors: [],
      objects: 0,
    };
    const refuse = async (
      reason: string,
      messages: string[],
      errors: SourceSyncStatus["errors"],
    ) => {
      const message = `${revision} not applied (${messages.length.toString()} errors): ${messages.slice(0, 5).join("; ")}`;
      let conditions = setCondition(
        previous.conditions,
        { type: "Ready", status: "False", reason, message },
        now,
      );
      conditions = setCondition(
        conditions,
        { type: "Stalled", status: "True", reason, message },
        now,
      );
      await writeSyncState(
        client,
        options.statusNamespace,
        {
          ...previous,
          lastAttemptedRevision: revision,
          lastAttemptedTime: now,
          conditions,
          errors,
        },
        stored?.inventory ?? [],
      );
      return { state: "invalid" as const, revision, messages };
    };
    if (loaded.errors.length > 0) {
      return refuse(
        "ValidationFailed",
        loaded.errors.map(formatProblemText),
        loaded.errors.map((p) => ({
          file: p.file,
          line: p.line,
          col: p.col,
          path: p.path,
          message: p.message,
        })),
      );
    }
    let outcome: ApplyOutcome;
    try {
      outcome = await applyRevision(client, {
        source: options.source,
        loaded,
        previous: stored?.inventory ?? [],
        crds: this.crds,
        prune: options.prune,
        dryRunFirst: true,
      });
    } catch (err: unknown) {
      if (err instanceof RevisionRejectedError) {
        const messages = err.problems.map((p) => `${p.file}:${String(p.line)}: ${p.message}`);
        return refuse(
          err.reason,
          messages,
          err.problems.map((p) => ({
            file: p.file,
            line: p.line,
            col: 1,
            path: "",
            message: p.message,
          })),
        );
      }
      return { state: "failed", message: errorMessage(err) };
    }
    let conditions = setCondition(
      previous.conditions,
      { type: "Ready", status: "True", reason: "Succeeded", message: `Applied ${revision}` },
      now,
    );
    conditions = removeCondition(removeCondition(conditions, "Stalled"), "Reconciling");
    await writeSyncState(
      client,
      options.statusNamespace,
      {
        ...previous,
        lastAppliedRevision: revision,
        lastAppliedTime: now,
        lastAttemptedRevision: revision,
        lastAttemptedTime: now,
        conditions,
        errors: [],
        objects: outcome.inventory.length,
      },
      outcome.inventory,
    );
    return { state: "applied", revision, outcome };
  }
}

export function describeDirectorySync(result: DirectorySyncResult): string {
  switch (result.state) {
    case "applied":
      return `applied ${result.revision}: ${describeOutcome(result.outcome)}`;
    case "invalid":
      return `${result.revision} not applied; the cluster keeps the last good state:\n${result.messages.map((m) => `  ${m}`).join("\n")}`;
    case "failed":
      return `sync failed: ${result.message}`;
  }
}

/**
 * Syncs on every change under the directory (debounced) until `signal` aborts; one sync at a
 * time, and a change during a sync causes one more.
 */
export async function watchDirectory(
  sync: DirectorySync,
  options: {
    dir: string;
    debounceMs: number;
    signal: AbortSignal;
    onResult: (r: DirectorySyncResult) => void;
  },
): Promise<void> {
  // Imported here: only `sync --watch` and `up` watch a directory.
  const { watch } = await import("chokidar");
  const watcher = watch(options.dir, {
    ignoreInitial: true,
    ignored: (p) => /(^|\/)\.[^/]+$/.test(p),
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  // Read through a call: the flag is set by watcher events while the sync awaits.
  const changedDuringSync = (): boolean => again;
  const run = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          options.onResult(await sync.syncOnce());
        } catch (err: unknown) {
          options.onResult({ state: "failed", message: errorMessage(err) });
        }
      } while (changedDuringSync() && !isAborted(options.signal));
      running = undefined;
    })();
  };
  watcher.on("all", () => {
    clearTimeout(timer);
    timer = setTimeout(run, options.debounceMs);
  });
  await new Promise<void>((resolveReady) =>
    watcher.once("ready", () => {
      resolveReady();
    }),
  );
  run();
  await new Promise<void>((resolveStop) => {
    if (options.signal.aborted) resolveStop();
    options.signal.addEventListener(
      "abort",
      () => {
        resolveStop();
      },
      { once: true },
    );
  });
  clearTimeout(timer);
  await watcher.close();
  await running;
}

/** Adds `sync` to the program. */
export function registerSyncCommand(program: Command, io: CliIo): void {
  program
    .command("sync")
    .description(
      "Apply a directory of manifests to the cluster as a whole, as git sync would (all-or-nothing " +
        "validation, prune of what was removed); with --watch, again on every change.",
    )
    .option("--dir <dir>", "the directory of manifests", "specs")
    .option("--watch", "keep running and sync on every change", false)
    .option("--debounce <ms>", "with --watch: wait this long after the last change", "300")
    .option(
      "--source <name>",
      "source name recorded on objects and in the status ConfigMap (llmops diff's default too)",
      cliSourceName,
    )
    .option("--namespace <ns>", "namespace for manifests that name none", "default")
    .option(
      "--status-namespace <ns>",
      "namespace of the llmops-sync-<source> ConfigMap (default: --namespace)",
    )
    .option("--no-prune", "keep objects removed from the directory")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .action(
      async (opts: {
        dir: string;
        watch: boolean;
        debounce: string;
        source: string;
        namespace: string;
        statusNamespace?: string;
        prune: boolean;
        kubeconfig?: string;
      }) => {
        const client = cliKubeClient({
          ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
          fieldManager: gitSyncFieldManager,
        });
        const sync = new DirectorySync(client, await loadCrds(), {
          dir: opts.dir,
          cwd: process.cwd(),
          source: opts.source,
          namespace: opts.namespace,
          statusNamespace: opts.statusNamespace ?? opts.namespace,
          prune: opts.prune,
        });
        try {
          if (!opts.watch) {
            const result = await sync.syncOnce();
            (result.state === "applied" ? io.stdout : io.stderr)(
              `${describeDirectorySync(result)}\n`,
            );
            if (result.state !== "applied") throw new CommandExit(ExitCode.Failure);
            return;
          }
          const stop = new AbortController();
          const onSignal = (): void => {
            stop.abort();
          };
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
          io.stderr(`llmops sync: watching ${opts.dir} (Ctrl-C to stop)\n`);
          await watchDirectory(sync, {
            dir: resolve(opts.dir),
            debounceMs: Number(opts.debounce),
            signal: stop.signal,
            onResult: (r) => {
              (r.state === "applied" ? io.stdout : io.stderr)(`${describeDirectorySync(r)}\n`);
            },
          });
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        } finally {
          await client.close();
        }
      },
    );
}
