import { describe, expect, it } from "vitest";
import {
  controllerOf,
  controllerReference,
  isControlledBy,
  withControllerReference,
} from "./owner-references.js";
import type { KubeObject, StoredObject } from "./resources.js";

const owner: StoredObject = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  metadata: { name: "triage", namespace: "team-a", uid: "uid-1", resourceVersion: "7" },
};

describe("owner references", () => {
  it("builds a controller reference", () => {
    expect(controllerReference(owner)).toEqual({
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      name: "triage",
      uid: "uid-1",
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it("sets it on a child without modifying the input, idempotently", () => {
    const child: KubeObject = Object.freeze({
      metadata: Object.freeze({ name: "prompt-triage", namespace: "team-a" }),
    });
    const once = withControllerReference(child, owner);
    const twice = withControllerReference(once, owner);
    expect(twice.metadata?.ownerReferences).toHaveLength(1);
    expect(controllerOf(twice)?.uid).toBe("uid-1");
    expect(isControlledBy(twice, owner)).toBe(true);
    expect(child.metadata).not.toHaveProperty("ownerReferences");
  });

  it("keeps non-controller references", () => {
    const child = {
      metadata: {
        name: "c",
        namespace: "team-a",
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "x", uid: "u2" }],
      },
    };
    expect(withControllerReference(child, owner).metadata.ownerReferences).toHaveLength(2);
  });

  it("refuses cross-namespace ownership", () => {
    expect(() =>
      withControllerReference({ metadata: { name: "c", namespace: "other" } }, owner),
    ).toThrow(/within one namespace/);
  });

  it("refuses a child controlled by something else", () => {
    const child = {
      metadata: {
        name: "c",
        namespace: "team-a",
        ownerReferences: [
          { apiVersion: "v1", kind: "Thing", name: "t", uid: "u9", controller: true },
        ],
      },
    };
    expect(() => withControllerReference(child, owner)).toThrow(/already controlled by Thing t/);
  });
});
