// `llmops controller` waits for the Kubernetes API server before it starts the manager: an
// apiserver that is down or not reachable yet (a control plane still starting, a wrong address)
// gets one clear log line per attempt — what failed, when the next try is — and exponential
// backoff, instead of every informer and the leader election each reporting the same outage.
import type { Logger } from "pino";
import { NotFoundError, TerminalError, TransientError, errorMessage } from "../kube/errors.js";
import type { KubeTransport } from "../kube/transport.js";
import { exponentialDelay } from "../runtime/backoff.js";
import { isAborted, sleep, type Clock } from "../runtime/clock.js";

export interface WaitForApiServerOptions {
  /** One attempt: resolves when the API server answered, throws why not. */
  probe: (signal: AbortSignal) => Promise<void>;
  /** The API server's URL, for the log lines. */
  server: string;
  logger: Logger;
  clock: Clock;
  /** Stops waiting (SIGTERM, SIGINT). */
  stop: AbortSignal;
  /** First retry delay; default 1 s. */
  baseMs?: number;
  /** Longest retry delay; default 30 s. */
  maxMs?: number;
}

/** Resolves true once a probe succeeds, false when `stop` aborts first. Never throws. */
export async function waitForApiServer(options: WaitForApiServerOptions): Promise<boolean> {
  const { logger, stop, server } = options;
  for (let failures = 0; !isAborted(stop); failures++) {
    try {
      await options.probe(stop);
      if (failures > 0) {
        logger.info(
          { server, attempts: failures + 1 },
          `reached the Kubernetes API server at ${server}`,
        );
      }
      return true;
    } catch (err: unknown) {
      if (isAborted(stop)) break;
      const delayMs = exponentialDelay({
        baseMs: options.baseMs ?? 1000,
        maxMs: options.maxMs ?? 30_000,
        failures,
      });
      logger.warn(
        { server, err: errorMessage(err), attempt: failures + 1, retryInSeconds: delayMs / 1000 },
        `cannot reach the Kubernetes API server at ${server}: ${errorMessage(err)}; ` +
          `next retry in ${formatSeconds(delayMs)}`,
      );
      await sleep(options.clock, delayMs, stop);
    }
  }
  return false;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? String(seconds) : seconds.toFixed(1)} s`;
}

/**
 * One attempt as the controller makes it: `GET /version`, bounded by `timeoutMs` so a black-holed
 * address is retried too. Any answer but 401, 429 and 5xx means the server is there for us (a 403
 * says only that /version is not ours to read; the manager will say what else is missing).
 */
export function versionProbe(
  transport: Pick<KubeTransport, "request">,
  timeoutMs = 10_000,
): (stop: AbortSignal) => Promise<void> {
  return async (stop) => {
    const signal = AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]);
    try {
      await transport.request({ method: "GET", path: "/version", what: "GET /version", signal });
    } catch (err: unknown) {
      const code = statusCode(err);
      if (code !== undefined && code !== 401 && code !== 429 && code < 500) return;
      if (signal.aborted && !stop.aborted) {
        throw new Error(`GET /version: no answer within ${formatSeconds(timeoutMs)}`, {
          cause: err,
        });
      }
      throw err;
    }
  };
}

function statusCode(err: unknown): number | undefined {
  if (err instanceof TransientError || err instanceof TerminalError || err instanceof NotFoundError)
    return err.status?.code;
  return undefined;
}
