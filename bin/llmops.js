#!/usr/bin/env node
// The llmops command: runs the compiled CLI (npm install builds it through `prepare`).
import { tunedArgv } from "../dist/cli/node-tuning.js";

// `controller` and `up` run with V8 flags sized for a controller, not for the host (see
// controller/cli/node-tuning.ts): the process replaces itself, keeping its pid, stdio and
// environment.
const tuned = tunedArgv(process.argv, process.execArgv, process.env);
if (tuned !== undefined && typeof process.execve === "function") {
  process.execve(process.execPath, tuned, process.env);
}

const { main } = await import("../dist/main.js");
process.exitCode = await main(process.argv);
