import { describe, expect, it } from "vitest";
import type { OpenApiSchema } from "../schema.js";
import { applyDefaults, pruneUnknownFields, type Json } from "./structural.js";

const schema: OpenApiSchema = {
  type: "object",
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: {
      type: "object",
      properties: {
        mode: { type: "string", default: "fast" },
        nested: {
          type: "object",
          default: {},
          properties: { level: { type: "integer", default: 3 }, note: { type: "string" } },
        },
        items: {
          type: "array",
          items: { type: "object", properties: { on: { type: "boolean", default: true } } },
        },
        free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        labels: { type: "object", additionalProperties: { type: "string" } },
      },
    },
  },
};

describe("pruneUnknownFields", () => {
  it("reports and removes undeclared fields, leaving apiVersion/kind/metadata and preserved ones", () => {
    const object: Record<string, Json> = {
      apiVersion: "v",
      kind: "K",
      metadata: { name: "x", whatever: 1 },
      extra: 1,
      spec: {
        mode: "slow",
        typo: 2,
        items: [{ on: false, off: 1 }],
        free: { any: { deep: 1 } },
        labels: { a: "b" },
      },
    };
    expect(pruneUnknownFields(object, schema)).toEqual([
      ["extra"],
      ["spec", "typo"],
      ["spec", "items", 0, "off"],
    ]);
    expect(object).toEqual({
      apiVersion: "v",
      kind: "K",
      metadata: { name: "x", whatever: 1 },
      spec: {
        mode: "slow",
        items: [{ on: false }],
        free: { any: { deep: 1 } },
        labels: { a: "b" },
      },
    });
  });
});

describe("applyDefaults", () => {
  it.each<[string, Json, Json]>([
    [
      "fills missing fields, then the defaults inside a defaulted object",
      {},
      { mode: "fast", nested: { level: 3 } },
    ],
    [
      "keeps values that are set",
      { mode: "slow", nested: { level: 1 } },
      { mode: "slow", nested: { level: 1 } },
    ],
    [
      "replaces a null that has a default",
      { mode: null, nested: null },
      { mode: "fast", nested: { level: 3 } },
    ],
    [
      "leaves a null without a default for validation to reject",
      { nested: { note: null } },
      { mode: "fast", nested: { level: 3, note: null } },
    ],
    [
      "defaults inside list items",
      { items: [{}, { on: false }] },
      { mode: "fast", nested: { level: 3 }, items: [{ on: true }, { on: false }] },
    ],
  ])("%s", (_name, spec, want) => {
    const object: Json = { spec };
    applyDefaults(object, schema);
    expect(object).toEqual({ spec: want });
  });

  it("does not share default values between objects", () => {
    const a: Json = { spec: {} };
    const b: Json = { spec: {} };
    applyDefaults(a, schema);
    applyDefaults(b, schema);
    (a.spec as { nested: { level: number } }).nested.level = 9;
    expect(b).toEqual({ spec: { mode: "fast", nested: { level: 3 } } });
  });
});
