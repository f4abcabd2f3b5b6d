// `llmops controller`: runs the reconcilers against a cluster, in-cluster or with --kubeconfig.
import { controllerFieldManager } from "../api/well-known.js";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import type { DestinationStream, LevelWithSilent } from "pino";
import { KubeClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { KubeTransport } from "../kube/transport.js";
import { createLogger, parseLogLevel } from "../log/logger.js";
import { startProbeServer } from "../runtime/http-server.js";
import { Manager } from "../runtime/manager.js";
import { startApiServer } from "../httpapi/server.js";
import { OnlineStore } from "../online/store.js";
import { defaultPriceTable } from "../backends/llm/index.js";
import { systemClock } from "../runtime/clock.js";
import { RuntimeMetrics } from "../runtime/metrics.js";
import type { ControllerSetup } from "../runtime/registry.js";
import { promptController } from "../reconcilers/prompt/reconciler.js";
import { experimentController } from "../reconcilers/experiment/reconciler.js";
import { modelDeploymentController } from "../reconcilers/model-deployment/reconciler.js";
import {
  servingBackends,
  servingBackendTypes,
  type ServingBackends,
  type ServingBackendType,
} from "../backends/serving/index.js";
import {
  trainingJobController,
  type TrainingJobControllerOptions,
} from "../reconcilers/training-job/reconciler.js";
import {
  defaultTrainerCommand,
  trainingBackendTypes,
  trainingBackends,
  type TrainingBackendSettings,
} from "../reconcilers/training-job/backends.js";
import type { BackendType } from "../reconcilers/training-job/layout.js";
import {
  ProgressStore,
  defaultProgressAudience,
  progressPath,
  startProgressReceiver,
} from "../backends/training/progress-receiver.js";
import { parseListenAddress } from "../runtime/http-server.js";
import type { Registry } from "prom-client";
import type { CliIo } from "./program.js";
import { versionProbe, waitForApiServer } from "./wait-for-apiserver.js";
import { gitSourcePromoter, type PromotionWriter } from "../promotion/source-promoter.js";
import {
  collectGitSources,
  gitSyncOption,
  startGitSync,
  type GitSyncFlags,
} from "./gitsync-flags.js";

/**
 * The kinds `llmops controller` reconciles, as its help says; a test checks that this is what
 * builtInControllers() registers.
 */
export const reconciledKinds = ["Prompt", "Experiment", "TrainingJob", "ModelDeployment"] as const;

/** Settings of the built-in controllers that come from flags. */
export interface BuiltInControllerSettings {
  priceTable?: { namespace: string; name: string };
  huggingFaceEndpoint?: string;
  /** Prometheus for canary analysis metrics that name no address. */
  prometheusURL?: string;
  /** Commits promotions for Experiments with policy auto (set when git sync is configured). */
  promoter?: PromotionWriter;
  /** Where online Experiments' outcomes are counted (shared with the HTTP API). */
  onlineStore?: OnlineStore;
  /** TrainingJob backends and their settings (default: kubernetes and huggingFaceJobs). */
  training?: Omit<TrainingJobControllerOptions, "backends"> & { backends: TrainingBackendSettings };
  /** Where the controllers' own metrics (llmops_training_*) are registered. */
  metricsRegistry?: Registry;
  /** What runs ModelDeployment revisions and splits their traffic (default: kubernetes). */
  serving?: ServingBackends;
}

/**
 * The controllers `llmops controller` runs. Each kind's package exports a ControllerSetup; add it
 * here (e.g. `promptController` from ../reconcilers/prompt/), and its kind to reconciledKinds.
 */
export function builtInControllers(settings: BuiltInControllerSettings = {}): ControllerSetup[] {
  return [
    promptController(),
    experimentController({
      ...(settings.priceTable ? { priceTableConfigMap: settings.priceTable } : {}),
      ...(settings.huggingFaceEndpoint
        ? { huggingFaceEndpoint: settings.huggingFaceEndpoint }
        : {}),
      ...(settings.promoter ? { promoter: settings.promoter } : {}),
      ...(settings.onlineStore ? { onlineStore: settings.onlineStore } : {}),
    }),
    trainingJobController({
      ...settings.training,
      ...(settings.huggingFaceEndpoint
        ? { huggingFaceEndpoint: settings.huggingFaceEndpoint }
        : {}),
      ...(settings.metricsRegistry ? { metricsRegistry: settings.metricsRegistry } : {}),
      backends: trainingBackends(
        settings.training?.backends ?? {
          enabled: ["kubernetes", "huggingFaceJobs"],
          localRunsDir: join(process.cwd(), ".llmops", "training"),
          ...(settings.huggingFaceEndpoint
            ? { huggingFaceEndpoint: settings.huggingFaceEndpoint }
            : {}),
        },
      ),
    }),
    modelDeploymentController({
      ...(settings.huggingFaceEndpoint
        ? { huggingFaceEndpoint: settings.huggingFaceEndpoint }
        : {}),
      ...(settings.prometheusURL
        ? { analysis: { defaultPrometheusAddress: settings.prometheusURL } }
        : {}),
      ...(settings.serving ? { backends: settings.serving } : {}),
    }),
  ];
}

function parseNamespacedName(value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split("/");
  if (!namespace || !name || rest.length > 0) {
    throw new InvalidArgumentError(`expected <namespace>/<name>, got "${value}"`);
  }
  return { namespace, name };
}

export interface ControllerCommandOptions {
  io: CliIo;
  /** Defaults to builtInControllers(); tests pass their own. */
  controllers?: () => ControllerSetup[];
  /** Where SIGTERM/SIGINT come from; the process by default. */
  signals?: Pick<NodeJS.Process, "on" | "off">;
  /** Where log lines go (stdout by default); `llmops up` runs the controller with a log file. */
  logDestination?: DestinationStream;
}

interface ParsedFlags extends GitSyncFlags {
  kubeconfig?: string;
  namespaces: string[];
  concurrency: Record<string, number>;
  metricsAddr: string;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  logLevel: LevelWithSilent;
  shutdownTimeout: number;
  priceTable?: { namespace: string; name: string };
  hfEndpoint?: string;
  prometheusUrl?: string;
  apiAddr: string;
  apiRateLimit: number;
  apiRateBurst: number;
  trainingBackends: BackendType[];
  trainerImage?: string;
  trainerCommand?: string;
  localRoot?: string;
  servingBackend: ServingBackendType;
  servingCommand?: string;
  gpuTable?: { namespace: string; name: string };
  mlflowTrackingUri?: string;
  trainingProgressAddr: string;
  trainingProgressUrl?: string;
  trainingProgressTlsCert?: string;
  trainingProgressTlsKey?: string;
}

export function controllerCommand(options: ControllerCommandOptions): Command {
  return (
    new Command("controller")
      .description(
        `Reconcile ${reconciledKinds.slice(0, -1).join(", ")} and ${reconciledKinds.at(-1) ?? ""} ` +
          "resources in a cluster (in-cluster service account, or --kubeconfig).",
      )
      .option(
        "--kubeconfig <path>",
        "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
      )
      .addOption(
        new Option("--namespaces <list>", "comma-separated namespaces to watch")
          .env("LLMOPS_NAMESPACES")
          .argParser(parseNamespaces)
          .default([] as string[], "all"),
      )
      .addOption(
        new Option(
          "--concurrency <kind=n>",
          "workers per kind, e.g. Prompt=4 (repeatable, or comma-separated)",
        )
          .argParser(parseConcurrency)
          .default({}),
      )
      .option(
        "--metrics-addr <addr>",
        "address for /metrics, /healthz, /readyz (0 disables)",
        ":8080",
      )
      .option("--leader-elect", "elect a leader through a Lease; only the leader reconciles", true)
      .option("--no-leader-elect", "run without leader election (single replica only)")
      .option(
        "--leader-election-namespace <ns>",
        "namespace of the leader Lease (default: $POD_NAMESPACE, the service account's, or default)",
      )
      .option("--leader-election-id <name>", "name of the leader Lease", "llmops-controller")
      .addOption(
        new Option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent")
          .env("LLMOPS_LOG_LEVEL")
          .argParser(parseLevelFlag)
          .default("info"),
      )
      .addOption(
        new Option(
          "--shutdown-timeout <seconds>",
          "how long in-flight reconciles may finish on SIGTERM",
        )
          .argParser(parsePositiveNumber)
          .default(30),
      )
      .addOption(
        new Option(
          "--price-table <namespace/name>",
          "ConfigMap whose prices.yaml overrides model prices (USD per million tokens), read on every reconcile",
        )
          .env("LLMOPS_PRICE_TABLE")
          .argParser(parseNamespacedName),
      )
      .addOption(
        new Option(
          "--hf-endpoint <url>",
          "Hugging Face Hub URL for datasets that set no endpoint, and for models",
        ).env("HF_ENDPOINT"),
      )
      .addOption(
        new Option(
          "--prometheus-url <url>",
          "Prometheus for ModelDeployment canary analysis metrics that set no address",
        ).env("LLMOPS_PROMETHEUS_URL"),
      )
      .addOption(
        new Option(
          "--training-backends <list>",
          "TrainingJob backends to enable: kubernetes, huggingFaceJobs, local (a child process on this machine)",
        )
          .env("LLMOPS_TRAINING_BACKENDS")
          .argParser(parseTrainingBackends)
          .default(
            ["kubernetes", "huggingFaceJobs"] as BackendType[],
            "kubernetes,huggingFaceJobs",
          ),
      )
      .addOption(
        new Option(
          "--trainer-image <image>",
          "trainer image for TrainingJobs that set no spec.backend.*.image",
        ).env("LLMOPS_TRAINER_IMAGE"),
      )
      .addOption(
        new Option(
          "--trainer-command <path>",
          "the local backend's trainer (default: llmops-train in $LLMOPS_TRAINER_VENV or ~/.cache/llmops/trainer-venv)",
        ).env("LLMOPS_TRAINER_COMMAND"),
      )
      .option(
        "--local-root <dir>",
        "relative paths of local TrainingJobs and ModelDeployments resolve against this directory, and their run state lives in its .llmops/ (default: the working directory)",
      )
      .addOption(
        new Option(
          "--serving-backend <type>",
          "what runs ModelDeployment revisions: kubernetes (a Deployment + Service each, a Gateway API HTTPRoute) or local (an llmops-serve process each, a local proxy per ModelDeployment)",
        )
          .choices(servingBackendTypes)
          .env("LLMOPS_SERVING_BACKEND")
          .default("kubernetes"),
      )
      .addOption(
        new Option(
          "--serving-command <path>",
          "the local serving backend's server (default: llmops-serve in $LLMOPS_TRAINER_VENV or ~/.cache/llmops/trainer-venv)",
        ).env("LLMOPS_SERVING_COMMAND"),
      )
      .addOption(
        new Option(
          "--gpu-table <namespace/name>",
          "ConfigMap whose gpus.yaml overrides GPU types, Hugging Face Jobs flavors and prices, read on every reconcile",
        )
          .env("LLMOPS_GPU_TABLE")
          .argParser(parseNamespacedName),
      )
      .addOption(
        new Option(
          "--mlflow-tracking-uri <url>",
          "MLflow server TrainingJobs log parameters, loss curves and model versions to",
        ).env("MLFLOW_TRACKING_URI"),
      )
      .option(
        "--training-progress-addr <addr>",
        "HTTPS address trainer pods report progress to, authenticated with a pod-bound ServiceAccount token (0 disables)",
        "0",
      )
      .option(
        "--training-progress-url <url>",
        "the URL pods use to reach --training-progress-addr (default: https://127.0.0.1:<port>" +
          progressPath +
          ")",
      )
      .option(
        "--training-progress-tls-cert <file>",
        "serving certificate (PEM) of the progress endpoint (default: a CA and certificate minted at start)",
      )
      .option("--training-progress-tls-key <file>", "private key (PEM) of that certificate")
      .option(
        "--api-addr <addr>",
        "address of the HTTP API for applications: prompts, render/test, experiments, A/B assignments and outcomes; /openapi.json (0 disables)",
        ":8081",
      )
      .addOption(
        new Option("--api-rate-limit <n>", "HTTP API requests per second per client")
          .argParser(parsePositiveNumber)
          .default(50),
      )
      .addOption(
        new Option(
          "--api-rate-burst <n>",
          "HTTP API requests a client may send at once above the rate",
        )
          .argParser(parsePositiveNumber)
          .default(100),
      )
      .addOption(gitSyncOption("config"))
      .addOption(gitSyncOption("source"))
      .addOption(gitSyncOption("namespace"))
      .addOption(gitSyncOption("cacheDir"))
      // addCommand does not pass these on from the root program: without them a bad flag would
      // call process.exit itself instead of surfacing as a usage error from runCli.
      .configureOutput({ writeOut: options.io.stdout, writeErr: options.io.stderr })
      .exitOverride()
      .action(async (flags: ParsedFlags) => {
        await runController(flags, options);
      })
  );
}

async function runController(flags: ParsedFlags, options: ControllerCommandOptions): Promise<void> {
  const logger = createLogger({
    level: flags.logLevel,
    base: { component: "controller" },
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const kubeConfig = loadKubeConfig(
    flags.kubeconfig !== undefined ? { path: flags.kubeconfig } : {},
  );
  const transport = new KubeTransport({ kubeConfig, userAgent: "llmops-controller" });
  const client = new KubeClient({ transport, fieldManager: controllerFieldManager });
  const gitSources = await collectGitSources(flags);
  const identity = `${hostname()}_${randomBytes(4).toString("hex")}`;
  const metrics = new RuntimeMetrics();
  const progressStore = new ProgressStore();
  const progress = await startTrainingProgress(flags, client, logger, progressStore);
  const localRoot = flags.localRoot ?? process.cwd();
  // Local serving processes outlive the controller (warm revisions keep serving across a
  // restart); only the proxies, which live in this process, are closed at shutdown.
  const serving = servingBackends({
    type: flags.servingBackend,
    localRoot,
    ...(flags.servingCommand ? { servingCommand: [flags.servingCommand] } : {}),
    metricsRegistry: metrics.registry,
    logger,
  });
  const onlineStore = new OnlineStore({
    client,
    logger: logger.child({ component: "online-store" }),
    clock: systemClock(),
  });
  const manager = new Manager({
    client,
    logger,
    metrics,
    namespaces: flags.namespaces,
    concurrency: flags.concurrency,
    shutdownTimeoutMs: flags.shutdownTimeout * 1000,
    eventSource: { controller: "llmops.dev/controller", instance: identity },
    leaderElection: flags.leaderElect
      ? {
          namespace: flags.leaderElectionNamespace ?? defaultLeaseNamespace(),
          name: flags.leaderElectionId,
          identity,
        }
      : undefined,
  });
  manager.add(
    ...(options.controllers
      ? options.controllers()
      : builtInControllers({
          ...(gitSources.sources.length > 0
            ? {
                promoter: gitSourcePromoter({
                  client,
                  sources: gitSources.sources,
                  secretNamespace:
                    flags.gitNamespace ?? gitSources.namespace ?? defaultLeaseNamespace(),
                  cacheDir: join(
                    flags.gitCacheDir ?? gitSources.cacheDir ?? join(tmpdir(), "llmops-gitsync"),
                    "promotions",
                  ),
                }),
              }
            : {}),
          ...(flags.priceTable ? { priceTable: flags.priceTable } : {}),
          ...(flags.hfEndpoint ? { huggingFaceEndpoint: flags.hfEndpoint } : {}),
          ...(flags.prometheusUrl ? { prometheusURL: flags.prometheusUrl } : {}),
          onlineStore,
          metricsRegistry: metrics.registry,
          serving,
          training: {
            localRoot,
            ...(flags.gpuTable ? { gpuTableRef: flags.gpuTable } : {}),
            ...(flags.mlflowTrackingUri ? { mlflowTrackingUri: flags.mlflowTrackingUri } : {}),
            backends: {
              enabled: flags.trainingBackends,
              ...(flags.trainerImage ? { trainerImage: flags.trainerImage } : {}),
              trainerCommand: flags.trainerCommand
                ? [flags.trainerCommand]
                : defaultTrainerCommand(),
              localRunsDir: join(localRoot, ".llmops", "training"),
              ...(flags.hfEndpoint ? { huggingFaceEndpoint: flags.hfEndpoint } : {}),
              ...(progress ? { progress: progress.pods } : {}),
            },
          },
        })),
  );
  const unknown = Object.keys(flags.concurrency).filter(
    (k) => !manager.controllerNames().includes(k),
  );
  if (unknown.length > 0) {
    logger.warn(
      { unknown, known: manager.controllerNames() },
      "--concurrency names kinds that are not running",
    );
  }

  const stop = new AbortController();
  const signals = options.signals ?? process;
  const onSignal = (signal: string): void => {
    if (stop.signal.aborted) {
      logger.warn({ signal }, "second signal; exiting without waiting");
      process.exit(1);
    }
    logger.info({ signal }, "shutting down: finishing in-flight reconciles");
    stop.abort();
  };
  signals.on("SIGTERM", onSignal);
  signals.on("SIGINT", onSignal);
  let waiting = true;
  const gitSync = await startGitSync({
    flags,
    sources: gitSources,
    manager,
    logger,
    defaultNamespace: defaultLeaseNamespace,
  });
  const probes = await startProbeServer({
    address: flags.metricsAddr,
    metrics,
    health: {
      // Alive while it waits for the apiserver: restarting the pod would not bring that closer.
      isHealthy: () => waiting || manager.isHealthy(),
      isReady: () => manager.isReady(),
    },
    logger,
    routes: gitSync.routes,
  });
  // Every replica serves the API, leader or not: it reads the manager's shared caches, which run
  // on every replica (one copy of each Prompt and Experiment, not one for the API and one for
  // the controllers).
  const api = await startApiServer({
    informers: (type) => manager.sharedInformers(type),
    address: flags.apiAddr,
    client,
    logger: logger.child({ component: "api" }),
    clock: systemClock(),
    namespaces: flags.namespaces,
    store: onlineStore,
    rateLimit: { ratePerSecond: flags.apiRateLimit, burst: flags.apiRateBurst },
    prices: defaultPriceTable(),
  });
  logger.info(
    {
      namespaces: flags.namespaces.length > 0 ? flags.namespaces : "all",
      controllers: manager.controllerNames(),
      leaderElection: flags.leaderElect,
      identity,
    },
    "starting controller",
  );
  // The runtime's timers (retry backoff, watchdogs) are unref'd so that they never hold a finished
  // process open; while the controller runs, running it is what the process is for. Without this,
  // a controller without the HTTP server whose apiserver is unreachable has nothing keeping the
  // event loop alive between retries, and the process ends mid-way (exit 13 under top-level await).
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  try {
    const reached = await waitForApiServer({
      probe: versionProbe(transport),
      server: transport.server,
      logger,
      clock: systemClock(),
      stop: stop.signal,
    });
    waiting = false;
    if (!reached) {
      logger.info("controller stopped");
      return;
    }
    const exit = await manager.run(stop.signal);
    if (exit === "leadershipLost") {
      throw new Error("leadership lost; exiting so that a fresh process can campaign again");
    }
    logger.info("controller stopped");
  } finally {
    waiting = false;
    clearInterval(keepAlive);
    signals.off("SIGTERM", onSignal);
    signals.off("SIGINT", onSignal);
    await gitSync.stop();
    await probes?.close();
    await api?.close();
    await onlineStore.close();
    await progress?.receiver.close();
    await serving.close();
    await client.close();
    logger.flush();
  }
}

/** The progress endpoint trainer pods post to, when --training-progress-addr is set. */
async function startTrainingProgress(
  flags: ParsedFlags,
  client: KubeClient,
  logger: ReturnType<typeof createLogger>,
  store: ProgressStore,
) {
  const listen = parseListenAddress(flags.trainingProgressAddr);
  if (listen === undefined) return undefined;
  if (
    (flags.trainingProgressTlsCert === undefined) !==
    (flags.trainingProgressTlsKey === undefined)
  ) {
    throw new InvalidArgumentError(
      "--training-progress-tls-cert and --training-progress-tls-key go together: set both, or neither to mint a certificate",
    );
  }
  const url = flags.trainingProgressUrl;
  const host = url ? new URL(url).hostname : "127.0.0.1";
  const receiver = await startProgressReceiver({
    client,
    logger,
    listen,
    audience: defaultProgressAudience,
    hosts: [...new Set([host, "127.0.0.1", "localhost"])],
    ...(flags.trainingProgressTlsCert && flags.trainingProgressTlsKey
      ? {
          tls: {
            cert: readFileSync(flags.trainingProgressTlsCert, "utf8"),
            key: readFileSync(flags.trainingProgressTlsKey, "utf8"),
          },
        }
      : {}),
    onEvent: (event) => {
      store.record(event);
    },
  });
  return {
    receiver,
    pods: {
      store,
      url: url ?? `${receiver.url}${progressPath}`,
      audience: defaultProgressAudience,
      caPem: receiver.caPem,
    },
  };
}

function parseTrainingBackends(value: string): BackendType[] {
  const names = value
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const name of names) {
    if (!(trainingBackendTypes as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(
        `unknown training backend "${name}": use ${trainingBackendTypes.join(", ")}`,
      );
    }
  }
  return [...new Set(names)] as BackendType[];
}

/** Where the Lease lives when --leader-election-namespace is not given. */
function defaultLeaseNamespace(): string {
  const fromEnv = process.env.POD_NAMESPACE;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  try {
    return readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim();
  } catch {
    return "default";
  }
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function parseNamespaces(value: string): string[] {
  const names = value
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const name of names) {
    if (!dnsLabel.test(name) || name.length > 63) {
      throw new InvalidArgumentError(`"${name}" is not a valid namespace name`);
    }
  }
  return [...new Set(names)];
}

export function parseConcurrency(
  value: string,
  previous: Record<string, number> = {},
): Record<string, number> {
  const result = { ...previous };
  for (const part of value.split(",")) {
    const match = /^\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(\d+)\s*$/.exec(part);
    const count = Number(match?.[2]);
    if (match?.[1] === undefined || !Number.isInteger(count) || count < 1) {
      throw new InvalidArgumentError(`expected kind=n with n ≥ 1, e.g. Prompt=4 (got "${part}")`);
    }
    result[match[1]] = count;
  }
  return result;
}

function parseLevelFlag(value: string): LevelWithSilent {
  try {
    return parseLogLevel(value);
  } catch (err: unknown) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number (got "${value}")`);
  return n;
}
