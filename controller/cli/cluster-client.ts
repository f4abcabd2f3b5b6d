// The Kubernetes client the CLI's cluster commands (diff, status, sync) use.
import { KubeClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { KubeTransport } from "../kube/transport.js";

/** A client for `--kubeconfig` (or $KUBECONFIG, ~/.kube/config, in-cluster). */
export function cliKubeClient(options: { kubeconfig?: string; fieldManager: string }): KubeClient {
  const kubeConfig = loadKubeConfig(
    options.kubeconfig !== undefined ? { path: options.kubeconfig } : {},
  );
  return new KubeClient({
    transport: new KubeTransport({ kubeConfig, userAgent: "llmops-cli" }),
    fieldManager: options.fieldManager,
  });
}
