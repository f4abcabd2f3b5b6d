// Shared helpers for the runtime's integration tests (real control plane, no mocks).
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeClient } from "../../controller/kube/client.js";
import { KubeTransport } from "../../controller/kube/transport.js";
import { createLogger } from "../../controller/log/logger.js";

/** A client of the test control plane with the given field manager. */
export function newClient(
  kubeConfig: KubeConfig,
  options: { fieldManager?: string; requestTimeoutMs?: number } = {},
): KubeClient {
  return new KubeClient({
    transport: new KubeTransport({ kubeConfig, requestTimeoutMs: options.requestTimeoutMs }),
    fieldManager: options.fieldManager ?? "llmops-test",
  });
}

/** A logger whose lines are kept in memory (set LLMOPS_TEST_LOGS=1 to also print them). */
export function memoryLogger(level: "info" | "debug" = "debug"): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const print = process.env.LLMOPS_TEST_LOGS === "1";
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) {
        if (line === "") continue;
        lines.push(JSON.parse(line) as Record<string, unknown>);
        if (print) process.stderr.write(`${line}\n`);
      }
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string | (() => string),
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err: unknown) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const description = typeof what === "string" ? what : what();
      throw new Error(`timed out waiting for ${description}`, { cause: lastError });
    }
    await sleep(100);
  }
}
