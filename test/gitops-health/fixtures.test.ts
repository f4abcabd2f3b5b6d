// The Argo CD Lua health checks and kstatus against the objects gitops-health.test.ts captured from
// the real controller (the health checks' testdata/, rewritten by LLMOPS_WRITE_GITOPS_FIXTURES=1):
// each kind's health_test.yaml run as Argo CD runs its own, and, as a table, each
// captured object as it is, and changed the ways a GitOps tool meets them (a new generation the
// controller has not reached yet, deletion, no status yet), plus rollout phases of a captured
// ModelDeployment the live test does not reach. And the checker's Lua VM is Argo CD's: a status that
// is not a health status reads Unknown, and the string library is not there.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { checkHealth, gitopsHealthChecker, luaDir, type HealthReport } from "./checker.js";
import { expectations } from "./expectations.js";

const execFileAsync = promisify(execFile);

type Fixture = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; generation?: number } & Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { conditions?: Record<string, unknown>[] };
};

async function fixture(kind: string, name: string): Promise<Fixture> {
  const text = await readFile(join(luaDir, "llmops.dev", kind, "testdata", `${name}.yaml`), "utf8");
  return parse(text) as Fixture;
}

function variant(base: Fixture, suffix: string, change: (o: Fixture) => void): Fixture {
  const copy = structuredClone(base);
  copy.metadata.name = `${base.metadata.name}+${suffix}`;
  change(copy);
  return copy;
}

