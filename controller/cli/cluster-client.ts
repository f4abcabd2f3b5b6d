// The Kubernetes client the CLI's cluster commands (diff, status, sync) use.
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../kube/client.js";
import { KubeTransport } from "../kube/transport.js";

/** A client for `--kubeconfig` (or $KUBECONFIG, ~/.kube/config, in-cluster). */
export function cliKubeClient(options: { kubeconfig?: string; fieldManager: string }): KubeClient {
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromDefault();
  return new KubeClient({
    transport: new KubeTransport({ kubeConfig, userAgent: "llmops-cli" }),
    fieldManager: options.fieldManager,
  });
}
