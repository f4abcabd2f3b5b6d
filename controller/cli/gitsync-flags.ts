// The git sync part of `llmops controller`: its flags, and starting the syncer beside the manager
// (syncing only while this replica leads) with the webhook route on the controller's HTTP port.
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError, Option } from "commander";
import type { Logger } from "pino";
import { GitSyncMetrics } from "../gitsync/metrics.js";
import {
  checkUniqueNames,
  GitSourceConfigError,
  parseGitSourceFlag,
  parseGitSyncConfig,
  type GitSourceConfig,
  type GitSyncConfig,
} from "../gitsync/source-config.js";
import type { HttpRoute } from "../runtime/http-server.js";
import type { Manager } from "../runtime/manager.js";
import { UsageError } from "./command-errors.js";

export interface GitSyncFlags {
  config?: string;
  gitSource: GitSourceConfig[];
  gitNamespace?: string;
  gitCacheDir?: string;
}

function parseSourceFlag(value: string, previous: GitSourceConfig[] = []): GitSourceConfig[] {
  try {
    return [...previous, parseGitSourceFlag(value)];
  } catch (err: unknown) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A fresh Option for the controller command (commander keeps parse state on Option objects). */
export function gitSyncOption(name: "config" | "source" | "namespace" | "cacheDir"): Option {
  switch (name) {
    case "config":
      return new Option(
        "--config <file>",
        "controller config file (YAML); its gitSync section lists the git sources to follow",
      ).env("LLMOPS_CONFIG");
    case "source":
      return new Option(
        "--git-source <spec>",
        "follow a git repository: name=main,url=https://…,branch=main,path=specs/,interval=1m," +
          "secret=<Secret>,webhookSecret=<Secret>,targetNamespace=<ns> (repeatable)",
      )
        .argParser(parseSourceFlag)
        .default([] as GitSourceConfig[], "none");
    case "namespace":
      return new Option(
        "--git-namespace <ns>",
        "namespace of git credential/webhook Secrets and the llmops-sync-<source> status " +
          "ConfigMaps (default: the controller's namespace)",
      );
    case "cacheDir":
      return new Option(
        "--git-cache-dir <dir>",
        "where git sources are cloned (default: $TMPDIR/llmops-gitsync)",
      );
  }
}

/** The sources from --config and --git-source together. */
export async function collectGitSources(flags: GitSyncFlags): Promise<GitSyncConfig> {
  let config: GitSyncConfig = { sources: [] };
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.config, "utf8");
    } catch (err: unknown) {
      throw new UsageError(`--config ${flags.config}: cannot read the file`, { cause: err });
    }
    try {
      config = parseGitSyncConfig(text, flags.config);
    } catch (err: unknown) {
      if (err instanceof GitSourceConfigError) throw new UsageError(err.message, { cause: err });
      throw err;
    }
  }
  const sources = [...config.sources, ...flags.gitSource];
  try {
    checkUniqueNames(sources);
  } catch (err: unknown) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  return { ...config, sources };
}

export interface RunningGitSync {
  routes: HttpRoute[];
  /** Stops the loops and waits for an in-flight sync to finish. */
  stop(): Promise<void>;
}

/** Starts git sync when sources are configured; a no-op otherwise. */
export async function startGitSync(options: {
  flags: GitSyncFlags;
  sources: GitSyncConfig;
  manager: Manager;
  logger: Logger;
  defaultNamespace: () => string;
}): Promise<RunningGitSync> {
  const { sources, manager, flags } = options;
  if (sources.sources.length === 0) return { routes: [], stop: () => Promise.resolve() };
  // Imported only when git sync is configured: the syncer brings the CRD validator (ajv, CEL) and
  // git, which a controller without sources never needs in memory.
  const [{ loadCrds }, { GitSyncer }, { webhookRoute }] = await Promise.all([
    import("../api/crds.js"),
    import("../gitsync/syncer.js"),
    import("../gitsync/webhook.js"),
  ]);
  const logger = options.logger.child({ component: "gitsync" });
  const metrics = new GitSyncMetrics(manager.metrics.registry);
  const syncer = new GitSyncer({
    client: manager.client,
    logger,
    events: manager.events,
    metrics,
    crds: await loadCrds(),
    namespace: flags.gitNamespace ?? sources.namespace ?? options.defaultNamespace(),
    cacheDir: flags.gitCacheDir ?? sources.cacheDir ?? join(tmpdir(), "llmops-gitsync"),
    sources: sources.sources,
  });
  const stop = new AbortController();
  const done = syncer.run(stop.signal, { isLeader: () => manager.isLeader() });
  logger.info({ sources: syncer.sourceNames() }, "git sync started");
  return {
    routes: [webhookRoute({ target: syncer, logger, metrics })],
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}
