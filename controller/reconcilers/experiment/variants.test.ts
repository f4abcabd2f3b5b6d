import { describe, expect, it } from "vitest";
import type {
  Experiment,
  ExperimentVariant,
  ModelDeployment,
  Prompt,
} from "../../api/generated/index.js";
import { promptContentHash } from "../../prompts/content.js";
import type { PromptSnapshot } from "../../prompts/snapshots.js";
import { runIdOf } from "./observed.js";
import {
  canaryMoved,
  deploymentEndpoint,
  itemVariables,
  missingVariables,
  pinnedVersion,
  renderMessages,
  resolveVariant,
} from "./variants.js";

function prompt(options: { version?: number; stale?: boolean; labels?: string[] } = {}): Prompt {
  const spec: Prompt["spec"] = {
    template: {
      messages: [
        { role: "system", content: "Answer for {{product}}." },
        { role: "user", content: "{{question}} <{{note}}>" },
      ],
    },
    variables: [
      { name: "product", default: "Acme" },
      { name: "question", required: true },
      { name: "note", required: false },
    ],
    model: {
      name: "gpt-4o-mini",
      endpoint: { baseURL: "http://llm/v1" },
      parameters: { temperature: 0.2, maxTokens: 50 },
    },
    labels: options.labels ?? ["production"],
  };
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: "qa", namespace: "ns" },
    spec,
    status: {
      version: options.version ?? 4,
      contentHash: options.stale ? "sha256:old" : promptContentHash(spec),
      history: [
        { version: 4, contentHash: "h4", labels: options.labels ?? ["production"] },
        { version: 3, contentHash: "h3", labels: ["staging"] },
      ],
    },
  };
}

const variant = (p: ExperimentVariant["prompt"], model?: ExperimentVariant["model"]) =>
  ({ name: "v", prompt: p, ...(model ? { model } : {}) }) as ExperimentVariant;

describe("resolveVariant", () => {
  it.each([
    [
      "no Prompt (yet)",
      variant({ name: "qa" }),
      undefined,
      "wait",
      "PromptNotFound",
      /does not exist/,
    ],
    [
      "not versioned yet",
      variant({ name: "qa" }),
      prompt({ stale: true }),
      "wait",
      "PromptNotReady",
      /waiting/,
    ],
    [
      "an old version without its snapshot",
      variant({ name: "qa", version: 3 }),
      prompt(),
      "stall",
      "PromptVersionUnavailable",
      /content of version 3 of Prompt qa is not available \(ConfigMap prompt-qa-v3 is missing/,
    ],
    [
      "a label on an old version without its snapshot",
      variant({ name: "qa", label: "staging" }),
      prompt(),
      "stall",
      "PromptVersionUnavailable",
      /content of version 3 of Prompt qa/,
    ],
    [
      "a version that is not in the history",
      variant({ name: "qa", version: 2 }),
      prompt(),
      "stall",
      "PromptVersionUnavailable",
      /has no version 2 in its history \(versions: 4, 3\)/,
    ],
    [
      "an unknown label",
      variant({ name: "qa", label: "canary" }),
      prompt(),
      "stall",
      "PromptVersionUnavailable",
      /has no version labelled canary/,
    ],
  ])("%s", (_name, v, p, kind, reason, message) => {
    const r = resolveVariant(v, 0, p);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toMatchObject({ kind, reason });
      expect(r.problem.message).toMatch(message);
    }
  });

  it("resolves the live version by label, version or neither, with the model override", () => {
    for (const ref of [
      { name: "qa" },
      { name: "qa", version: 4 },
      { name: "qa", label: "production" },
    ]) {
      const r = resolveVariant(
        variant(ref, { name: "gpt-4o", parameters: { temperature: 0 } }),
        0,
        prompt(),
      );
      expect(r.ok && r.variant).toMatchObject({
        promptVersion: 4,
        model: "gpt-4o",
        temperature: 0,
        maxTokens: 50,
        endpoint: { baseURL: "http://llm/v1" },
      });
    }
  });
});

