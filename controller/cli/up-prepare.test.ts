import { describe, expect, it } from "vitest";
import { parsePrepareFile, PrepareFileError } from "./up-prepare.js";

describe("parsePrepareFile", () => {
  it("reads models with their create options as llmops-create-model flags", () => {
    const plan = parsePrepareFile(
      [
        "models:",
        "  - path: .llmops/models/tiny-llama",
        "    create:",
        "      data: examples/local/data/tickets-train.jsonl",
        "      layers: 4",
        "      seed: 7",
      ].join("\n"),
      "x.yaml",
    );
    expect(plan).toEqual({
      models: [
        {
          path: ".llmops/models/tiny-llama",
          data: "examples/local/data/tickets-train.jsonl",
          args: ["--layers", "4", "--seed", "7"],
        },
      ],
    });
  });

  it.each([
    { name: "an empty file", text: "" },
    { name: "only comments", text: "# nothing\n" },
    { name: "no models", text: "models: []\n" },
  ])("$name prepares nothing", ({ text }) => {
    expect(parsePrepareFile(text, "x.yaml")).toEqual({ models: [] });
  });

  it.each([
    { name: "not YAML", text: "models: [", want: /x.yaml: not valid YAML/ },
    { name: "a list at the top", text: "- a\n", want: /x.yaml: expected a mapping/ },
    { name: "an unknown top-level field", text: "modles: []\n", want: /modles: unknown field/ },
    { name: "models not a list", text: "models: 3\n", want: /models: expected a list/ },
    {
      name: "a model without path",
      text: "models:\n  - create: {data: d.jsonl}\n",
      want: /models\[0\]\.path: required/,
    },
    {
      name: "a model without create",
      text: "models:\n  - path: m\n",
      want: /models\[0\]\.create: required/,
    },
    {
      name: "create without data",
      text: "models:\n  - path: m\n    create: {layers: 2}\n",
      want: /models\[0\]\.create\.data: required/,
    },
    {
      name: "an unknown create option",
      text: "models:\n  - path: m\n    create: {data: d, depth: 2}\n",
      want: /models\[0\]\.create\.depth: unknown field \(use data, vocabSize/,
    },
    {
      name: "a non-integer option",
      text: "models:\n  - path: m\n    create: {data: d, layers: two}\n",
      want: /models\[0\]\.create\.layers: expected a non-negative integer/,
    },
    {
      name: "a path out of the working tree",
      text: "models:\n  - path: ../elsewhere\n    create: {data: d}\n",
      want: /models\[0\]\.path: must stay inside the working tree/,
    },
  ])("refuses $name, naming the file and the field", ({ text, want }) => {
    expect(() => parsePrepareFile(text, "x.yaml")).toThrow(PrepareFileError);
    expect(() => parsePrepareFile(text, "x.yaml")).toThrow(want);
  });

  it("reports every problem at once", () => {
    let message = "";
    try {
      parsePrepareFile("models:\n  - path: ''\n  - path: m\n", "x.yaml");
    } catch (err: unknown) {
      message = (err as Error).message;
    }
    expect(message).toContain("models[0].path: required");
    expect(message).toContain("models[1].create: required");
  });
});
