import { describe, expect, it } from "vitest";
import { tunedArgv, tunedNodeFlags } from "./node-tuning.js";

const node = "/usr/bin/node";
const script = "/app/node_modules/.bin/llmops";

describe("tunedArgv", () => {
  it("adds the semi-space size to controller and up, after node's own flags", () => {
    expect(tunedArgv([node, script, "controller", "--namespaces=a"], [], {})).toEqual([
      node,
      "--max-semi-space-size=8",
      "--v8-pool-size=1",
      script,
      "controller",
      "--namespaces=a",
    ]);
    expect(tunedArgv([node, script, "up", "--dir", "x"], ["--enable-source-maps"], {})).toEqual([
      node,
      "--enable-source-maps",
      ...tunedNodeFlags,
      script,
      "up",
      "--dir",
      "x",
    ]);
  });

  it("leaves short-lived commands, help and a bare llmops alone", () => {
    for (const args of [["validate", "specs"], ["status"], [], ["--help"], ["-v"]]) {
      expect(tunedArgv([node, script, ...args], [], {}), args.join(" ")).toBeUndefined();
    }
  });

  it("never runs twice: the flag on node's command line means it is already tuned", () => {
    const once = tunedArgv([node, script, "controller"], [], {}) ?? [];
    const execArgv = once.slice(1, once.indexOf(script));
    expect(tunedArgv([node, script, "controller"], execArgv, {})).toBeUndefined();
  });

  it("lets the user's own size win, from NODE_OPTIONS or node's flags, and can be switched off", () => {
    const argv = [node, script, "controller"];
    expect(tunedArgv(argv, [], { NODE_OPTIONS: "--max-semi-space-size=32" })).toBeUndefined();
    expect(tunedArgv(argv, ["--max-semi-space-size=1"], {})).toBeUndefined();
    expect(tunedArgv(argv, [], { NODE_OPTIONS: "--max-heap-size=512" })).toBeUndefined();
    expect(tunedArgv(argv, [], { LLMOPS_NODE_TUNING: "off" })).toBeUndefined();
    // Other NODE_OPTIONS are kept by the environment and do not stop the tuning.
    expect(tunedArgv(argv, [], { NODE_OPTIONS: "--enable-source-maps" })).toBeDefined();
    // A worker-thread count of the user's own is kept, on the command line or in NODE_OPTIONS.
    expect(tunedArgv(argv, ["--v8-pool-size=4"], {})).toEqual([
      node,
      "--v8-pool-size=4",
      "--max-semi-space-size=8",
      script,
      "controller",
    ]);
    expect(tunedArgv(argv, [], { NODE_OPTIONS: "--v8-pool-size=2" })).toEqual([
      node,
      "--max-semi-space-size=8",
      script,
      "controller",
    ]);
  });
});
