import { describe, expect, it } from "vitest";
import { ExitCode } from "./exit-codes.js";
import { runCli, type CliIo } from "./program.js";

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

describe("llmops CLI", () => {
  const cases = [
    { name: "--help", argv: ["--help"], code: ExitCode.Ok, out: /Usage: llmops/ },
    { name: "--version", argv: ["--version"], code: ExitCode.Ok, out: /^1\.2\.3\n$/ },
    { name: "unknown option", argv: ["--bogus"], code: ExitCode.Usage, err: /unknown option/ },
    {
      name: "unknown command",
      argv: ["frobnicate"],
      code: ExitCode.Usage,
      err: /unknown command|too many arguments/,
    },
  ];
  it("--help lists every exit code once, 3 for diff and 4 for promote", async () => {
    const io = capture();
    await runCli(["node", "llmops", "--help"], { version: "1.2.3", io });
    const section = io.out.slice(io.out.indexOf("Exit codes:"));
    expect(section).toMatch(/^ {2}3 {2}`diff` found changes$/m);
    expect(section).toMatch(/^ {2}4 {2}`promote` could not read the cluster$/m);
    expect(section.match(/^ {2}3 /gm)).toHaveLength(1);
  });
  for (const c of cases) {
    it(`${c.name} exits ${String(c.code)}`, async () => {
      const io = capture();
      const code = await runCli(["node", "llmops", ...c.argv], { version: "1.2.3", io });
      expect(code).toBe(c.code);
      if (c.out) expect(io.out).toMatch(c.out);
      if (c.err) expect(io.err).toMatch(c.err);
    });
  }
});
