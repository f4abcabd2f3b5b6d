#!/usr/bin/env node
// The llmops command: runs the compiled CLI (npm install builds it through `prepare`).
import { main } from "../dist/main.js";

process.exitCode = await main(process.argv);
