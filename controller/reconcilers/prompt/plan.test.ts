import { describe, expect, it } from "vitest";
import type { Prompt, PromptStatus } from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import { promptContentHash } from "../../prompts/content.js";
import type { PromptSnapshot } from "../../prompts/snapshots.js";
import { needsOutgoingSnapshot, planPrompt, planPromptVersion } from "./plan.js";

const now = "2026-11-22T10:00:00Z";
const earlier = "2026-11-20T10:00:00Z";

function status(...entries: [number, string, string[]?][]): PromptStatus {
  return {
    version: entries[0]?.[0],
    history: entries.map(([version, contentHash, labels]) => ({
      version,
      contentHash,
      firstSeen: earlier,
      ...(labels ? { labels } : {}),
    })),
  };
}

describe("planPromptVersion", () => {
  const rows: {
    name: string;
    status: PromptStatus | undefined;
    hash: string;
    labels?: string[];
    limit?: number;
    want: { version: number; minted: boolean; versions: number[] };
  }[] = [
    {
      name: "first content is version 1",
      status: undefined,
      hash: "h1",
      want: { version: 1, minted: true, versions: [1] },
    },
    {
      name: "same content keeps its version",
      status: status([1, "h1"]),
      hash: "h1",
      want: { version: 1, minted: false, versions: [1] },
    },
    {
      name: "new content gets the next version, newest first",
      status: status([1, "h1"]),
      hash: "h2",
      want: { version: 2, minted: true, versions: [2, 1] },
    },
    {
      name: "a revert gets the old version back and mints nothing",
      status: status([2, "h2"], [1, "h1"]),
      hash: "h1",
      want: { version: 1, minted: false, versions: [1, 2] },
    },
    {
      name: "after a revert, new content continues after the highest version",
      status: status([1, "h1"], [2, "h2"]),
      hash: "h3",
      want: { version: 3, minted: true, versions: [3, 1, 2] },
    },
    {
      name: "history is bounded but keeps the highest version",
      status: status([1, "h1"], [3, "h3"], [2, "h2"]),
      hash: "h2",
      limit: 2,
      want: { version: 2, minted: false, versions: [2, 3] },
    },
    {
      name: "the counter survives a bounded history",
      status: status([2, "h2"], [1, "h1"]),
      hash: "h9",
      limit: 1,
      want: { version: 3, minted: true, versions: [3] },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const plan = planPromptVersion({
        status: row.status,
        hash: row.hash,
        labels: row.labels ?? [],
        revision: undefined,
        now,
        limit: row.limit ?? 20,
      });
      expect(plan.version).toBe(row.want.version);
      expect(plan.minted).toBe(row.want.minted);
      expect(plan.history.map((e) => e.version)).toEqual(row.want.versions);
    });
  }

  it("records the source revision and first-seen time of a new version only", () => {
    const plan = planPromptVersion({
      status: status([1, "h1"]),
      hash: "h2",
      labels: [],
      revision: "abc123",
      now,
      limit: 20,
    });
    expect(plan.history[0]).toMatchObject({ version: 2, sourceRevision: "abc123", firstSeen: now });
    expect(plan.history[1]).toMatchObject({ version: 1, firstSeen: earlier });
    expect(plan.history[1]?.sourceRevision).toBeUndefined();
  });

  it("moves labels onto the live version", () => {
    const plan = planPromptVersion({
      status: status([2, "h2", ["production", "canary"]], [1, "h1", []]),
      hash: "h1",
      labels: ["production"],
      revision: undefined,
      now,
      limit: 20,
    });
    expect(plan.history.find((e) => e.version === 1)?.labels).toEqual(["production"]);
    expect(plan.history.find((e) => e.version === 2)?.labels).toEqual(["canary"]);
  });
});

