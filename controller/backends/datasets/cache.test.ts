// DatasetCache: a read is reused while the source's cacheKey names it, per Experiment uid.
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../../kube/client.js";
import { DatasetCache } from "./cache.js";
import type { DatasetContext, DatasetRead, DatasetSource } from "./source.js";

const context: DatasetContext = { client: {} as KubeClient, namespace: "ns", generation: 1 };

/** A source whose cacheKey and read key are set by the test; it counts its loads. */
class FakeSource implements DatasetSource {
  loads = 0;
  fail: Error | undefined;
  constructor(
    public key: string | undefined,
    public readKey: string | undefined = key,
  ) {}

  cacheKey(): string | undefined {
    return this.key;
  }

  load(): Promise<DatasetRead> {
    this.loads++;
    if (this.fail) return Promise.reject(this.fail);
    const n = this.loads;
    return Promise.resolve({
      key: this.readKey,
      loaded: { items: [{ id: String(n), vars: {} }], source: { source: "fake", items: 1 } },
    });
  }
}

const firstItem = async (cache: DatasetCache, uid: string, source: DatasetSource) =>
  (await cache.load(uid, source, context)).items[0]?.id;

describe("DatasetCache", () => {
  it("reuses a read while the key is unchanged, reads again when it changes", async () => {
    const cache = new DatasetCache();
    const source = new FakeSource("commit-a");
    expect(await firstItem(cache, "uid-1", source)).toBe("1");
    expect(await firstItem(cache, "uid-1", source)).toBe("1");
    source.key = source.readKey = "commit-b";
    expect(await firstItem(cache, "uid-1", source)).toBe("2");
    expect(source.loads).toBe(2);
  });

  it("an unknown key reads, and keeps the key of the read (a Hub revision, pinned next)", async () => {
    const cache = new DatasetCache();
    const source = new FakeSource(undefined, "main@c0ffee");
    expect(await firstItem(cache, "uid-1", source)).toBe("1");
    expect(await firstItem(cache, "uid-1", source)).toBe("2");
    source.key = "main@c0ffee"; // status.dataset now pins the commit
    expect(await firstItem(cache, "uid-1", source)).toBe("2");
    expect(source.loads).toBe(2);
  });

  it("keeps nothing for a source that names no read; drops what an earlier one left", async () => {
    const cache = new DatasetCache();
    await cache.load("uid-1", new FakeSource("k"), context);
    expect(cache.size).toBe(1);
    const every = new FakeSource(undefined, undefined);
    await cache.load("uid-1", every, context);
    await cache.load("uid-1", every, context);
    expect(every.loads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it("keeps one read per uid, and forgets one", async () => {
    const cache = new DatasetCache();
    const source = new FakeSource("k");
    await cache.load("uid-1", source, context);
    await cache.load("uid-2", source, context);
    expect(source.loads).toBe(2);
    cache.forget("uid-1");
    await cache.load("uid-1", source, context);
    await cache.load("uid-2", source, context);
    expect(source.loads).toBe(3);
  });

  it("a failed load rejects and leaves the kept read as it was", async () => {
    const cache = new DatasetCache();
    const source = new FakeSource("k");
    await cache.load("uid-1", source, context);
    const other = new FakeSource("k2");
    other.fail = new Error("hub down");
    await expect(cache.load("uid-1", other, context)).rejects.toThrow("hub down");
    expect(await firstItem(cache, "uid-1", source)).toBe("1");
    expect(source.loads).toBe(1);
  });

  it("pins what it read for a generation until status shows the pin (the cache may lag)", async () => {
    const cache = new DatasetCache();
    let loads = 0;
    const pinnedSource: DatasetSource = {
      cacheKey: (c) =>
        c.pinned?.generation === c.generation && c.pinned.revision !== undefined
          ? `hf@${c.pinned.revision}`
          : undefined,
      load: (c) => {
        loads++;
        const revision = `c${String(loads)}`;
        return Promise.resolve({
          key: `hf@${revision}`,
          loaded: {
            items: [],
            source: { source: "hf", revision, generation: c.generation, items: 0 },
          },
        });
      },
    };
    await cache.load("uid-1", pinnedSource, context);
    // status.dataset is not written yet (or not seen yet): the read of this generation holds.
    await cache.load("uid-1", pinnedSource, context);
    expect(loads).toBe(1);
    // A stale pin from an earlier generation does not override this generation's read.
    const stale = { source: "hf", revision: "old", generation: 0, items: 0 };
    await cache.load("uid-1", pinnedSource, { ...context, pinned: stale });
    expect(loads).toBe(1);
    // A new generation resolves the revision again.
    await cache.load("uid-1", pinnedSource, { ...context, generation: 2 });
    expect(loads).toBe(2);
  });
});
