import { describe, expect, it } from "vitest";
import type { ModelDeployment, ModelDeploymentStatus } from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import { planModelDeployment, type ObservedModelDeployment } from "./plan.js";
import {
  desiredRoute,
  revisionDeployment,
  revisionName,
  servingArgs,
  type ResolvedModel,
} from "./workloads.js";

const now = Date.parse("2026-12-01T10:00:00Z");
const model: ResolvedModel = {
  source: "acme/coder@" + "a".repeat(40),
  model: { repo: "acme/coder", revision: "a".repeat(40) },
};

function object(status: ModelDeploymentStatus = {}, spec: Partial<ModelDeployment["spec"]> = {}) {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "coder", namespace: "ns", uid: "u1", resourceVersion: "1", generation: 3 },
    spec: {
      model: { huggingFace: { repo: "acme/coder" } },
      runtime: { replicas: 3 },
      route: { parentRefs: [{ name: "gw" }] },
      strategy: { type: "Immediate" },
      rollbackWindow: { revisions: 1 },
      ...spec,
    },
    status,
  } as StoredObject<ModelDeployment>;
}

const observed = (
  deployments: Record<string, { available: boolean; replicas: number }>,
): ObservedModelDeployment => ({
  model: { ok: true, model },
  deployments: new Map(Object.entries(deployments)),
  routeParents: [],
});

describe("planModelDeployment", () => {
  const desired = revisionName(object(), model);

  it("names the revision from the model and runtime, not the replicas", () => {
    expect(desired).toMatch(/^coder-[0-9a-f]{10}$/);
    expect(revisionName(object({}, { runtime: { replicas: 9 } }), model)).toBe(desired);
    expect(revisionName(object({}, { runtime: { replicas: 3, args: ["--x"] } }), model)).not.toBe(
      desired,
    );
  });

  it("a new revision once Available: stable, the old one warm at one replica, the oldest warm removed", () => {
    const plan = planModelDeployment({
      object: object({
        stableRevision: "coder-old",
        revisions: [
          { name: "coder-old", role: "Stable", model: "acme/coder@old" },
          { name: "coder-older", role: "Warm", model: "acme/coder@older" },
        ],
      }),
      observed: observed({
        [desired]: { available: true, replicas: 3 },
        "coder-old": { available: true, replicas: 3 },
        "coder-older": { available: true, replicas: 1 },
      }),
      now,
    });
    expect(plan.step?.status.stableRevision).toBe(desired);
    expect(plan.step?.status.revisions?.map((r) => [r.name, r.role, r.weight])).toEqual([
      [desired, "Stable", 100],
      ["coder-old", "Warm", 0],
    ]);
    expect(plan.actions?.scale).toEqual([{ revision: "coder-old", replicas: 1 }]);
    expect(plan.actions?.remove).toEqual(["coder-older"]);
    expect(plan.actions?.traffic).toEqual([{ revision: desired, weight: 100 }]);
    expect(plan.actions?.ensure).toEqual({ revision: desired, replicas: 3 });
    const route = desiredRoute(object(), plan.actions?.traffic ?? [])?.spec as {
      rules: { backendRefs: unknown[] }[];
    };
    expect(route.rules[0]?.backendRefs).toEqual([
      { group: "", kind: "Service", name: desired, port: 8000, weight: 100 },
    ]);
    expect(plan.step?.outcome.state).toBe("Ready");
  });

  it("puts each revision's URL in status and the split, and says why a revision does not start", () => {
    const plan = planModelDeployment({
      object: object(
        { stableRevision: "coder-old", phase: "Healthy" },
        { strategy: { type: "Immediate" } },
      ),
      observed: {
        ...observed({}),
        deployments: new Map([
          ["coder-old", { available: true, replicas: 3, url: "http://127.0.0.1:4001/v1" }],
          [
            desired,
            { available: false, replicas: 0, problem: "its llmops-serve process exited: OOM" },
          ],
        ]),
      },
      now,
    });
    expect(plan.step?.status.revisions?.map((r) => [r.name, r.url])).toEqual([
      ["coder-old", "http://127.0.0.1:4001/v1"],
      [desired, undefined],
    ]);
    expect(plan.actions?.traffic).toEqual([
      { revision: "coder-old", weight: 100, url: "http://127.0.0.1:4001/v1" },
      { revision: desired, weight: 0 },
    ]);
    expect(plan.step?.outcome).toMatchObject({ state: "Progressing" });
    expect(plan.step?.outcome.message).toContain(
      `revision ${desired}: its llmops-serve process exited: OOM`,
    );
  });

  it("a TrainingJob that has not Succeeded waits (DependencyNotReady) and changes nothing", () => {
    const status = { stableRevision: "coder-old", phase: "Healthy" as const };
    const plan = planModelDeployment({
      object: object(status),
      observed: {
        ...observed({}),
        model: {
          ok: false,
          kind: "wait",
          reason: "TrainingJobNotSucceeded",
          message: "TrainingJob t is Running",
        },
      },
      now,
    });
    expect(plan.actions).toBeUndefined();
    expect(plan.step?.status).toEqual(status);
    expect(plan.step?.outcome).toMatchObject({
      state: "Progressing",
      reason: "DependencyNotReady",
    });
  });

  it("the Gateway's verdict on the route shows in the conditions", () => {
    const plan = planModelDeployment({
      object: object(),
      observed: {
        ...observed({ [desired]: { available: true, replicas: 3 } }),
        routeParents: [
          { type: "Accepted", status: "False", reason: "NotAllowedByListeners", message: "no" },
        ],
      },
      now,
    });
    expect(plan.step?.conditions).toEqual([
      { type: "RouteAccepted", status: "False", reason: "NotAllowedByListeners", message: "no" },
    ]);
  });
});