describe("planPrompt", () => {
  const spec = (text: string): Prompt["spec"] => ({
    template: { text },
    variables: [{ name: "ticket", required: true }],
    model: { name: "gpt-4o-mini" },
  });
  const object = (text: string, promptStatus?: PromptStatus): StoredObject<Prompt> => ({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: {
      name: "triage",
      namespace: "team-a",
      uid: "u1",
      resourceVersion: "1",
      generation: 2,
    },
    spec: spec(text),
    ...(promptStatus ? { status: promptStatus } : {}),
  });
  const h1 = promptContentHash(spec("v1 {{ticket}}"));
  const h2 = promptContentHash(spec("v2 {{ticket}}"));
  const live = (version: number, hash: string, history: [number, string][]): PromptStatus => ({
    version,
    contentHash: hash,
    history: history.map(([v, contentHash]) => ({ version: v, contentHash, firstSeen: earlier })),
    published: { configMap: { name: "prompt-triage", version } },
  });
  const snapshot = (version: number, hash: string, text: string): PromptSnapshot => ({
    prompt: "triage",
    version,
    contentHash: hash,
    spec: spec(text),
  });

  const rows: {
    name: string;
    object: StoredObject<Prompt>;
    outgoing?: PromptSnapshot;
    want: {
      state: string;
      reason: string;
      version?: number;
      configMaps?: string[];
      prune?: string[];
      events?: string[];
    };
  }[] = [
    {
      name: "an undeclared placeholder stalls and keeps what was published",
      object: object("v1 {{ticket}} {{customer}}", live(1, h1, [[1, h1]])),
      want: { state: "Stalled", reason: "InvalidTemplate", version: 1 },
    },
    {
      name: "a new Prompt publishes version 1, no Event (creation says it)",
      object: object("v1 {{ticket}}"),
      want: {
        state: "Ready",
        reason: "Published",
        version: 1,
        configMaps: ["prompt-triage"],
        prune: [],
        events: [],
      },
    },
    {
      name: "unchanged content rewrites only the published ConfigMap (server-side apply: no-op)",
      object: object("v1 {{ticket}}", live(1, h1, [[1, h1]])),
      want: {
        state: "Ready",
        reason: "Published",
        version: 1,
        configMaps: ["prompt-triage"],
        prune: [],
        events: [],
      },
    },
    {
      name: "new content: the outgoing version's snapshot is kept first, then version 2 is published",
      object: object("v2 {{ticket}}", live(1, h1, [[1, h1]])),
      outgoing: snapshot(1, h1, "v1 {{ticket}}"),
      want: {
        state: "Ready",
        reason: "Published",
        version: 2,
        configMaps: ["prompt-triage-v1", "prompt-triage"],
        prune: [],
        events: ["VersionCreated"],
      },
    },
    {
      name: "a revert gets the old version back",
      object: object(
        "v1 {{ticket}}",
        live(2, h2, [
          [2, h2],
          [1, h1],
        ]),
      ),
      outgoing: snapshot(2, h2, "v2 {{ticket}}"),
      want: {
        state: "Ready",
        reason: "Published",
        version: 1,
        configMaps: ["prompt-triage-v2", "prompt-triage"],
        prune: [],
        events: ["VersionRestored"],
      },
    },
    {
      name: "a published ConfigMap without a matching snapshot (edited) keeps no snapshot",
      object: object("v2 {{ticket}}", live(1, h1, [[1, h1]])),
      outgoing: snapshot(7, h1, "v1 {{ticket}}"),
      want: {
        state: "Ready",
        reason: "Published",
        version: 2,
        configMaps: ["prompt-triage"],
        prune: [],
      },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const plan = planPrompt({ object: row.object, observed: { outgoing: row.outgoing }, now });
      expect(plan.step.outcome).toMatchObject({ state: row.want.state, reason: row.want.reason });
      if (row.want.version !== undefined) expect(plan.step.status.version).toBe(row.want.version);
      if (row.want.configMaps !== undefined) {
        expect(plan.actions?.configMaps.map((c) => c.metadata.name)).toEqual(row.want.configMaps);
      } else {
        expect(plan.actions).toBeUndefined();
      }
      if (row.want.prune !== undefined) expect(plan.actions?.prune).toEqual(row.want.prune);
      if (row.want.events !== undefined) {
        expect(plan.step.events?.map((e) => e.reason)).toEqual(row.want.events);
      }
    });
  }

  it("drops snapshots of versions that leave the bounded history", () => {
    const prompt = object(
      "v2 {{ticket}}",
      live(1, h1, [
        [1, h1],
        [0, "h0"],
      ]),
    );
    prompt.spec.historyLimit = 1;
    const plan = planPrompt({
      object: prompt,
      observed: { outgoing: snapshot(1, h1, "v1 {{ticket}}") },
      now,
    });
    expect(plan.step.status.history?.map((e) => e.version)).toEqual([2]);
    expect(plan.actions?.prune).toEqual(["prompt-triage-v1", "prompt-triage-v0"]);
    expect(plan.actions?.configMaps.map((c) => c.metadata.name)).toEqual(["prompt-triage"]);
  });

  it("asks Langfuse for the content with its labels, and reads the outgoing snapshot only on change", () => {
    const prompt = object("v1 {{ticket}}", live(1, h1, [[1, h1]]));
    prompt.spec.labels = ["production"];
    prompt.spec.publish = {
      langfuse: {
        publicKeySecretRef: { name: "lf", key: "public" },
        secretKeySecretRef: { name: "lf", key: "secret" },
      },
    };
    const plan = planPrompt({ object: prompt, observed: { outgoing: undefined }, now });
    expect(plan.actions?.langfuse).toMatchObject({
      name: "triage",
      contentHash: h1,
      llmopsVersion: 1,
      labels: ["production"],
      template: { text: "v1 {{ticket}}" },
    });
    expect(needsOutgoingSnapshot(prompt)).toBe(false);
    expect(needsOutgoingSnapshot(object("v2 {{ticket}}", live(1, h1, [[1, h1]])))).toBe(true);
  });
});
