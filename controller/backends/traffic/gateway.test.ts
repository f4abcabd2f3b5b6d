import { describe, expect, it } from "vitest";
import type { ModelDeployment } from "../../api/generated/index.js";
import { createGatewayTraffic } from "./gateway.js";

const md = (spec: Partial<ModelDeployment["spec"]>): ModelDeployment => ({
  apiVersion: "llmops.dev/v1alpha1",
  kind: "ModelDeployment",
  metadata: { name: "coder", namespace: "ns" },
  spec: { model: { path: "/models/coder" }, ...spec },
});

describe("the Gateway API traffic backend", () => {
  const gateway = createGatewayTraffic();
  it.each([
    {
      name: "Immediate without a route",
      spec: { strategy: { type: "Immediate" as const } },
      stalled: false,
    },
    { name: "no strategy, no route", spec: {}, stalled: false },
    {
      name: "Canary with a route",
      spec: { strategy: { type: "Canary" as const }, route: { parentRefs: [{ name: "gw" }] } },
      stalled: false,
    },
    {
      name: "Canary without a route",
      spec: { strategy: { type: "Canary" as const } },
      stalled: true,
    },
  ])("$name: stalled $stalled", ({ spec, stalled }) => {
    const problem = gateway.check?.(md(spec));
    if (!stalled) {
      expect(problem).toBeUndefined();
      return;
    }
    expect(problem).toEqual({
      reason: "RouteRequired",
      message: expect.stringContaining("set spec.route.parentRefs") as unknown,
    });
  });
});
