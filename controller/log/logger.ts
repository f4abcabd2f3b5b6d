// The pino logger factory. One logger is made at startup and passed down; reconcile log lines
// get the object key through `child` bindings (see runtime/controller.ts).
//
// Credentials must never reach the log: fields with well-known secret names, and the
// `data`/`stringData` of anything that looks like a Secret, are censored at any depth of a log
// line's object by a walk in pino's `log` formatter. Pino's wildcard `redact` paths would only
// reach fixed depths and made every `logger.child` (one per reconcile) cost ~40 µs — most of the
// work queue's per-key time; static top-level paths are compiled and cheap, so child bindings
// (which the formatter does not see) get those.
import { type DestinationStream, type Logger, type LevelWithSilent, pino } from "pino";

export const secretFieldNames = [
  "token",
  "apiKey",
  "api_key",
  "secretKey",
  "secret_key",
  "password",
  "authorization",
  "Authorization",
  "clientSecret",
  "privateKey",
  "bearerToken",
] as const;

export const redactedValue = "[Redacted]";

/** Static paths for pino's compiled redaction: secret names at the top level of bindings. */
function bindingRedactionPaths(): string[] {
  return [...secretFieldNames, "headers.authorization", "stringData"];
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go; stdout (fd 1) by default. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
  /** Bound on every line, e.g. `{ component: "controller" }`. */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: bindingRedactionPaths(), censor: redactedValue },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => censorSecretObjects(object, 0) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

const secretFieldSet: ReadonlySet<string> = new Set(secretFieldNames);

/**
 * Returns `value` with secret-named fields and the payload of Secret-shaped objects censored.
 * Copies only along the path to what it censors, so ordinary log lines cost one walk.
 */
export function censorSecretObjects(value: unknown, depth: number): unknown {
  if (depth > 6 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const items = value as unknown[];
    let copy: unknown[] | undefined;
    items.forEach((item, i) => {
      const censored = censorSecretObjects(item, depth + 1);
      if (censored !== item) {
        copy ??= [...items];
        copy[i] = censored;
      }
    });
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  if (record.kind === "Secret") {
    copy = { ...record };
    if ("data" in copy) copy.data = redactedValue;
    if ("stringData" in copy) copy.stringData = redactedValue;
  }
  for (const [key, child] of Object.entries(copy ?? record)) {
    const censored =
      secretFieldSet.has(key) && child !== undefined
        ? redactedValue
        : censorSecretObjects(child, depth + 1);
    if (censored !== child) {
      copy ??= { ...record };
      copy[key] = censored;
    }
  }
  return copy ?? record;
}

/** Parses a `--log-level` value. */
export function parseLogLevel(value: string): LevelWithSilent {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
  const found = levels.find((l) => l === value);
  if (found === undefined) {
    throw new RangeError(`log level must be one of ${levels.join(", ")} (got "${value}")`);
  }
  return found;
}
