import { describe, expect, it } from "vitest";
import {
  ConfigMapType,
  EventType,
  LeaseType,
  NamespaceType,
  type ResourceType,
  apiGroup,
  objectKeyString,
  parseObjectKey,
  resourcePath,
} from "./resources.js";

const PromptType: ResourceType = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  plural: "prompts",
  namespaced: true,
};

describe("resourcePath", () => {
  const cases = [
    { name: "core, all namespaces", type: ConfigMapType, target: {}, want: "/api/v1/configmaps" },
    {
      name: "core, one namespace",
      type: ConfigMapType,
      target: { namespace: "a" },
      want: "/api/v1/namespaces/a/configmaps",
    },
    {
      name: "core object",
      type: ConfigMapType,
      target: { namespace: "a", name: "b" },
      want: "/api/v1/namespaces/a/configmaps/b",
    },
    {
      name: "group object",
      type: LeaseType,
      target: { namespace: "a", name: "b" },
      want: "/apis/coordination.k8s.io/v1/namespaces/a/leases/b",
    },
    {
      name: "status subresource",
      type: PromptType,
      target: { namespace: "a", name: "p", subresource: "status" },
      want: "/apis/llmops.dev/v1alpha1/namespaces/a/prompts/p/status",
    },
    {
      name: "cluster-scoped ignores namespace",
      type: NamespaceType,
      target: { namespace: "x", name: "n" },
      want: "/api/v1/namespaces/n",
    },
    {
      name: "names are escaped",
      type: EventType,
      target: { namespace: "a", name: "x y" },
      want: "/apis/events.k8s.io/v1/namespaces/a/events/x%20y",
    },
  ];
  it.each(cases)("$name", ({ type, target, want }) => {
    expect(resourcePath(type, target)).toBe(want);
  });
});

describe("keys", () => {
  it("round-trips namespaced and cluster-scoped keys", () => {
    expect(objectKeyString({ namespace: "a", name: "b" })).toBe("a/b");
    expect(objectKeyString({ namespace: "", name: "b" })).toBe("b");
    expect(parseObjectKey("a/b")).toEqual({ namespace: "a", name: "b" });
    expect(parseObjectKey("b")).toEqual({ namespace: "", name: "b" });
  });
  it("splits apiVersion", () => {
    expect(apiGroup("v1")).toBe("");
    expect(apiGroup("llmops.dev/v1alpha1")).toBe("llmops.dev");
  });
});
