import { describe, expect, it } from "vitest";
import {
  changeEvent,
  describeChange,
  diffSummaries,
  formatLoss,
  progressBar,
  redrawFrame,
  renderTable,
  shortRevision,
  summarize,
  type ObjectSummary,
  type ViewedObject,
} from "./up-view.js";

const ready = (status: "True" | "False", reason = "Succeeded", message = "") => ({
  conditions: [{ type: "Ready", status, reason, message }],
});

const meta = (name: string) => ({ namespace: "default", name });

describe("summarize", () => {
  const rows: { name: string; obj: ViewedObject; want: Partial<ObjectSummary> }[] = [
    {
      name: "a Prompt shows its version",
      obj: { kind: "Prompt", metadata: meta("triage"), status: { version: 3, ...ready("True") } },
      want: { ready: "True", phase: "v3", id: "Prompt default/triage" },
    },
    {
      name: "an object without status is Unknown",
      obj: { kind: "Prompt", metadata: meta("new") },
      want: { ready: "Unknown", phase: undefined, progress: undefined },
    },
    {
      name: "a running TrainingJob: percent, steps and losses",
      obj: {
        kind: "TrainingJob",
        metadata: meta("tj"),
        status: {
          phase: "Running",
          progress: { percent: 45, step: 90, totalSteps: 200, loss: 1.23456, evalLoss: 1.5 },
          ...ready("False", "Running", "training: step 90 of 200"),
        },
      },
      want: {
        ready: "False",
        phase: "Running",
        progress: 0.45,
        detail: "step 90/200, loss 1.23, eval 1.5",
        reason: "Running",
        message: "training: step 90 of 200",
      },
    },
    {
      name: "an Experiment: calls done of planned, failures and the winner",
      obj: {
        kind: "Experiment",
        metadata: meta("ex"),
        status: {
          phase: "Completed",
          progress: { completed: 80, total: 80, failed: 2 },
          winner: "finetuned",
          ...ready("True"),
        },
      },
      want: { phase: "Completed", progress: 1, detail: "80/80 calls, 2 failed, winner finetuned" },
    },
    {
      name: "an Experiment with nothing planned yet has no bar",
      obj: {
        kind: "Experiment",
        metadata: meta("ex"),
        status: { phase: "Pending", progress: { completed: 0, total: 0 } },
      },
      want: { progress: undefined, detail: undefined },
    },
    {
      name: "a ModelDeployment mid-canary: the weights and the step",
      obj: {
        kind: "ModelDeployment",
        metadata: meta("md"),
        status: {
          phase: "Progressing",
          stableRevision: "md-aaaaaaaa11",
          canaryRevision: "md-bbbbbbbb22",
          canaryWeight: 25,
          currentStep: 1,
          revisions: [
            { name: "md-aaaaaaaa11", weight: 75, role: "Stable" },
            { name: "md-bbbbbbbb22", weight: 25, role: "Canary" },
          ],
          ...ready("False", "Progressing", "canary at 25%"),
        },
      },
      want: {
        canaryWeight: 25,
        detail: "aaaaaaaa11 75% · bbbbbbbb22 25% · canary bbbbbbbb22 at 25%, step 1",
      },
    },
    {
      name: "a healthy ModelDeployment: all on stable, no canary bar",
      obj: {
        kind: "ModelDeployment",
        metadata: meta("md"),
        status: {
          phase: "Healthy",
          stableRevision: "md-aaaaaaaa11",
          url: "http://127.0.0.1:40123/v1",
          ...ready("True"),
        },
      },
      want: {
        canaryWeight: undefined,
        detail: "aaaaaaaa11 100%",
        reason: undefined,
        url: "http://127.0.0.1:40123/v1",
      },
    },
  ];
  it.each(rows)("$name", ({ obj, want }) => {
    const got = summarize(obj);
    for (const [key, value] of Object.entries(want)) {
      expect(got[key as keyof ObjectSummary], key).toEqual(value);
    }
  });

  it("ignores status fields of the wrong type", () => {
    const got = summarize({
      kind: "TrainingJob",
      metadata: meta("tj"),
      status: { progress: { percent: "45", loss: Number.NaN }, conditions: "nope" },
    });
    expect(got).toEqual({
      id: "TrainingJob default/tj",
      kind: "TrainingJob",
      namespace: "default",
      name: "tj",
      ready: "Unknown",
    });
  });
});

describe("formatting", () => {
  it.each([
    [0, "[░░░░░░░░░░]"],
    [0.5, "[█████░░░░░]"],
    [1, "[██████████]"],
    [1.7, "[██████████]"],
    [-1, "[░░░░░░░░░░]"],
    [Number.NaN, "[░░░░░░░░░░]"],
  ])("progressBar(%s)", (fraction, want) => {
    expect(progressBar(fraction, 10)).toBe(want);
  });
  it.each([
    [2.3456, "2.35"],
    [0.041234, "0.0412"],
    [17, "17"],
  ])("formatLoss(%s)", (loss, want) => {
    expect(formatLoss(loss)).toBe(want);
  });
  it.each([
    ["ticket-triage-5f2c9a1b7d", "5f2c9a1b7d"],
    ["ticket-triage-abc", "ticket-triage-abc"],
    ["nodash1234567", "nodash1234"],
  ])("shortRevision(%s)", (name, want) => {
    expect(shortRevision(name)).toBe(want);
  });
});

