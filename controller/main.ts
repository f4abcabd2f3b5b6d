import { readFileSync } from "node:fs";
import { processIo, runCli } from "./cli/program.js";
import type { ExitCode } from "./cli/exit-codes.js";

function packageVersion(): string {
  const url = new URL("../package.json", import.meta.url);
  const parsed = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
  return typeof parsed.version === "string" ? parsed.version : "0.0.0";
}

/** Entry point of the `llmops` binary. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  return runCli(argv, { version: packageVersion(), io: processIo });
}
