// The chart without installing it: what chart-testing's `ct lint` runs (yamllint, yamale, `helm
// lint --strict` with each ci/*-values.yaml), every rendering accepted by the apiserver in a
// server-side strict dry run, values.schema.json's rejections as a table, and what the rendered
// objects promise: the CRDs as crds/ has them, the RBAC, the pod's security settings and the flags.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, helm, kubectl } from "../support/cluster.js";
import { repositoryRoot } from "../validate/fixtures.js";

const execFileAsync = promisify(execFile);
const chart = join(repositoryRoot, "charts", "llmops");
const ciValues = readdirSync(join(chart, "ci"))
  .filter((f) => f.endsWith("-values.yaml"))
  .sort();

export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** `helm template` of the chart; throws with helm's message when it fails. */
export async function renderChart(
  args: readonly string[] = [],
  release = "llmops",
  namespace = "llmops-system",
): Promise<Rendered[]> {
  const out = await helm(["template", release, chart, "-n", namespace, ...args]);
  if (out.code !== 0) throw new Error(out.stderr);
  return parseAllDocuments(out.stdout)
    .map((d) => d.toJSON() as Rendered | null)
    .filter((d): d is Rendered => d !== null);
}

const find = (objects: Rendered[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

function controllerArgs(objects: Rendered[]): string[] {
  const deployment = find(objects, "Deployment")[0] as unknown as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  return deployment.spec.template.spec.containers[0]?.args ?? [];
}

describe("chart: ct lint's parts", () => {
  const venv =
    process.env.LLMOPS_CHART_LINT_VENV ?? join(homedir(), ".cache/llmops/chart-lint-venv");
  beforeAll(async () => {
    await execFileAsync("bash", [join(repositoryRoot, "test/helm/setup-lint-venv.sh")], {
      env: { ...process.env, LLMOPS_CHART_LINT_VENV: venv },
    });
  }, 300_000);

  it("helm lint --strict passes with the defaults and with each ci/*-values.yaml", async () => {
    expect(ciValues.length).toBeGreaterThanOrEqual(3);
    for (const values of [undefined, ...ciValues]) {
      const args = values ? ["-f", join(chart, "ci", values)] : [];
      const lint = await helm(["lint", "--strict", chart, ...args]);
      expect(lint.code, `${values ?? "defaults"}: ${lint.stdout}${lint.stderr}`).toBe(0);
      expect(lint.stdout).toContain("0 chart(s) failed");
      expect(lint.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it("yamllint (ct's rules) and yamale (ct's Chart.yaml schema) accept the chart", async () => {
    expect(existsSync(join(venv, "bin", "yamllint"))).toBe(true);
    const files = [
      join(chart, "Chart.yaml"),
      join(chart, "values.yaml"),
      ...ciValues.map((f) => join(chart, "ci", f)),
    ];
    const lint = await execFileAsync(join(venv, "bin", "yamllint"), [
      "--strict",
      "-c",
      join(repositoryRoot, "test/helm/lintconf.yaml"),
      ...files,
    ]).catch((e: unknown) => e as { stdout: string; stderr: string; code: number });
    expect("code" in lint ? lint.code : 0, lint.stdout).toBe(0);
    const yamale = await execFileAsync(join(venv, "bin", "yamale"), [
      "-s",
      join(repositoryRoot, "test/helm/chart_schema.yaml"),
      join(chart, "Chart.yaml"),
    ]).catch((e: unknown) => e as { stdout: string; stderr: string; code: number });
    expect("code" in yamale ? yamale.code : 0, yamale.stdout + yamale.stderr).toBe(0);
    expect(yamale.stdout).toContain("Validation success");

    // And they do reject: a Chart.yaml without its version, a values file with a duplicate key.
    const bad = await execFileAsync(
      "bash",
      [
        "-c",
        `printf 'apiVersion: v2\\nname: x\\nhome: h\\ndescription: d\\n' > "$T/Chart.yaml" && ` +
          `"${venv}/bin/yamale" -s "${join(repositoryRoot, "test/helm/chart_schema.yaml")}" "$T/Chart.yaml"`,
      ],
      { env: { ...process.env, T: venv } },
    ).catch((e: unknown) => e as { stdout: string; code: number });
    expect("code" in bad ? bad.code : 0).not.toBe(0);
    expect(bad.stdout).toContain("version: Required field missing");
  });
});

describe("chart: rendered objects", () => {
  it("every rendering is accepted by a server-side strict dry run", async () => {
    // The namespaces the ci values name must exist for their Roles.
    await kubectl(["create", "namespace", "llmops-ci-team-a"]);
    const namespace = await createTestNamespace("helm-dry");
    for (const values of [undefined, ...ciValues]) {
      const args = values ? ["-f", join(chart, "ci", values)] : [];
      const rendered = await helm(["template", "llmops", chart, "-n", namespace, ...args]);
      expect(rendered.code, rendered.stderr).toBe(0);
      // The helm test hook is applied too: it must be a valid Job.
      const applied = await kubectl(["apply", "--dry-run=server", "--validate=strict", "-f", "-"], {
        input: rendered.stdout,
      });
      expect(applied.code, `${values ?? "defaults"}: ${applied.stderr}`).toBe(0);
      expect(applied.stdout).toContain("deployment.apps/");
      expect(applied.stdout).toContain("(server dry run)");
    }
  });

  it("the CRDs are those of crds/, behind installCRDs, kept on uninstall", async () => {
    const objects = await renderChart();
    const crds = find(objects, "CustomResourceDefinition");
    const sources = readdirSync(join(repositoryRoot, "crds")).filter((f) => f.endsWith(".yaml"));
    expect(crds).toHaveLength(sources.length);
    for (const file of sources) {
      const source = parse(readFileSync(join(repositoryRoot, "crds", file), "utf8")) as Rendered;
      const rendered = crds.find((c) => c.metadata.name === source.metadata.name);
      expect(rendered, `${file} is in the chart`).toBeDefined();
      expect(rendered?.spec, `${file}: spec as in crds/`).toEqual(source.spec);
      expect(rendered?.metadata.labels).toMatchObject(source.metadata.labels ?? {});
      expect(rendered?.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    }
    expect(
      find(await renderChart(["--set", "installCRDs=false"]), "CustomResourceDefinition"),
    ).toEqual([]);
    const unkept = find(
      await renderChart(["--set", "crds.keep=false"]),
      "CustomResourceDefinition",
    );
    expect(unkept[0]?.metadata.annotations?.["helm.sh/resource-policy"]).toBeUndefined();
  });

  it("RBAC: a ClusterRole by default, Roles per watched namespace; Secrets get only; no *", async () => {
    const all = await renderChart();
    const clusterRole = find(all, "ClusterRole", "llmops-controller")[0] as unknown as {
      rules: Rule[];
    };
    expect(find(all, "ClusterRoleBinding", "llmops-controller")).toHaveLength(1);
    expect(find(all, "Role").map((r) => r.metadata.name)).toEqual(["llmops-leader-election"]);
    const namespaced = await renderChart(["--set", "watchNamespaces={team-a,team-b}"]);
    const roles = find(namespaced, "Role", "llmops-controller");
    expect(roles.map((r) => r.metadata.namespace)).toEqual(["team-a", "team-b"]);
    expect(find(namespaced, "RoleBinding", "llmops-controller")).toHaveLength(2);
    const narrowCluster = find(namespaced, "ClusterRole", "llmops-controller")[0] as unknown as {
      rules: Rule[];
    };
    // Watching only some namespaces, cluster-wide the controller may only review tokens.
    expect(narrowCluster.rules.flatMap((r) => r.resources).sort()).toEqual([
      "subjectaccessreviews",
      "tokenreviews",
    ]);

    for (const rules of [
      clusterRole.rules,
      ...roles.map((r) => (r as unknown as { rules: Rule[] }).rules),
    ]) {
      for (const rule of rules) {
        expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain("*");
      }
      const secrets = rules.filter((r) => r.resources.includes("secrets"));
      expect(secrets.map((r) => r.verbs)).toEqual([["get"]]);
      const leases = rules.filter((r) => r.resources.includes("leases"));
      expect(leases, "leases only in the release namespace").toEqual([]);
    }
    // Only git sync creates and deletes the kinds.
    const kinds = (rules: Rule[]) => rules.find((r) => r.resources.includes("prompts"))?.verbs;
    expect(kinds(clusterRole.rules)).toEqual(["get", "list", "watch", "patch"]);
    const synced = await renderChart(["-f", join(chart, "ci", "gitsync-values.yaml")]);
    const syncRole = find(synced, "ClusterRole", "llmops-controller")[0] as unknown as {
      rules: Rule[];
    };
    expect(kinds(syncRole.rules)).toEqual(["get", "list", "watch", "patch", "create", "delete"]);

    const leader = find(all, "Role", "llmops-leader-election")[0] as unknown as {
      metadata: { namespace: string };
      rules: Rule[];
    };
    expect(leader.metadata.namespace).toBe("llmops-system");
    expect(leader.rules).toEqual([
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "create", "update"],
      },
    ]);

    const views = find(all, "ClusterRole").filter((r) => r.metadata.name !== "llmops-controller");
    expect(
      views.map((r) => [
        r.metadata.name,
        r.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-view"],
        r.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"],
      ]),
    ).toEqual([
      ["llmops-view", "true", undefined],
      ["llmops-edit", undefined, "true"],
    ]);
  });

  it("git sync and the tables: Secrets and ConfigMaps granted by name, the config file mounted", async () => {
    const objects = await renderChart([
      "-f",
      join(chart, "ci", "gitsync-values.yaml"),
      "--set",
      "watchNamespaces={default}",
    ]);
    const gitsync = find(objects, "Role", "llmops-gitsync")[0] as unknown as { rules: Rule[] };
    expect(gitsync.rules).toContainEqual({
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: ["git-credentials", "git-webhook"],
      verbs: ["get"],
    });
    const tables = find(objects, "Role", "llmops-tables")[0] as unknown as {
      metadata: { namespace: string };
      rules: Rule[];
    };
    expect(tables.metadata.namespace).toBe("default");
    expect(tables.rules[0]?.resourceNames).toEqual(["llmops-gpus", "llmops-prices"]);
    const config = find(objects, "ConfigMap", "llmops-config")[0] as unknown as {
      data: Record<string, string>;
    };
    const file = parse(config.data["config.yaml"] ?? "") as {
      gitSync: { namespace: string; cacheDir: string; sources: { name: string }[] };
    };
    expect(file.gitSync.namespace).toBe("llmops-system");
    expect(file.gitSync.cacheDir).toBe("/var/cache/llmops/git");
    expect(file.gitSync.sources.map((s) => s.name)).toEqual(["main"]);
    const args = controllerArgs(objects);
    expect(args).toContain("--config=/etc/llmops/config/config.yaml");
    expect(args).toContain("--git-cache-dir=/var/cache/llmops/git");
    expect(args).toContain("--price-table=default/llmops-prices");
    expect(args).toContain("--gpu-table=default/llmops-gpus");
  });

  const flagRows: { name: string; set: string[]; want: string[]; absent?: string[] }[] = [
    {
      name: "defaults",
      set: [],
      want: [
        "--metrics-addr=:8080",
        "--api-addr=:8081",
        "--log-level=info",
        "--leader-elect",
        "--leader-election-namespace=llmops-system",
        "--leader-election-id=llmops-controller",
        "--training-backends=kubernetes,huggingFaceJobs",
        "--trainer-image=ghcr.io/llmops/trainer:0.1.0",
        "--shutdown-timeout=30",
      ],
      absent: ["--namespaces", "--config", "--training-progress-addr", "--hf-endpoint"],
    },
    {
      name: "namespaces, concurrency, log level",
      set: [
        "watchNamespaces={a,b}",
        "concurrency.Prompt=4",
        "concurrency.TrainingJob=1",
        "logLevel=debug",
      ],
      want: [
        "--namespaces=a,b",
        "--concurrency=Prompt=4",
        "--concurrency=TrainingJob=1",
        "--log-level=debug",
      ],
    },
    {
      name: "one replica without leader election",
      set: ["replicaCount=1", "leaderElection.enabled=false"],
      want: ["--no-leader-elect"],
      absent: ["--leader-elect"],
    },
    {
      name: "endpoints",
      set: [
        "huggingFace.endpoint=https://hub.example",
        "prometheusURL=http://prom:9090",
        "mlflowTrackingURI=http://mlflow:5000",
        "api.enabled=false",
        "metrics.port=9090",
        "trainer.image.tag=1.2.3",
      ],
      want: [
        "--hf-endpoint=https://hub.example",
        "--prometheus-url=http://prom:9090",
        "--mlflow-tracking-uri=http://mlflow:5000",
        "--api-addr=0",
        "--metrics-addr=:9090",
        "--trainer-image=ghcr.io/llmops/trainer:1.2.3",
      ],
    },
    {
      name: "training progress endpoint",
      set: ["training.progress.enabled=true", "replicaCount=1"],
      want: [
        "--training-progress-addr=:8443",
        "--training-progress-url=https://llmops.llmops-system.svc:8443/v1/training/progress",
      ],
    },
  ];
  it.each(flagRows)("every flag is a value: $name", async ({ set, want, absent }) => {
    const args = controllerArgs(await renderChart(set.flatMap((s) => ["--set", s])));
    for (const flag of want) expect(args).toContain(flag);
    for (const flag of absent ?? []) {
      expect(args.filter((a) => a === flag || a.startsWith(`${flag}=`))).toEqual([]);
    }
  });

  it("the pod: non-root, read-only root with emptyDirs, no capabilities, seccomp, probes, 2 replicas", async () => {
    const objects = await renderChart();
    const deployment = find(objects, "Deployment")[0] as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: {
            securityContext: Record<string, unknown>;
            containers: {
              image: string;
              securityContext: Record<string, unknown>;
              livenessProbe: { httpGet: { path: string; port: string } };
              readinessProbe: { httpGet: { path: string; port: string } };
              resources: { requests?: Record<string, string>; limits?: Record<string, string> };
              volumeMounts: { name: string; mountPath: string }[];
            }[];
            volumes: { name: string; emptyDir?: unknown }[];
          };
        };
      };
    };
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const container = pod.containers[0];
    expect(container?.image).toBe("ghcr.io/llmops/llmops:0.1.0");
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container?.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(container?.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(container?.resources.requests).toBeDefined();
    expect(container?.resources.limits?.memory).toBeDefined();
    expect(container?.volumeMounts.map((m) => m.mountPath).sort()).toEqual([
      "/tmp",
      "/var/cache/llmops/git",
    ]);
    expect(pod.volumes.every((v) => v.emptyDir !== undefined)).toBe(true);
    expect(find(objects, "PodDisruptionBudget")).toHaveLength(1);
    expect(find(await renderChart(["--set", "replicaCount=1"]), "PodDisruptionBudget")).toEqual([]);
  });

  it("optional parts: ServiceMonitor (template only: its CRD is not here), NetworkPolicy", async () => {
    const off = await renderChart();
    expect(find(off, "ServiceMonitor")).toEqual([]);
    expect(find(off, "NetworkPolicy")).toEqual([]);
    const on = await renderChart([
      "--set",
      "serviceMonitor.enabled=true",
      "--set",
      "serviceMonitor.labels.release=kube-prometheus",
      "--set",
      "networkPolicy.enabled=true",
    ]);
    const monitor = find(on, "ServiceMonitor")[0] as unknown as {
      apiVersion: string;
      metadata: { labels: Record<string, string> };
      spec: { endpoints: { port: string; path: string }[]; selector: unknown };
    };
    expect(monitor.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(monitor.metadata.labels.release).toBe("kube-prometheus");
    expect(monitor.spec.endpoints).toMatchObject([{ port: "metrics", path: "/metrics" }]);
    const service = find(on, "Service")[0] as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { ports: { name: string }[] };
    };
    expect(monitor.spec.selector).toEqual({
      matchLabels: {
        "app.kubernetes.io/name": "llmops",
        "app.kubernetes.io/instance": "llmops",
        "app.kubernetes.io/component": "controller",
      },
    });
    expect(service.metadata.labels).toMatchObject(
      (monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels,
    );
    expect(service.spec.ports.map((p) => p.name)).toEqual(["metrics", "api"]);
    const policy = find(on, "NetworkPolicy")[0] as unknown as {
      spec: { ingress: { ports: { port: string }[] }[] };
    };
    expect(policy.spec.ingress.flatMap((i) => i.ports.map((p) => p.port))).toEqual([
      "metrics",
      "api",
    ]);
  });
});

describe("chart: values.schema.json rejects wrong values with a clear message", () => {
  const rows: { name: string; args: string[]; message: string }[] = [
    {
      name: "zero replicas",
      args: ["--set", "replicaCount=0"],
      message: "at '/replicaCount': minimum: got 0, want 1",
    },
    {
      name: "a typo in a key",
      args: ["--set", "replicas=3"],
      message: "additional properties 'replicas' not allowed",
    },
    {
      name: "an unknown log level",
      args: ["--set", "logLevel=verbose"],
      message:
        "at '/logLevel': value must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'",
    },
    {
      name: "a namespace that is not a DNS label",
      args: ["--set", "watchNamespaces={Team_A}"],
      message: "at '/watchNamespaces/0': 'Team_A' does not match pattern",
    },
    {
      name: "concurrency for an unknown kind",
      args: ["--set", "concurrency.prompt=2"],
      message: "invalid propertyName 'prompt'",
    },
    {
      name: "concurrency below 1",
      args: ["--set", "concurrency.Prompt=0"],
      message: "at '/concurrency/Prompt': minimum: got 0, want 1",
    },
    {
      name: "a price table without its namespace",
      args: ["--set", "priceTable=prices"],
      message: "at '/priceTable': 'prices' does not match pattern",
    },
    {
      name: "the local training backend in a cluster",
      args: ["--set", "training.backends={local}"],
      message: "at '/training/backends/0': value must be one of 'kubernetes', 'huggingFaceJobs'",
    },
    {
      name: "a git source without url",
      args: ["--set-json", 'gitSync.sources=[{"name":"main"}]'],
      message: "at '/gitSync/sources/0': missing property 'url'",
    },
    {
      name: "a git source with an unknown field",
      args: ["--set-json", 'gitSync.sources=[{"name":"main","url":"u","secret":"x"}]'],
      message: "at '/gitSync/sources/0': additional properties 'secret' not allowed",
    },
    {
      name: "a writable root filesystem",
      args: ["--set", "securityContext.readOnlyRootFilesystem=false"],
      message: "at '/securityContext/readOnlyRootFilesystem': value must be true",
    },
    {
      name: "running as root allowed",
      args: ["--set", "podSecurityContext.runAsNonRoot=false"],
      message: "at '/podSecurityContext/runAsNonRoot': value must be true",
    },
    {
      name: "a port out of range",
      args: ["--set", "metrics.port=70000"],
      message: "at '/metrics/port': maximum: got 70,000, want 65,535",
    },
    {
      name: "an endpoint that is not a URL",
      args: ["--set", "huggingFace.endpoint=hub.local"],
      message: "at '/huggingFace/endpoint': 'hub.local' does not match pattern",
    },
    {
      name: "an unknown pull policy",
      args: ["--set", "image.pullPolicy=Sometimes"],
      message: "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
    },
  ];
  it.each(rows)("$name", async ({ args, message }) => {
    const out = await helm(["template", "llmops", chart, ...args]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("values don't meet the specifications of the schema");
    expect(out.stderr).toContain(message);
  });

  it("template checks the schema cannot express fail with the fix", async () => {
    const many = await helm([
      "template",
      "llmops",
      chart,
      "--set",
      "replicaCount=2",
      "--set",
      "leaderElection.enabled=false",
    ]);
    expect(many.code).not.toBe(0);
    expect(many.stderr).toContain("replicaCount > 1 needs leaderElection.enabled");
    const outside = await helm([
      "template",
      "llmops",
      chart,
      "--set",
      "watchNamespaces={team-a}",
      "--set-json",
      'gitSync.sources=[{"name":"main","url":"https://x/y.git","targetNamespace":"team-b"}]',
    ]);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toContain(
      'gitSync.sources (main): targetNamespace "team-b" is not in watchNamespaces',
    );
    const noSa = await helm(["template", "llmops", chart, "--set", "serviceAccount.create=false"]);
    expect(noSa.code).not.toBe(0);
    expect(noSa.stderr).toContain(
      "serviceAccount.name is required when serviceAccount.create is false",
    );
  });
});
