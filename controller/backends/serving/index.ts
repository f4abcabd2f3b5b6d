// The serving and traffic backends a ModelDeployment controller runs with, as one choice:
// kubernetes (a Deployment + Service per revision, a Gateway API HTTPRoute) or local (an
// llmops-serve process per revision, an in-process proxy per ModelDeployment). `llmops controller
// --serving-backend` and `llmops up` build them here.
import { homedir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createGatewayTraffic } from "../traffic/gateway.js";
import { createLocalProxy, type LocalProxyBackend } from "../traffic/local-proxy.js";
import type { TrafficBackend } from "../traffic/backend.js";
import type { ServingBackend } from "./backend.js";
import { createKubernetesServing } from "./kubernetes.js";
import { createLocalServing, type LocalServingBackend } from "./local.js";

export type { RevisionState, ServingBackend } from "./backend.js";
export type { TrafficBackend, TrafficShare } from "../traffic/backend.js";

export const servingBackendTypes = ["kubernetes", "local"] as const;
export type ServingBackendType = (typeof servingBackendTypes)[number];

export interface ServingBackendsOptions {
  type: ServingBackendType;
  /** Local: relative model paths resolve here; run state lives in <localRoot>/.llmops/. */
  localRoot?: string;
  /** Local: the serving runtime (default: defaultServingCommand()). */
  servingCommand?: readonly string[];
  /** Local: where servers and proxies listen; 127.0.0.1 by default. */
  host?: string;
  /** Local: also register the proxies' llmops_proxy_* metrics here. */
  metricsRegistry?: Registry;
  logger?: Logger;
}

export interface ServingBackends {
  readonly type: ServingBackendType;
  readonly serving: ServingBackend;
  readonly traffic: TrafficBackend;
  /** Local: the proxies (their URLs, metrics); undefined for kubernetes. */
  readonly proxy?: LocalProxyBackend;
  /** Local: the serving processes; undefined for kubernetes. */
  readonly local?: LocalServingBackend;
  /**
   * Stops what this process runs outside the cluster: the proxies, and with `stopServers` the
   * local serving processes too (their directories stay, so the next start brings them back).
   */
  close(options?: { stopServers?: boolean }): Promise<void>;
}

/** llmops-serve in the venv `trainer/setup-venv.sh` creates ($LLMOPS_TRAINER_VENV or ~/.cache/llmops/trainer-venv). */
export function defaultServingCommand(): string[] {
  const venv =
    process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");
  return [join(venv, "bin", "llmops-serve")];
}

export function servingBackends(options: ServingBackendsOptions): ServingBackends {
  if (options.type === "kubernetes") {
    return {
      type: "kubernetes",
      serving: createKubernetesServing(),
      traffic: createGatewayTraffic(),
      close: () => Promise.resolve(),
    };
  }
  const localRoot = options.localRoot ?? process.cwd();
  const local = createLocalServing({
    runsDir: join(localRoot, ".llmops", "serving"),
    localRoot,
    command: options.servingCommand ?? defaultServingCommand(),
    ...(options.host ? { host: options.host } : {}),
    ...(options.logger ? { logger: options.logger.child({ component: "local-serving" }) } : {}),
  });
  const proxy = createLocalProxy({
    stateDir: join(localRoot, ".llmops", "traffic"),
    ...(options.host ? { host: options.host } : {}),
    ...(options.metricsRegistry ? { metricsRegistry: options.metricsRegistry } : {}),
    ...(options.logger ? { logger: options.logger.child({ component: "local-proxy" }) } : {}),
  });
  return {
    type: "local",
    serving: local,
    traffic: proxy,
    proxy,
    local,
    async close(closeOptions = {}) {
      await proxy.close();
      if (closeOptions.stopServers === true) await local.stopAll();
    },
  };
}
