// What an Experiment's calls go through: the price table (defaults, the controller's options, the
// operators' ConfigMap) and a model client per endpoint, with the judges' clients and webhook
// secrets each evaluator needs. Reads Secrets and ConfigMaps; writes nothing.
import type { Experiment } from "../../api/generated/index.js";
import {
  createOpenAiChatClient,
  mergePriceTables,
  parsePriceTable,
  type ChatModelClient,
  type EndpointConcurrency,
  type PriceTable,
  type RetryPolicy,
} from "../../backends/llm/index.js";
import type { KubeClient } from "../../kube/client.js";
import type { StoredObject } from "../../kube/resources.js";
import { readSecretValue } from "../../kube/secrets.js";
import type { Clock } from "../../runtime/clock.js";
import { buildEvaluators } from "./evaluators.js";
import type { RunnableVariant } from "./runner.js";
import type { ResolvedVariant } from "./variants.js";

/** Where the operators' price table lives: `{ <model>: { inputPerMillion, outputPerMillion } }`. */
export interface PriceTableRef {
  namespace: string;
  name: string;
  /** Default prices.yaml. */
  key?: string;
}

/**
 * The price table for this reconcile: `base` (defaults and the options' prices), then the
 * ConfigMap's, read every time so operators can change prices without a restart. Throws
 * PriceTableError when the ConfigMap does not parse.
 */
export async function currentPrices(
  client: KubeClient,
  base: PriceTable,
  ref: PriceTableRef | undefined,
): Promise<PriceTable> {
  if (ref === undefined) return base;
  const configMap = await client.getConfigMap({ namespace: ref.namespace, name: ref.name });
  const key = ref.key ?? "prices.yaml";
  const text = configMap?.data?.[key];
  if (text === undefined) return base; // not created yet: the built-in prices apply
  return mergePriceTables(
    base,
    parsePriceTable(text, `configmap/${ref.namespace}/${ref.name} key ${key}`),
  );
}

/** Everything a model client needs besides its endpoint. */
export interface ClientSettings {
  client: KubeClient;
  clock: Clock;
  prices: PriceTable;
  /** Bounds calls per endpoint across Experiments. */
  endpoints: EndpointConcurrency;
  /** Retry policy and timeout; tests shorten them. */
  clientOptions?: { timeoutMs?: number; retry?: Partial<RetryPolicy> };
}

type Endpoint = { baseURL: string; apiKeySecretRef?: { name: string; key: string } };

async function endpointClient(
  settings: ClientSettings,
  namespace: string,
  endpoint: Endpoint,
  field: string,
): Promise<ChatModelClient> {
  const apiKey = endpoint.apiKeySecretRef
    ? await readSecretValue(
        settings.client,
        namespace,
        endpoint.apiKeySecretRef,
        `${field}.apiKeySecretRef`,
      )
    : null;
  const { timeoutMs, retry } = settings.clientOptions ?? {};
  return createOpenAiChatClient({
    baseURL: endpoint.baseURL,
    apiKey,
    prices: settings.prices,
    concurrency: settings.endpoints,
    clock: settings.clock,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(retry ? { retry } : {}),
  });
}

/**
 * Each variant with its model client and evaluators. Throws MissingSecretError (an API key or
 * webhook secret is missing) or EvaluatorConfigError (an evaluator cannot be built).
 */
export async function runnableVariants(
  settings: ClientSettings,
  experiment: StoredObject<Experiment>,
  resolved: readonly ResolvedVariant[],
): Promise<Map<string, RunnableVariant>> {
  const namespace = experiment.metadata.namespace ?? "";
  const evaluatorSpecs = experiment.spec.evaluators;
  const out = new Map<string, RunnableVariant>();
  for (const variant of resolved) {
    const client = await endpointClient(
      settings,
      namespace,
      variant.endpoint,
      `Prompt ${variant.promptName} spec.model.endpoint`,
    );
    const judgeClients = new Map<string, ChatModelClient>();
    const webhookSecrets = new Map<string, string>();
    for (const e of evaluatorSpecs) {
      if (e.type === "llmJudge") {
        const endpoint = e.llmJudge?.model?.endpoint;
        const field = `spec.evaluators[${e.name}].llmJudge.model.endpoint`;
        judgeClients.set(
          e.name,
          endpoint ? await endpointClient(settings, namespace, endpoint, field) : client,
        );
      }
      if (e.type === "webhook" && e.webhook?.secretRef) {
        webhookSecrets.set(
          e.name,
          await readSecretValue(
            settings.client,
            namespace,
            e.webhook.secretRef,
            `spec.evaluators[${e.name}].webhook.secretRef`,
          ),
        );
      }
    }
    const evaluators = buildEvaluators(evaluatorSpecs, variant, (e) => ({
      clock: settings.clock,
      ...(judgeClients.has(e.name) ? { judgeClient: judgeClients.get(e.name) } : {}),
      ...(webhookSecrets.has(e.name) ? { webhookSecret: webhookSecrets.get(e.name) } : {}),
    }));
    out.set(variant.name, { resolved: variant, client, evaluators });
  }
  return out;
}
