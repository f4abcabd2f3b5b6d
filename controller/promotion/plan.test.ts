import { describe, expect, it } from "vitest";
import type {
  Experiment,
  ExperimentStatus,
  ExperimentStatusPromotion,
  Prompt,
  PromptSpec,
  PromptStatus,
} from "../api/generated/index.js";
import { promptContentHash } from "../prompts/content.js";
import {
  planPromotion,
  promotionCommitMessage,
  promotionStatus,
  type PromotionDecision,
} from "./plan.js";

const liveSpec: PromptSpec = {
  template: { text: "v2 {{x}}" },
  variables: [{ name: "x" }],
  model: { name: "m" },
  labels: ["staging"],
};
const liveHash = promptContentHash(liveSpec);

function prompt(
  options: { labels?: string[]; status?: Partial<PromptStatus>; name?: string } = {},
): Prompt {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: options.name ?? "triage", namespace: "team" },
    spec: { ...liveSpec, labels: options.labels ?? ["staging"] },
    status: {
      version: 2,
      contentHash: liveHash,
      history: [
        { version: 2, contentHash: liveHash, labels: ["staging"] },
        { version: 1, contentHash: "sha256:v1", labels: ["production"] },
      ],
      ...options.status,
    },
  };
}

function experiment(
  status: ExperimentStatus | undefined,
  options: { label?: string; policy?: "manual" | "auto"; generation?: number } = {},
): Experiment {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Experiment",
    metadata: { name: "v1-vs-v2", namespace: "team", generation: options.generation ?? 1 },
    spec: {
      variants: [
        { name: "control", control: true, prompt: { name: "triage", label: "production" } },
        { name: "candidate", prompt: { name: "triage" } },
      ],
      evaluators: [{ name: "correctness", type: "exactMatch" }],
      ...((options.label ?? options.policy) !== undefined && {
        promotion: {
          ...(options.label !== undefined && { label: options.label }),
          ...(options.policy !== undefined && { policy: options.policy }),
        },
      }),
    },
    ...(status !== undefined && { status }),
  };
}

const completed = (winner: string | undefined): ExperimentStatus => ({
  observedGeneration: 1,
  phase: "Completed",
  ...(winner !== undefined && { winner }),
  recommendation:
    winner === undefined
      ? "no significant difference with n = 40"
      : "candidate beats control on correctness by +8.1 pts, p = 0.003",
  results: [
    { variant: "control", promptVersion: 1 },
    { variant: "candidate", promptVersion: 2 },
  ],
});

describe("planPromotion", () => {
  it.each<{
    name: string;
    experiment: Experiment;
    prompt: Prompt | undefined;
    want: Partial<PromotionDecision> & { kind: PromotionDecision["kind"] };
    message?: RegExp;
  }>([
    {
      name: "no status yet",
      experiment: experiment(undefined),
      prompt: prompt(),
      want: { kind: "none", reason: "NotCompleted" },
      message: /is not Completed \(phase not started\)/,
    },
    {
      name: "still running",
      experiment: experiment({ phase: "Running", recommendation: "12 of 80 calls" }),
      prompt: prompt(),
      want: { kind: "none", reason: "NotCompleted" },
      message: /phase Running: 12 of 80 calls/,
    },
    {
      name: "completed for an older generation",
      experiment: experiment(completed("candidate"), { generation: 2 }),
      prompt: prompt(),
      want: { kind: "none", reason: "NotCompleted" },
      message: /changed \(generation 2\)/,
    },
    {
      name: "completed without a winner: says what status says",
      experiment: experiment(completed(undefined)),
      prompt: prompt(),
      want: { kind: "none", reason: "NoWinner" },
      message: /has no winner \(phase Completed: no significant difference with n = 40\)/,
    },
    {
      name: "winner is live without the label: label only",
      experiment: experiment(completed("candidate")),
      prompt: prompt(),
      want: {
        kind: "promote",
        prompt: "triage",
        version: 2,
        contentHash: liveHash,
        label: "production",
        needsContent: false,
      },
      message: /run `llmops promote experiment\/v1-vs-v2`/,
    },
    {
      name: "winner is live and has the label: not needed",
      experiment: experiment(completed("candidate")),
      prompt: prompt({ labels: ["staging", "production"] }),
      want: { kind: "notNeeded", version: 2, label: "production" },
    },
    {
      name: "spec.promotion.label is used",
      experiment: experiment(completed("candidate"), { label: "staging" }),
      prompt: prompt(),
      want: { kind: "notNeeded", label: "staging" },
    },
    {
      name: "winner is an earlier version (the control won): content and label",
      experiment: experiment(completed("control"), { policy: "auto" }),
      prompt: prompt(),
      want: {
        kind: "promote",
        version: 1,
        contentHash: "sha256:v1",
        needsContent: true,
      },
      message: /not live \(version 2 is\).*the controller commits it/,
    },
    {
      name: "winner's version left the history",
      experiment: experiment(completed("control")),
      prompt: prompt({
        status: { history: [{ version: 2, contentHash: liveHash }] },
      }),
      want: { kind: "blocked", reason: "VersionUnavailable", prompt: "triage" },
      message: /version 1 .* has left status\.history \(versions: 2\)/,
    },
    {
      name: "the Prompt is being versioned",
      experiment: experiment(completed("candidate")),
      prompt: prompt({ status: { contentHash: "sha256:stale" } }),
      want: { kind: "none", reason: "PromptNotReady" },
    },
    {
      name: "the Prompt does not exist",
      experiment: experiment(completed("candidate")),
      prompt: undefined,
      want: { kind: "blocked", reason: "PromptNotFound", prompt: "triage" },
    },
    {
      name: "a winner that is not a variant",
      experiment: experiment(completed("ghost")),
      prompt: prompt(),
      want: { kind: "blocked", reason: "WinnerNotAVariant" },
      message: /status\.winner ghost is not one of spec\.variants \(control, candidate\)/,
    },
    {
      name: "no promptVersion in results and no pin",
      experiment: experiment({ ...completed("candidate"), results: [] }),
      prompt: prompt(),
      want: { kind: "blocked", reason: "VersionUnknown" },
    },
  ])("$name", ({ experiment: e, prompt: p, want, message }) => {
    const decision = planPromotion({ experiment: e, prompt: p });
    expect(decision).toMatchObject(want);
    if (message !== undefined) expect(decision.message).toMatch(message);
  });
});

