import { describe, expect, it } from "vitest";
import type { StoredObject } from "../kube/resources.js";
import {
  StringPool,
  childDigest,
  childDigestOf,
  childUpToDate,
  childView,
  compactObject,
  contentDigest,
  ExpectedCreates,
  lastAppliedAnnotation,
  matchesLabelSelector,
} from "./cache-views.js";

const owner = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  name: "triage",
  uid: "u-1",
  controller: true,
  blockOwnerDeletion: true,
};

function storedConfigMap(data: Record<string, string>): StoredObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "prompt-triage",
      namespace: "team",
      uid: "cm-1",
      resourceVersion: "7",
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { "app.kubernetes.io/managed-by": "llmops", "llmops.dev/prompt": "triage" },
      annotations: { "llmops.dev/version": "1" },
      ownerReferences: [owner],
      managedFields: [{ manager: "llmops-controller", operation: "Apply" }],
    },
    // The apiserver returns keys sorted; the desired object has them in writing order.
    data: Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b))),
  };
}

const desired = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "prompt-triage",
    namespace: "team",
    labels: { "app.kubernetes.io/managed-by": "llmops", "llmops.dev/prompt": "triage" },
    annotations: { "llmops.dev/version": "1" },
    ownerReferences: [owner],
  },
  data: { "prompt.json": "{}", ".llmops-snapshot.json": "{}" },
};

describe("childView and childUpToDate", () => {
  const view = childView(new StringPool());

  it("keeps identity, the controller and a digest; drops data, labels and managedFields", () => {
    const cached = view(storedConfigMap(desired.data));
    expect(cached.data).toBeUndefined();
    expect(cached.metadata.managedFields).toBeUndefined();
    expect(cached.metadata.labels).toBeUndefined();
    expect(cached.metadata.ownerReferences).toEqual([owner]);
    expect((cached as { [childDigest]?: string })[childDigest]).toBe(childDigestOf(desired));
    expect(contentDigest(desired)).toBe(contentDigest(storedConfigMap(desired.data)));
  });

  const rows: { name: string; cached: StoredObject | undefined; want: boolean }[] = [
    { name: "same content, any key order", cached: storedConfigMap(desired.data), want: true },
    {
      name: "data edited by hand",
      cached: storedConfigMap({ ...desired.data, "prompt.json": "{ }" }),
      want: false,
    },
    {
      name: "a key added by someone else",
      cached: storedConfigMap({ ...desired.data, extra: "x" }),
      want: false,
    },
    { name: "not cached", cached: undefined, want: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(childUpToDate(desired, row.cached && view(row.cached))).toBe(row.want);
    });
  }

  it("differs when an annotation, a label or the owner differs, or it is being deleted", () => {
    const base = storedConfigMap(desired.data);
    const variants: StoredObject[] = [
      { ...base, metadata: { ...base.metadata, annotations: { "llmops.dev/version": "2" } } },
      { ...base, metadata: { ...base.metadata, labels: { "llmops.dev/prompt": "triage" } } },
      { ...base, metadata: { ...base.metadata, ownerReferences: [{ ...owner, uid: "u-2" }] } },
      { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-01-01T00:00:01Z" } },
    ];
    for (const variant of variants) expect(childUpToDate(desired, view(variant))).toBe(false);
  });

  it("never counts an object without a digest (a full or metadata-only cache) as up to date", () => {
    expect(childUpToDate(desired, storedConfigMap(desired.data))).toBe(false);
  });
});

describe("compactObject", () => {
  it("drops managedFields and last-applied, keeps the rest, shares equal strings", () => {
    const compact = compactObject(new StringPool());
    const make = (name: string): StoredObject => ({
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: {
        name,
        uid: `uid-${name}`,
        resourceVersion: "1",
        annotations: { [lastAppliedAnnotation]: "{...}", "llmops.dev/revision": "abc" },
        managedFields: [{ manager: "kubectl" }],
      },
      spec: { model: { name: ["gpt", "4o"].join("-") } },
    });
    const a = compact(make("a"));
    const b = compact(make("b"));
    expect(a.metadata).toEqual({
      name: "a",
      uid: "uid-a",
      resourceVersion: "1",
      annotations: { "llmops.dev/revision": "abc" },
    });
    expect(a.spec).toEqual({ model: { name: "gpt-4o" } });
    expect(b.metadata.name).toBe("b");
  });

  it("the pool stays bounded", () => {
    const pool = new StringPool({ maxEntries: 10 });
    for (let i = 0; i < 100; i++) pool.intern(`name-${String(i)}`);
    expect(pool.size).toBeLessThanOrEqual(10);
    expect(pool.intern("x".repeat(200))).toHaveLength(200);
  });
});

describe("matchesLabelSelector", () => {
  const labels = { a: "1", b: "2" };
  const rows: [string | undefined, boolean][] = [
    [undefined, true],
    ["", true],
    ["a", true],
    ["c", false],
    ["!c", true],
    ["!a", false],
    ["a=1", true],
    ["a==1", true],
    ["a=2", false],
    ["a!=2", true],
    ["a!=1", false],
    ["a=1,b=2", true],
    ["a=1,b=3", false],
    ["a in (1,2)", false],
  ];
  for (const [selector, want] of rows) {
    it(`${String(selector)} → ${String(want)}`, () => {
      expect(matchesLabelSelector(labels, selector)).toBe(want);
    });
  }
});

describe("ExpectedCreates", () => {
  it("matches the ADDED event of our own create once, by resourceVersion", () => {
    const creates = new ExpectedCreates();
    creates.begin("ns/a");
    creates.created("ns/a", "10");
    expect(creates.settle("ns/b", "10")).toBe(false);
    expect(creates.settle("ns/a", "11")).toBe(false); // someone else's version: not ours
    expect(creates.size).toBe(0); // settled by that event either way
    creates.begin("ns/a");
    creates.created("ns/a", "12");
    expect(creates.settle("ns/a", "12")).toBe(true);
    expect(creates.settle("ns/a", "12")).toBe(false); // only once
  });

  it("an event that comes before the create's response is ours too, and settles it", () => {
    const creates = new ExpectedCreates();
    creates.begin("ns/a");
    expect(creates.settle("ns/a", "10")).toBe(true);
    creates.created("ns/a", "10");
    expect(creates.size).toBe(0);
    creates.begin("ns/b");
    creates.created("ns/b", undefined); // the create failed: nothing is expected
    expect(creates.settle("ns/b", "11")).toBe(false);
  });

  it("forgets the oldest expectations beyond maxEntries", () => {
    const creates = new ExpectedCreates({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) {
      creates.begin(`ns/c-${String(i)}`);
      creates.created(`ns/c-${String(i)}`, String(i));
    }
    expect(creates.size).toBe(3);
    expect(creates.settle("ns/c-0", "0")).toBe(false);
    expect(creates.settle("ns/c-9", "9")).toBe(true);
    creates.begin("ns/c-7"); // a newer create of a key moves it to the back
    creates.begin("ns/d");
    creates.begin("ns/e"); // four: the oldest, c-8, goes
    expect(creates.size).toBe(3);
    expect(creates.settle("ns/c-8", "8")).toBe(false);
    expect(creates.settle("ns/c-7", "70")).toBe(true);
  });
});
