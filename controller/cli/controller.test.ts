import pino from "pino";
import { describe, expect, it } from "vitest";
import { KubeClient } from "../kube/client.js";
import { KubeTransport } from "../kube/transport.js";
import { Manager } from "../runtime/manager.js";
import { runCli } from "./program.js";
import {
  builtInControllers,
  parseConcurrency,
  parseNamespaces,
  reconciledKinds,
} from "./controller.js";

describe("what llmops controller claims to reconcile", () => {
  it("is what it registers", () => {
    // Registering sends no request: the address is never dialled.
    const client = new KubeClient({
      transport: new KubeTransport({
        kubeConfig: {
          getCurrentCluster: () => ({ server: "https://127.0.0.1:1" }),
          applyToHTTPSOptions: () => Promise.resolve(),
        },
      }),
      fieldManager: "test",
    });
    const manager = new Manager({ client, logger: pino({ level: "silent" }) });
    manager.add(...builtInControllers());
    expect(manager.controllerNames()).toEqual([...reconciledKinds]);
  });

  it("says so in --help, and the program lists no command it does not have", async () => {
    let out = "";
    const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (out += t) };
    const help = async (...argv: string[]): Promise<string> => {
      out = "";
      await runCli(["node", "llmops", ...argv], { version: "0", io });
      return out;
    };
    const oneLine = (text: string) => text.replace(/\s+/g, " ");
    expect(oneLine(await help("controller", "--help"))).toContain(
      "Reconcile Prompt, Experiment, TrainingJob and ModelDeployment resources in a cluster",
    );
    const root = await help("--help");
    expect(oneLine(root)).toContain(
      "Prompts, Experiments, TrainingJobs and ModelDeployments reconciled by a controller",
    );
    // `up` exists: the local loop (controller/cli/up.ts).
    expect(root).toMatch(/^ {2}up\b/m);
  });
});

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