describe("pinned versions", () => {
  const old: PromptSnapshot = {
    prompt: "qa",
    version: 3,
    contentHash: "h3",
    spec: {
      template: { text: "Old: {{question}}" },
      variables: [{ name: "question" }],
      model: { name: "gpt-3.5-turbo", endpoint: { baseURL: "http://old/v1" } },
    },
  };
  it.each([
    ["by version", { name: "qa", version: 3 }],
    ["by a label the live version does not carry", { name: "qa", label: "staging" }],
  ])("%s: runs the snapshot's content, not the live spec", (_name, ref) => {
    expect(pinnedVersion(variant(ref), 0, prompt())).toEqual({ ok: true, live: false, version: 3 });
    const r = resolveVariant(variant(ref), 0, prompt(), old);
    expect(r.ok && r.variant).toMatchObject({
      promptVersion: 3,
      promptHash: "h3",
      template: { text: "Old: {{question}}" },
      model: "gpt-3.5-turbo",
      endpoint: { baseURL: "http://old/v1" },
    });
  });
  it("refuses a snapshot of another version", () => {
    const r = resolveVariant(variant({ name: "qa", version: 3 }), 0, prompt(), {
      ...old,
      version: 2,
    });
    expect(r.ok).toBe(false);
  });
  it("the live version needs no snapshot", () => {
    expect(pinnedVersion(variant({ name: "qa", label: "production" }), 0, prompt())).toEqual({
      ok: true,
      live: true,
      version: 4,
    });
  });
});

describe("rendering", () => {
  const resolved = (() => {
    const r = resolveVariant(variant({ name: "qa" }), 0, prompt());
    if (!r.ok) throw new Error("unexpected");
    return r.variant;
  })();
  it("fills defaults, stringifies values, does not HTML-escape", () => {
    const vars = itemVariables(resolved, {
      id: "1",
      vars: { question: "Is 1 < 2 & 3 > 2?", note: { a: 1 } },
    });
    expect(vars.ok).toBe(true);
    if (!vars.ok) return;
    expect(renderMessages(resolved, vars.view)).toEqual([
      { role: "system", content: "Answer for Acme." },
      { role: "user", content: 'Is 1 < 2 & 3 > 2? <{"a":1}>' },
    ]);
  });
  it("reports items without a required variable", () => {
    expect(missingVariables([resolved], [{ id: "7", vars: {} }])).toEqual([
      "dataset item 7 has no value for question, required by Prompt qa (variant v)",
    ]);
  });
});