describe("promotionStatus", () => {
  const promote: PromotionDecision = {
    kind: "promote",
    prompt: "triage",
    version: 1,
    contentHash: "sha256:v1",
    label: "production",
    needsContent: true,
    message: "run llmops promote",
  };
  const target = { prompt: "triage", version: 1, contentHash: "sha256:v1", label: "production" };
  const promoted: ExperimentStatusPromotion = {
    state: "Promoted",
    ...target,
    commit: "abc1234def",
    message: "committed",
  };

  it.each<{
    name: string;
    decision: PromotionDecision;
    options?: Parameters<typeof promotionStatus>[1];
    want: ExperimentStatusPromotion | undefined;
  }>([
    {
      name: "nothing decided yet",
      decision: { kind: "none", reason: "NoWinner", message: "x" },
      want: undefined,
    },
    {
      name: "blocked: Failed with the message",
      decision: { kind: "blocked", reason: "PromptNotFound", prompt: "triage", message: "gone" },
      want: { state: "Failed", prompt: "triage", message: "gone" },
    },
    {
      name: "not needed",
      decision: { ...target, kind: "notNeeded", message: "already" },
      want: { state: "NotNeeded", ...target, message: "already" },
    },
    {
      name: "pending",
      decision: promote,
      want: { state: "Pending", ...target, message: "run llmops promote" },
    },
    {
      name: "committed",
      decision: promote,
      options: { outcome: { kind: "committed", commit: "abc1234def" } },
      want: {
        state: "Promoted",
        ...target,
        commit: "abc1234def",
        message:
          "committed abc1234: Prompt triage version 1 gets label production; the cluster follows once git sync applies it",
      },
    },
    {
      name: "commit failed",
      decision: promote,
      options: { outcome: { kind: "failed", message: "push rejected" } },
      want: { state: "Failed", ...target, message: "push rejected" },
    },
    {
      name: "Promoted stays while the cluster catches up",
      decision: promote,
      options: { previous: promoted },
      want: promoted,
    },
    {
      name: "Promoted stays once the label is live",
      decision: { ...target, kind: "notNeeded", message: "already" },
      options: { previous: promoted },
      want: promoted,
    },
    {
      name: "Promoted for another version does not stick",
      decision: promote,
      options: { previous: { ...promoted, version: 7 } },
      want: { state: "Pending", ...target, message: "run llmops promote" },
    },
  ])("$name", ({ decision, options, want }) => {
    expect(promotionStatus(decision, options)).toEqual(want);
  });
});

describe("promotionCommitMessage", () => {
  it("says what, why, and names the Experiment in a trailer", () => {
    const message = promotionCommitMessage({
      experiment: experiment(completed("candidate")),
      target: { prompt: "triage", version: 2, contentHash: liveHash, label: "production" },
      needsContent: false,
      file: "specs/prompts/triage.yaml",
    });
    const [subject] = message.split("\n");
    expect(subject).toBe(
      "promote: Prompt triage version 2 gets label production (Experiment v1-vs-v2: candidate beats control on correctness by +8.1 pts, p = 0.003)",
    );
    expect(message).toContain(
      "adds production to spec.labels of Prompt triage in specs/prompts/triage.yaml",
    );
    expect(message.trimEnd().split("\n").at(-1)).toBe("Llmops-Experiment: team/v1-vs-v2");
  });

  it("says when the content is written back", () => {
    const message = promotionCommitMessage({
      experiment: experiment(completed("control")),
      target: { prompt: "triage", version: 1, contentHash: "sha256:v1", label: "production" },
      needsContent: true,
      file: "specs/prompts/triage.yaml",
    });
    expect(message).toContain("writes its content back to specs/prompts/triage.yaml");
  });
});
