import { describe, expect, it } from "vitest";
import { parseConcurrency, parseNamespaces } from "./controller.js";

describe("--namespaces", () => {
  const cases = [
    { name: "one", value: "team-a", want: ["team-a"] },
    {
      name: "several, spaces and duplicates",
      value: " team-a, team-b ,team-a",
      want: ["team-a", "team-b"],
    },
    { name: "empty means all", value: "", want: [] },
  ];
  it.each(cases)("$name", ({ value, want }) => {
    expect(parseNamespaces(value)).toEqual(want);
  });
  it("rejects invalid names", () => {
    expect(() => parseNamespaces("Team_A")).toThrow(/not a valid namespace name/);
  });
});

describe("--concurrency", () => {
  const cases: {
    name: string;
    value: string;
    previous: Record<string, number>;
    want: Record<string, number>;
  }[] = [
    { name: "one kind", value: "Prompt=4", previous: {}, want: { Prompt: 4 } },
    {
      name: "comma list",
      value: "Prompt=4, Experiment=2",
      previous: {},
      want: { Prompt: 4, Experiment: 2 },
    },
    {
      name: "repeated flag accumulates",
      value: "Experiment=2",
      previous: { Prompt: 4 },
      want: { Prompt: 4, Experiment: 2 },
    },
    { name: "later wins", value: "Prompt=8", previous: { Prompt: 4 }, want: { Prompt: 8 } },
  ];
  it.each(cases)("$name", ({ value, previous, want }) => {
    expect(parseConcurrency(value, previous)).toEqual(want);
  });
  it.each(["Prompt", "Prompt=0", "Prompt=-1", "=3", "Prompt=x"])("rejects %s", (value) => {
    expect(() => parseConcurrency(value)).toThrow(/expected kind=n/);
  });
});
