import { describe, expect, it } from "vitest";
import { pinpoint } from "./pinpoint.js";
import type { Json } from "./structural.js";

describe("pinpoint", () => {
  it.each<[string, string, Json, (string | number)[][]]>([
    [
      "a duplicate name",
      "self.all(v, self.exists_one(w, w.name == v.name))",
      [{ name: "a" }, { name: "b" }, { name: "a" }],
      [["l", 2, "name"]],
    ],
    [
      "the second control",
      "self.filter(v, v.control).size() == 1",
      [{ control: true }, { control: false }, { control: true }],
      [["l", 2, "control"]],
    ],
    [
      "no control: nothing to point at",
      "self.filter(v, v.control).size() == 1",
      [{ control: false }],
      [],
    ],
    [
      "the step whose weight goes down",
      "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
      [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }, { setWeight: 20 }],
      [["l", 3, "setWeight"]],
    ],
    [
      "the second of two exclusive fields",
      "has(self.text) != has(self.messages)",
      { text: "x", messages: [] },
      [["l", "messages"]],
    ],
    [
      "extra sources",
      "(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) +\n (has(self.c) ? 1 : 0) == 1",
      { a: {}, b: {}, c: {} },
      [
        ["l", "b"],
        ["l", "c"],
      ],
    ],
    [
      "a reference to an entry that does not exist",
      "!has(self.traffic) || self.traffic.weights.all(w, self.variants.exists(v, v.name == w.variant))",
      { variants: [{ name: "a" }], traffic: { weights: [{ variant: "a" }, { variant: "z" }] } },
      [["l", "traffic", "weights", 1, "variant"]],
    ],
    [
      "an analysis step naming an undefined metric",
      "!has(self.analysis) || self.steps.all(s, !has(s.analysis) || s.analysis.metrics.all(m, self.analysis.metrics.exists(d, d.name == m)))",
      {
        steps: [{ analysis: { metrics: ["ok", "nope"] } }],
        analysis: { metrics: [{ name: "ok" }] },
      },
      [["l", "steps", 0, "analysis", "metrics", 1]],
    ],
    ["a rule of another shape", "self.weights.map(w, w.weight).sum() == 100", [{ weight: 1 }], []],
  ])("%s", (_name, rule, self, paths) => {
    expect(pinpoint(rule, self, ["l"]).map((p) => p.path)).toEqual(paths);
  });
});
