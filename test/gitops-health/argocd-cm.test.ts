// deploy/argocd/argocd-cm.yaml is generated from the .lua files (the one source) and works as the
// patch it says it is: `kubectl patch --patch-file` onto an argocd-cm ConfigMap, as Argo CD's install
// creates it, leaves Argo CD's own keys and adds one health check per kind, each the .lua file.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNamespace, deleteTestNamespace, kubectl } from "../support/cluster.js";
import { argoCdConfigMapPath, healthScripts, renderArgoCdConfigMap } from "./argocd-cm.js";

describe("the argocd-cm patch", () => {
  let namespace = "";
  beforeAll(async () => {
    namespace = await createTestNamespace("argocd");
  });
  afterAll(async () => {
    await deleteTestNamespace(namespace);
  });

  it("is what the .lua files render (run `npx tsx test/gitops-health/argocd-cm.ts` after editing them)", async () => {
    const committed = await readFile(argoCdConfigMapPath, "utf8");
    expect(committed).toBe(await renderArgoCdConfigMap());
  });

  it("has a health check for each of the four kinds under Argo CD's keys", async () => {
    expect([...(await healthScripts()).keys()]).toEqual([
      "resource.customizations.health.llmops.dev_Experiment",
      "resource.customizations.health.llmops.dev_ModelDeployment",
      "resource.customizations.health.llmops.dev_Prompt",
      "resource.customizations.health.llmops.dev_TrainingJob",
    ]);
  });

  it("the four scripts share one kstatus reading, word for word (Argo CD runs each alone)", async () => {
    const shared = [...(await healthScripts()).values()].map((script) => {
      const start = script.indexOf("local function find(");
      const end = script.indexOf("\nend\n", script.indexOf("local function kstatus(obj)"));
      return start === -1 || end === -1 ? "" : script.slice(start, end);
    });
    expect(shared[0]).toContain("local function kstatus(obj)");
    for (const block of shared) expect(block).toBe(shared[0]);
  });

  it("patches a live argocd-cm with kubectl, keeping the keys already there", async () => {
    const created = await kubectl([
      "create",
      "configmap",
      "argocd-cm",
      "-n",
      namespace,
      "--from-literal=url=https://argocd.example.com",
      "--from-literal=resource.customizations.health.argoproj.io_Application=return {status='Healthy'}",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const patched = await kubectl([
      "patch",
      "configmap",
      "argocd-cm",
      "-n",
      namespace,
      "--patch-file",
      argoCdConfigMapPath,
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const live = await kubectl(["get", "configmap", "argocd-cm", "-n", namespace, "-o", "json"]);
    expect(live.code, live.stderr).toBe(0);
    const { data } = JSON.parse(live.stdout) as { data: Record<string, string> };
    expect(data).toEqual({
      url: "https://argocd.example.com",
      "resource.customizations.health.argoproj.io_Application": "return {status='Healthy'}",
      ...Object.fromEntries(await healthScripts()),
    });
  });
});
