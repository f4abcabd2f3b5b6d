// The dataset source table and the parts of each source that need no I/O: which source a spec
// names, what each would read (cacheKey, the Hub commit pinned per generation), inline items.
import { describe, expect, it } from "vitest";
import type { ExperimentDataset } from "../../api/generated/index.js";
import type { KubeClient } from "../../kube/client.js";
import { DatasetError } from "./items.js";
import { datasetSourceFor } from "./registry.js";
import type { DatasetContext } from "./source.js";

const secretRefs = {
  publicKeySecretRef: { name: "lf", key: "public" },
  secretKeySecretRef: { name: "lf", key: "secret" },
};
const hub: ExperimentDataset = { huggingFace: { repo: "acme/arith", file: "data/test.jsonl" } };
const where = "hf://datasets/acme/arith/data/test.jsonl";

function context(overrides: Partial<DatasetContext> = {}): DatasetContext {
  // The sources below never reach the API: inline items, and cacheKey, which does no I/O.
  return { client: {} as KubeClient, namespace: "team-a", generation: 3, ...overrides };
}

describe("datasetSourceFor: cacheKey", () => {
  it.each([
    { name: "inline: read every time", dataset: { inline: { items: [] } }, want: undefined },
    { name: "configMap: read every time", dataset: { configMap: { name: "qa" } }, want: undefined },
    { name: "hub, nothing pinned yet: resolve the revision", dataset: hub, want: undefined },
    {
      name: "hub, commit pinned for this generation: that commit",
      dataset: hub,
      pinned: { source: where, revision: "c0ffee", generation: 3, items: 20 },
      want: `${where}@c0ffee`,
    },
    {
      name: "hub, pinned for an earlier generation: resolve again",
      dataset: hub,
      pinned: { source: where, revision: "c0ffee", generation: 2, items: 20 },
      want: undefined,
    },
    {
      name: "hub, pinned for another file: resolve again",
      dataset: hub,
      pinned: { source: "hf://datasets/acme/arith/other.jsonl", revision: "c0ffee", generation: 3 },
      want: undefined,
    },
    {
      name: "langfuse: the dataset for this generation",
      dataset: { langfuse: { name: "golden", baseURL: "http://lf", ...secretRefs } },
      want: "http://lf/golden#3",
    },
    {
      name: "langfuse without baseURL",
      dataset: { langfuse: { name: "golden", ...secretRefs } },
      want: "/golden#3",
    },
  ] satisfies {
    name: string;
    dataset: ExperimentDataset;
    pinned?: DatasetContext["pinned"];
    want: string | undefined;
  }[])("$name", ({ dataset, pinned, want }) => {
    expect(datasetSourceFor(dataset).cacheKey(context({ pinned }))).toBe(want);
  });
});

describe("datasetSourceFor: inline", () => {
  it("settles ids, applies the limit, and says where the items came from", async () => {
    const source = datasetSourceFor({
      inline: { items: [{ id: "a", vars: { q: "1" }, expected: "2" }, { vars: {} }, { vars: {} }] },
      limit: 2,
    });
    await expect(source.load(context())).resolves.toEqual({
      key: undefined,
      loaded: {
        items: [
          { id: "a", vars: { q: "1" }, expected: "2" },
          { id: "1", vars: {} },
        ],
        source: { source: "spec.dataset.inline", generation: 3, items: 2 },
      },
    });
  });

  it.each([
    { name: "no items", items: [], message: "spec.dataset.inline: the dataset has no items" },
    {
      name: "duplicate ids",
      items: [
        { id: "x", vars: {} },
        { id: "x", vars: {} },
      ],
      message: 'spec.dataset.inline: item id "x" occurs twice',
    },
  ])("$name → DatasetError", async ({ items, message }) => {
    const load = datasetSourceFor({ inline: { items } }).load(context());
    await expect(load).rejects.toThrow(DatasetError);
    await expect(load).rejects.toThrow(message);
  });
});

describe("datasetSourceFor: no source", () => {
  it("is a DatasetError that lists the sources", () => {
    expect(() => datasetSourceFor({ limit: 3 })).toThrow(
      new DatasetError("spec.dataset: set one of inline, configMap, huggingFace or langfuse"),
    );
  });
});