async function check(objects: Fixture[]): Promise<Map<string, HealthReport>> {
  const reports = await checkHealth(
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
  return new Map(reports.map((r) => [`${r.kind}/${r.name}`, r]));
}

describe("Argo CD health checks and kstatus on the captured objects", () => {
  // A cold build (an empty Go module cache, a loaded machine) takes minutes; tests only run it.
  beforeAll(async () => {
    await gitopsHealthChecker();
  }, 600_000);

  it("each kind's health_test.yaml passes, and says what the live test saw", async () => {
    const binary = await gitopsHealthChecker();
    const { stdout } = await execFileAsync(binary, ["-lua-dir", luaDir, "-health-tests"]);
    expect(stdout).toContain(`${String(expectations.length)} health tests passed`);
    for (const e of expectations) {
      const file = await readFile(join(luaDir, "llmops.dev", e.kind, "health_test.yaml"), "utf8");
      const { tests } = parse(file) as {
        tests: { healthStatus: { status: string }; inputPath: string }[];
      };
      const test = tests.find((t) => t.inputPath === `testdata/${e.name}.yaml`);
      expect([e.kind, e.name, test?.healthStatus.status]).toEqual([e.kind, e.name, e.argocd]);
    }
  });

  it("every captured object reads as the live test saw it, in kstatus too", async () => {
    const reports = await check(
      await Promise.all(expectations.map((e) => fixture(e.kind, e.name))),
    );
    for (const e of expectations) {
      const report = reports.get(`${e.kind}/${e.name}`);
      expect([e.kind, e.name, report?.kstatus.status, report?.argocd?.status]).toEqual([
        e.kind,
        e.name,
        e.kstatus,
        e.argocd,
      ]);
    }
  });

  it("a spec the controller has not reached yet is in progress for both, whatever the status said", async () => {
    const objects = await Promise.all(expectations.map((e) => fixture(e.kind, e.name)));
    const ahead = objects.map((o) =>
      variant(o, "next-generation", (c) => {
        c.metadata.generation = (c.metadata.generation ?? 1) + 1;
      }),
    );
    const reports = await check(ahead);
    for (const o of ahead) {
      const report = reports.get(`${o.kind}/${o.metadata.name}`);
      expect([o.kind, o.metadata.name, report?.kstatus.status, report?.argocd?.status]).toEqual([
        o.kind,
        o.metadata.name,
        "InProgress",
        "Progressing",
      ]);
      expect(report?.argocd?.message).toBe(
        `waiting for the llmops controller to observe generation ${String(o.metadata.generation)}`,
      );
    }
  });

  it("deletion and a missing status", async () => {
    const ready = await fixture("Prompt", "ready");
    const reports = await check([
      variant(ready, "deleting", (c) => {
        c.metadata.deletionTimestamp = "2026-01-01T00:00:00Z";
      }),
      variant(ready, "no-status", (c) => {
        delete c.status;
      }),
      // What the apiserver serves for a new object before the controller's first status write: our
      // CRDs default status as Flux's own do (gitops-health.test.ts sees it live).
      variant(ready, "defaulted-status", (c) => {
        c.status = { observedGeneration: -1 };
      }),
    ]);
    expect(reports.get("Prompt/ready+deleting")?.kstatus.status).toBe("Terminating");
    expect(reports.get("Prompt/ready+deleting")?.argocd?.status).toBe("Progressing");
    // A manifest with no status at all (the apiserver never serves one: it defaults
    // observedGeneration -1): kstatus reads it as Current (nothing says otherwise); Argo CD waits
    // for the controller's first word.
    expect(reports.get("Prompt/ready+no-status")?.kstatus.status).toBe("Current");
    expect(reports.get("Prompt/ready+no-status")?.argocd).toEqual({
      status: "Progressing",
      message: "waiting for the llmops controller to observe generation 1",
    });
    expect(reports.get("Prompt/ready+defaulted-status")?.kstatus).toEqual({
      status: "InProgress",
      message: "Prompt generation is 1, but latest observed generation is -1",
    });
    expect(reports.get("Prompt/ready+defaulted-status")?.argocd?.status).toBe("Progressing");
  });

  it("ModelDeployment rollout phases: aborted and past the deadline are Degraded, waiting for a person Suspended", async () => {
    const canary = await fixture("ModelDeployment", "canary");
    const held = await fixture("ModelDeployment", "held");
    const reason = (c: Fixture, phase: string, why: string): void => {
      c.status = { ...c.status, phase };
      for (const condition of c.status.conditions ?? []) {
        if (condition.type !== "Ready" && condition.type !== "Reconciling") continue;
        condition.reason = why;
        condition.message = `${why} (${phase})`;
      }
    };
    const rows: [Fixture, string][] = [
      [
        variant(canary, "aborted", (c) => {
          reason(c, "Aborted", "AnalysisFailed");
        }),
        "Degraded",
      ],
      [
        variant(canary, "deadline", (c) => {
          reason(c, "Degraded", "ProgressDeadlineExceeded");
        }),
        "Degraded",
      ],
      [
        variant(canary, "inconclusive", (c) => {
          reason(c, "Paused", "Inconclusive");
        }),
        "Suspended",
      ],
      [
        variant(canary, "spec-paused", (c) => {
          c.spec = { ...c.spec, paused: true };
        }),
        "Suspended",
      ],
      [
        variant(held, "analysing", (c) => {
          reason(c, "Progressing", "Analyzing");
        }),
        "Progressing",
      ],
      [variant(canary, "timed-pause", () => undefined), "Progressing"],
    ];
    const reports = await check(rows.map(([o]) => o));
    for (const [o, want] of rows) {
      const report = reports.get(`ModelDeployment/${o.metadata.name}`);
      expect([o.metadata.name, report?.argocd?.status]).toEqual([o.metadata.name, want]);
      // kstatus has no word for these: a rollout still Reconciling is InProgress.
      expect(report?.kstatus.status).toBe("InProgress");
    }
    expect(reports.get("ModelDeployment/canary+aborted")?.argocd?.message).toBe(
      "AnalysisFailed (Aborted)",
    );
  });

  it("runs the scripts as Argo CD runs argocd-cm's: no string library, and only health statuses count", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llmops-lua-"));
    try {
      const script = async (kind: string, lua: string) => {
        await mkdir(join(dir, "llmops.dev", kind), { recursive: true });
        await writeFile(join(dir, "llmops.dev", kind, "health.lua"), lua);
      };
      await script("Prompt", 'return { status = "Fine", message = "not a health status" }');
      await script("Experiment", 'return { status = string.upper("healthy") }');
      const binary = await gitopsHealthChecker();
      const run = (kind: string) => {
        const child = execFileAsync(binary, ["-lua-dir", dir]);
        child.child.stdin?.end(
          JSON.stringify({
            apiVersion: "llmops.dev/v1alpha1",
            kind,
            metadata: { name: "x", generation: 1 },
          }),
        );
        return child;
      };
      const invalid = JSON.parse((await run("Prompt")).stdout) as HealthReport;
      expect(invalid.argocd).toEqual({
        status: "Unknown",
        message: "Lua returned an invalid health status",
      });
      // execFile's error message carries the command's stderr.
      await expect(run("Experiment")).rejects.toThrow(
        "attempt to index a non-table object(nil) with key 'upper'",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
