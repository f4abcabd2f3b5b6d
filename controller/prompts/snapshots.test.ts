import { describe, expect, it } from "vitest";
import type { Prompt } from "../api/generated/index.js";
import type { StoredObject } from "../kube/resources.js";
import { ConfigMapType } from "../kube/resources.js";
import { ownedChild } from "../runtime/owned-children.js";
import { promptContentHash } from "./content.js";
import { decodeSnapshot, snapshotConfigMap, snapshotName, snapshotOf } from "./snapshots.js";

const prompt: StoredObject<Prompt> = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  metadata: { name: "triage", namespace: "ns", uid: "u1", resourceVersion: "1" },
  spec: {
    template: { text: "Classify: {{ticket}}" },
    variables: [{ name: "ticket" }],
    model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
    labels: ["production"],
    historyLimit: 5,
  },
};

describe("snapshots", () => {
  it("names one ConfigMap per version, within the 253-character limit", () => {
    expect(snapshotName("triage", 4)).toBe("prompt-triage-v4");
    const long = "a".repeat(250);
    const name = snapshotName(long, 12);
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name.endsWith("-v12")).toBe(true);
    expect(snapshotName(long, 12)).not.toBe(snapshotName(`${"a".repeat(249)}b`, 12));
  });

  it("round-trips the versioned fields only, owned by the Prompt", () => {
    const hash = promptContentHash(prompt.spec);
    const cm = ownedChild(
      { owner: prompt, labels: { "llmops.dev/prompt": "triage" } },
      ConfigMapType,
      snapshotConfigMap(snapshotOf(prompt, 4, hash)),
    );
    expect(cm.metadata).toMatchObject({
      name: "prompt-triage-v4",
      labels: { "llmops.dev/prompt": "triage", "llmops.dev/prompt-version": "4" },
      ownerReferences: [{ uid: "u1", controller: true }],
    });
    const snapshot = decodeSnapshot(cm);
    expect(snapshot).toEqual({
      prompt: "triage",
      version: 4,
      contentHash: hash,
      spec: {
        template: prompt.spec.template,
        variables: prompt.spec.variables,
        model: prompt.spec.model,
      },
    });
  });

  it.each([
    ["no data", {}],
    ["not JSON", { "snapshot.json": "{" }],
    ["edited by hand: content no longer matches its hash", { "snapshot.json": "EDITED" }],
  ])("rejects a snapshot with %s", (_name, data) => {
    const hash = promptContentHash(prompt.spec);
    const cm = snapshotConfigMap(snapshotOf(prompt, 4, hash)) as { data: Record<string, string> };
    const good = cm.data["snapshot.json"] ?? "";
    const edited = { ...data } as Record<string, string>;
    if (edited["snapshot.json"] === "EDITED") {
      edited["snapshot.json"] = good.replace("Classify", "Ignore");
    }
    expect(decodeSnapshot({ ...cm, data: edited })).toBeUndefined();
  });
});