describe("a variant served by a ModelDeployment", () => {
  const deployment = (
    revisions: { name: string; ready: boolean; url?: string }[],
    stable?: string,
    canary?: string,
  ): ModelDeployment => ({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "coder", namespace: "ns" },
    spec: { model: { huggingFace: { repo: "acme/coder" } }, runtime: { port: 8080 } },
    status: {
      ...(stable ? { stableRevision: stable } : {}),
      ...(canary ? { canaryRevision: canary } : {}),
      revisions,
    },
  });
  const following = (role: "Stable" | "Canary") =>
    variant({ name: "qa" }, { name: "coder", modelDeployment: { name: "coder", role } });
  const served = (revision?: string) =>
    variant(
      { name: "qa" },
      { name: "coder", modelDeployment: { name: "coder", ...(revision ? { revision } : {}) } },
    );

  it.each([
    ["no such ModelDeployment yet", undefined, undefined, /ModelDeployment coder does not exist/],
    ["no stable revision yet", deployment([]), undefined, /has no stable revision yet/],
    [
      "a revision it does not run",
      deployment([{ name: "coder-a", ready: true }], "coder-a"),
      "coder-b",
      /runs no revision coder-b \(revisions: coder-a\)/,
    ],
    [
      "a revision not ready yet",
      deployment([{ name: "coder-a", ready: false }], "coder-a"),
      undefined,
      /revision coder-a of ModelDeployment coder is not ready yet/,
    ],
  ])("waits (not stalled) when %s", (_name, md, revision, message) => {
    const resolution = resolveVariant(served(revision), 0, prompt(), undefined, md);
    expect(resolution.ok).toBe(false);
    if (resolution.ok) return;
    expect(resolution.problem).toMatchObject({ kind: "wait", reason: "ModelDeploymentNotReady" });
    expect(resolution.problem.message).toMatch(message);
  });

  it("calls the stable revision's Service, or the named one (a canary)", () => {
    const md = deployment(
      [
        { name: "coder-a", ready: true },
        { name: "coder-b", ready: true },
      ],
      "coder-a",
    );
    const stable = resolveVariant(served(), 0, prompt(), undefined, md);
    expect(stable.ok && stable.variant.endpoint).toEqual({
      baseURL: "http://coder-a.ns.svc:8080/v1",
    });
    expect(stable.ok && stable.variant.model).toBe("coder");
    const canary = resolveVariant(served("coder-b"), 0, prompt(), undefined, md);
    expect(canary.ok && canary.variant.endpoint.baseURL).toBe("http://coder-b.ns.svc:8080/v1");
    expect(deploymentEndpoint({ name: "coder" }, md)).toEqual({
      ok: true,
      endpoint: { baseURL: "http://coder-a.ns.svc:8080/v1" },
      revision: "coder-a",
    });
    expect(stable.ok && stable.variant.revision).toBe("coder-a");
    expect(canary.ok && canary.variant.revision).toBe("coder-b");
  });

  it("follows the canary by role: the revision being rolled out, waiting while there is none", () => {
    const before = deployment([{ name: "coder-a", ready: true }], "coder-a");
    const waiting = resolveVariant(following("Canary"), 0, prompt(), undefined, before);
    expect(waiting.ok).toBe(false);
    expect(!waiting.ok && waiting.problem).toEqual({
      kind: "wait",
      reason: "ModelDeploymentNotReady",
      message:
        "spec.variants[0].model.modelDeployment: ModelDeployment coder has no canary revision yet (a rollout starts one when its spec changes)",
    });
    const rolling = deployment(
      [
        { name: "coder-a", ready: true },
        { name: "coder-b", ready: false },
      ],
      "coder-a",
      "coder-b",
    );
    const notReady = resolveVariant(following("Canary"), 0, prompt(), undefined, rolling);
    expect(!notReady.ok && notReady.problem.message).toMatch(
      /revision coder-b of ModelDeployment coder is not ready yet/,
    );
    const ready = deployment(
      [
        { name: "coder-a", ready: true },
        { name: "coder-b", ready: true },
      ],
      "coder-a",
      "coder-b",
    );
    const canary = resolveVariant(following("Canary"), 0, prompt(), undefined, ready);
    expect(canary.ok && canary.variant.endpoint.baseURL).toBe("http://coder-b.ns.svc:8080/v1");
    expect(canary.ok && canary.variant.revision).toBe("coder-b");
    const stable = resolveVariant(following("Stable"), 0, prompt(), undefined, ready);
    expect(stable.ok && stable.variant.revision).toBe("coder-a");
  });

  it("a new canary is a new run, and moves a finished run on; a gone canary does not", () => {
    const md = (canary?: string) =>
      deployment(
        [
          { name: "coder-a", ready: true },
          { name: "coder-b", ready: true },
          { name: "coder-c", ready: true },
        ],
        "coder-a",
        canary,
      );
    const spec = {
      variants: [
        { ...following("Stable"), name: "base", control: true },
        { ...following("Canary"), name: "finetuned" },
      ],
      evaluators: [{ name: "exact", type: "exactMatch" as const }],
      dataset: { inline: { items: [{ id: "1", vars: { question: "q" } }] } },
    };
    const experiment = (finetunedOn?: string): Experiment => ({
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "e", namespace: "ns", generation: 1 },
      spec,
      status: {
        observedGeneration: 1,
        phase: "Completed",
        results: [
          { variant: "base", revision: "coder-a" },
          { variant: "finetuned", ...(finetunedOn ? { revision: finetunedOn } : {}) },
        ],
      },
    });
    const runId = (deploymentNow: ModelDeployment) => {
      const resolved = spec.variants.map((v, i) => {
        const r = resolveVariant(v, i, prompt(), undefined, deploymentNow);
        if (!r.ok) throw new Error(r.problem.message);
        return r.variant;
      });
      return runIdOf(experiment(), resolved, [{ id: "1", vars: { question: "q" } }]);
    };
    expect(runId(md("coder-b"))).not.toBe(runId(md("coder-c")));
    expect(runId(md("coder-b"))).toBe(runId(md("coder-b")));

    expect(canaryMoved(experiment("coder-b"), () => md("coder-b"))).toBe(false);
    expect(canaryMoved(experiment("coder-b"), () => md("coder-c"))).toBe(true);
    // Promoted or rolled back: no canary now, the finished run stays.
    expect(canaryMoved(experiment("coder-b"), () => md())).toBe(false);
    expect(canaryMoved(experiment("coder-b"), () => undefined)).toBe(false);
    // Results written before revisions were recorded stay as they are.
    expect(canaryMoved(experiment(), () => md("coder-c"))).toBe(false);
  });

  it("calls the URL a revision's status reports (a local process), when there is one", () => {
    const md = deployment(
      [
        { name: "coder-a", ready: true, url: "http://127.0.0.1:41001/v1" },
        { name: "coder-b", ready: true, url: "http://127.0.0.1:41002/v1" },
      ],
      "coder-a",
    );
    expect(deploymentEndpoint({ name: "coder" }, md)).toEqual({
      ok: true,
      endpoint: { baseURL: "http://127.0.0.1:41001/v1" },
      revision: "coder-a",
    });
    expect(deploymentEndpoint({ name: "coder", revision: "coder-b" }, md)).toEqual({
      ok: true,
      endpoint: { baseURL: "http://127.0.0.1:41002/v1" },
      revision: "coder-b",
    });
  });
});