describe("servingArgs", () => {
  it.each([
    [
      "vllm",
      { type: "vllm" as const },
      model,
      [
        "--model",
        "acme/coder",
        "--revision",
        "a".repeat(40),
        "--served-model-name",
        "coder",
        "--port",
        "8000",
      ],
    ],
    [
      "tgi",
      { type: "tgi" as const, port: 80 },
      model,
      ["--model-id", "acme/coder", "--revision", "a".repeat(40), "--port", "80"],
    ],
    [
      "vllm with a LoRA adapter on its base model",
      { type: "vllm" as const, args: ["--max-model-len=4096"] },
      { source: "trainingjob/t@r", model: { repo: "base/m" }, adapter: { path: "/models/t" } },
      [
        "--model",
        "base/m",
        "--served-model-name",
        "coder-base",
        "--enable-lora",
        "--lora-modules",
        "coder=/models/t",
        "--port",
        "8000",
        "--max-model-len=4096",
      ],
    ],
    [
      "custom gets only its own args",
      { type: "custom" as const, image: "x", args: ["serve"] },
      model,
      ["serve"],
    ],
  ])("%s", (_name, runtime, resolved, want) => {
    expect(servingArgs(runtime, resolved, "coder")).toEqual(want);
  });
});

describe("revisionDeployment", () => {
  it("requests the GPUs, selects the GPU type's nodes, probes /health, takes the token from its Secret", () => {
    const md = object(
      {},
      {
        model: {
          huggingFace: { repo: "acme/coder", tokenSecretRef: { name: "hf", key: "token" } },
        },
        runtime: {
          replicas: 2,
          resources: { gpu: { type: "nvidia-h100", count: 2 }, cpu: "8", memory: "32Gi" },
          env: [{ name: "KEY", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
        },
      },
    );
    const d = revisionDeployment({
      object: md,
      revision: "coder-x",
      model,
      replicas: 2,
    }) as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: { nodeSelector?: Record<string, string>; containers: Record<string, unknown>[] };
        };
      };
    };
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.nodeSelector).toEqual({
      "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    });
    const container = d.spec.template.spec.containers[0] ?? {};
    expect(container.resources).toEqual({
      requests: { cpu: "8", memory: "32Gi", "nvidia.com/gpu": "2" },
      limits: { cpu: "8", memory: "32Gi", "nvidia.com/gpu": "2" },
    });
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: "/health", port: "http" } });
    expect(container.env).toContainEqual({
      name: "HF_TOKEN",
      valueFrom: { secretKeyRef: { name: "hf", key: "token" } },
    });
    expect(container.env).toContainEqual({
      name: "KEY",
      valueFrom: { secretKeyRef: { name: "s", key: "k" } },
    });
  });
});
