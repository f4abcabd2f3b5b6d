// Runs `llmops <args>` in-process, capturing what it prints, for the CLI tests.
import { runCli, type CliIo } from "../../controller/cli/program.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runLlmops(args: readonly string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  const code = await runCli(["node", "llmops", ...args], { version: "0.0.0-test", io });
  return { code, stdout: out.join(""), stderr: err.join("") };
}