describe("renderTable", () => {
  const objects = [
    summarize({
      kind: "ModelDeployment",
      metadata: meta("md"),
      status: {
        phase: "Progressing",
        canaryRevision: "md-bbbbbbbb22",
        canaryWeight: 50,
        ...ready("False", "Progressing", "waiting for the analysis"),
      },
    }),
    summarize({
      kind: "Prompt",
      metadata: meta("triage"),
      status: { version: 1, ...ready("True") },
    }),
    summarize({
      kind: "ModelDeployment",
      metadata: meta("base"),
      status: {
        phase: "Healthy",
        stableRevision: "base-aaaaaaaa11",
        url: "http://127.0.0.1:4000/v1",
        ...ready("True"),
      },
    }),
    summarize({
      kind: "TrainingJob",
      metadata: meta("tj"),
      status: {
        phase: "Succeeded",
        progress: { percent: 100, step: 200, totalSteps: 200, loss: 0.05 },
        ...ready("True"),
      },
    }),
  ];

  it("one row per object in kind order, bars for progress and canary weight, reasons under rows that are not Ready", () => {
    const lines = renderTable(objects, { width: 200, header: ["llmops up: 4 objects"] });
    expect(lines).toEqual([
      "llmops up: 4 objects",
      "KIND/NAME             READY    PHASE        PROGRESS",
      "Prompt/triage         True     v1",
      "TrainingJob/tj        True     Succeeded    [████████████████████] 100% step 200/200, loss 0.05",
      "ModelDeployment/base  True     Healthy      aaaaaaaa11 100%  http://127.0.0.1:4000/v1",
      "ModelDeployment/md    False    Progressing  [██████████░░░░░░░░░░] canary bbbbbbbb22 at 50%",
      "                      ↳ Progressing: waiting for the analysis",
    ]);
  });

  it("cuts lines to the terminal width", () => {
    const lines = renderTable(objects, { width: 30 });
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(30);
    expect(lines.some((l) => l.endsWith("…"))).toBe(true);
  });

  it("says when there is nothing yet", () => {
    expect(renderTable([], { width: 80 })).toEqual([
      "(no objects yet: waiting for the first sync)",
    ]);
  });
});

describe("redrawFrame", () => {
  it("moves up over the previous frame, rewrites each line and clears the rest", () => {
    expect(redrawFrame(["a", "b"], 3)).toBe("\u001b[3F\u001b[2Ka\n\u001b[2Kb\n\u001b[0J");
    expect(redrawFrame(["a"], 0)).toBe("\u001b[2Ka\n\u001b[0J");
  });
});

describe("changes", () => {
  const tj = (percent: number) =>
    summarize({
      kind: "TrainingJob",
      metadata: meta("tj"),
      status: { phase: "Running", progress: { percent } },
    });
  const prompt = summarize({
    kind: "Prompt",
    metadata: meta("p"),
    status: { version: 1, ...ready("True") },
  });

  it("reports added, changed and removed objects, and nothing for an unchanged one", () => {
    const before = new Map([
      [prompt.id, prompt],
      [tj(10).id, tj(10)],
    ]);
    const md = summarize({ kind: "ModelDeployment", metadata: meta("md") });
    const after = new Map([
      [tj(20).id, tj(20)],
      [md.id, md],
    ]);
    const changes = diffSummaries(before, after);
    expect(changes.map((c) => `${c.type} ${c.object.id}`)).toEqual([
      "changed TrainingJob default/tj",
      "added ModelDeployment default/md",
      "removed Prompt default/p",
    ]);
    expect(diffSummaries(after, after)).toEqual([]);
  });

  it("describes a change in one line", () => {
    expect(describeChange({ type: "added", object: tj(45) })).toBe(
      "TrainingJob/tj  Ready=Unknown  Running  45%",
    );
    expect(describeChange({ type: "removed", object: prompt })).toBe("Prompt/p  removed");
  });

  it("makes a JSON event with the time, the change and the summary", () => {
    const event = changeEvent(
      { type: "changed", object: tj(50), previous: tj(40) },
      new Date("2026-01-02T03:04:05Z"),
    );
    expect(JSON.parse(JSON.stringify(event))).toEqual({
      time: "2026-01-02T03:04:05.000Z",
      event: "changed",
      kind: "TrainingJob",
      namespace: "default",
      name: "tj",
      ready: "Unknown",
      phase: "Running",
      progress: 0.5,
    });
  });
});
