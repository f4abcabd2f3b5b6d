// loadKubeConfig against the real control plane: client certificates from the test kubeconfig,
// a bearer token (a service account token minted by the apiserver) in a file and through an exec
// credential plugin (handed to @kubernetes/client-node, imported only then), the in-cluster layout,
// and the errors for kubeconfigs that cannot work.
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../../controller/kube/client.js";
import type { TransientError } from "../../controller/kube/errors.js";
import { KubeConfigError, loadKubeConfig } from "../../controller/kube/kubeconfig.js";
import { ConfigMapType, NamespaceType } from "../../controller/kube/resources.js";
import { KubeTransport } from "../../controller/kube/transport.js";
import { kubectl, testCluster, useTestNamespace } from "../support/cluster.js";

type KubeConfigYaml = {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  "current-context": string;
};

describe("loadKubeConfig", () => {
  const ns = useTestNamespace("kubeconfig");
  let dir = "";
  let base: KubeConfigYaml;
  let token = "";

  /** The HTTP status a request ends with (200 when it succeeds). */
  const statusOf = async (request: Promise<unknown>): Promise<number | undefined> => {
    try {
      await request;
      return 200;
    } catch (error) {
      return (error as TransientError).status?.code;
    }
  };
  const clientFor = (config: ReturnType<typeof loadKubeConfig>) =>
    new KubeClient({
      transport: new KubeTransport({ kubeConfig: config }),
      fieldManager: "llmops-tests",
    });
  const write = async (name: string, config: unknown) => {
    const path = join(dir, name);
    await writeFile(path, stringify(config));
    return path;
  };
  const withUser = (user: Record<string, unknown>): KubeConfigYaml => ({
    ...base,
    users: [{ name: "u", user }],
    contexts: [
      { name: "c", context: { cluster: base.clusters[0]?.name, user: "u", namespace: ns.name } },
    ],
    "current-context": "c",
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "llmops-kubeconfig-"));
    base = parse(await readFile(testCluster().kubeconfigPath, "utf8")) as KubeConfigYaml;
    // A service account token the apiserver itself minted: authenticates, but has no RBAC.
    expect((await kubectl(["create", "serviceaccount", "reader", "-n", ns.name])).code).toBe(0);
    const minted = await kubectl(["create", "token", "reader", "-n", ns.name]);
    expect(minted.code, minted.stderr).toBe(0);
    token = minted.stdout.trim();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("client certificates and CA from the test kubeconfig reach the apiserver", async () => {
    const config = loadKubeConfig({ path: testCluster().kubeconfigPath });
    expect(config.namespace).toBe("default");
    const client = clientFor(config);
    const list = await client.list(NamespaceType);
    expect(list.items.map((n) => n.metadata.name)).toContain(ns.name);
    await client.close();
  });

  it("a token file is read again each time credentials are resolved", async () => {
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "not-a-valid-token\n");
    const config = loadKubeConfig({
      path: await write("file.yaml", withUser({ tokenFile: "token" })),
    });
    const opts: { headers?: Record<string, unknown> } = {};
    await config.applyToHTTPSOptions(opts);
    expect(opts.headers?.Authorization).toBe("Bearer not-a-valid-token");
    expect(await statusOf(clientFor(config).list(ConfigMapType, { namespace: ns.name }))).toBe(401);
    await writeFile(tokenFile, `${token}\n`);
    const rotated = clientFor(loadKubeConfig({ path: join(dir, "file.yaml") }));
    // Authenticated as the service account, which may not list pods: 403, not 401.
    expect(await statusOf(rotated.list(ConfigMapType, { namespace: ns.name }))).toBe(403);
    await rotated.close();
  });

  it("an exec credential plugin goes through @kubernetes/client-node", async () => {
    const plugin = join(dir, "credential-plugin.sh");
    await writeFile(
      plugin,
      `#!/bin/sh\necho '${JSON.stringify({
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: { token },
      })}'\n`,
    );
    await chmod(plugin, 0o755);
    const path = await write(
      "exec.yaml",
      withUser({
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: plugin,
          interactiveMode: "Never",
        },
      }),
    );
    const config = loadKubeConfig({ path });
    expect(config.getCurrentCluster()?.server).toBe(base.clusters[0]?.cluster.server);
    expect(config.namespace).toBe(ns.name);
    const client = clientFor(config);
    expect(await statusOf(client.list(ConfigMapType, { namespace: ns.name }))).toBe(403);
    await client.close();
  });

  it("in a pod: the service account's token, CA and namespace", async () => {
    const sa = join(dir, "sa");
    await writeFile(join(dir, "sa-token"), token);
    await writeFile(join(dir, "sa-ns"), `${ns.name}\n`);
    const caData = base.clusters[0]?.cluster["certificate-authority-data"];
    await writeFile(join(dir, "sa-ca"), Buffer.from(String(caData), "base64"));
    const server = new URL(String(base.clusters[0]?.cluster.server));
    const config = loadKubeConfig({
      env: {
        KUBERNETES_SERVICE_HOST: server.hostname,
        KUBERNETES_SERVICE_PORT: server.port,
        HOME: sa,
      },
      inCluster: {
        tokenFile: join(dir, "sa-token"),
        caFile: join(dir, "sa-ca"),
        namespaceFile: join(dir, "sa-ns"),
      },
    });
    expect(config.namespace).toBe(ns.name);
    const client = clientFor(config);
    expect(await statusOf(client.list(ConfigMapType, { namespace: ns.name }))).toBe(403);
    await client.close();
  });

  it("says what is wrong with a kubeconfig that cannot work", async () => {
    const noContext = await write("no-context.yaml", { ...base, "current-context": "missing" });
    expect(() => loadKubeConfig({ path: noContext })).toThrow(
      new RegExp(
        `kubeconfig ${noContext}: no current context \\(context missing is not defined\\)`,
      ),
    );
    expect(() => loadKubeConfig({ env: { HOME: join(dir, "nowhere") } })).toThrow(KubeConfigError);
    expect(() => loadKubeConfig({ env: { KUBECONFIG: join(dir, "absent.yaml") } })).toThrow(
      /absent\.yaml does not exist and this is not a pod/,
    );
  });
});
