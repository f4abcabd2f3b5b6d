import { describe, expect, it } from "vitest";
import type { PromptStatus } from "../../api/generated/index.js";
import { planPromptVersion } from "./plan.js";

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
