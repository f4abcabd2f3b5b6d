// MLflow tracking over its REST API 2.0 (no SDK exists for Node): one MLflow experiment per
// Experiment, one run per variant with params, metrics and tags, finished in one log-batch call.
import type { TrackedRun } from "./tracking.js";

/** What was recorded, for status. */
export interface TrackedExperiment {
  experimentId: string;
  /** Browser URLs of the runs, in the order given. */
  runURLs: string[];
}

/** The MLflow side of tracking, as the run tracker uses it (tests may pass their own). */
export interface ExperimentTracker {
  /**
   * Records `runs` under experiment `experimentName`. Idempotent: a run already recorded with the
   * same `runKey` tag is left as it is, so a retry after a crash adds nothing twice.
   */
  record(
    experimentName: string,
    runKey: string,
    runs: readonly TrackedRun[],
  ): Promise<TrackedExperiment>;
}

/** Options for `MlflowTracker`. */
export interface MlflowTrackerOptions {
  /** Tracking server URL, e.g. `http://mlflow:5000`. */
  trackingURI: string;
  /** Bearer token (from a Secret); omit for servers without auth. */
  token?: string | null;
  fetch?: typeof fetch;
  /** Per-request timeout, ms; default 30 s. */
  timeoutMs?: number;
  /** Milliseconds since the epoch, for run start and end times. */
  now?: () => number;
}

/** An MLflow request failed; the message has the endpoint and MLflow's error code. */
export class MlflowError extends Error {
  override name = "MlflowError";
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The tag that makes `record` idempotent. */
export const runKeyTag = "llmops.run-key";

interface MlflowRun {
  info: { run_id: string; experiment_id: string; status?: string };
}

export class MlflowTracker implements ExperimentTracker {
  readonly #base: string;
  readonly #token: string | null;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(options: MlflowTrackerOptions) {
    this.#base = options.trackingURI.replace(/\/+$/, "");
    this.#token = options.token ?? null;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** Browser URL of a run. */
  runURL(experimentId: string, runId: string): string {
    return `${this.#base}/#/experiments/${experimentId}/runs/${runId}`;
  }

  /** The id of experiment `name`, created when missing. */
  async ensureExperiment(name: string): Promise<string> {
    try {
      const found = await this.#call<{ experiment: { experiment_id: string } }>(
        "GET",
        `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`,
      );
      return found.experiment.experiment_id;
    } catch (error) {
      if (!(error instanceof MlflowError && error.code === "RESOURCE_DOES_NOT_EXIST")) throw error;
    }
    try {
      const created = await this.#call<{ experiment_id: string }>("POST", "experiments/create", {
        name,
      });
      return created.experiment_id;
    } catch (error) {
      // Created concurrently by someone else: read it back.
      if (error instanceof MlflowError && error.code === "RESOURCE_ALREADY_EXISTS") {
        const found = await this.#call<{ experiment: { experiment_id: string } }>(
          "GET",
          `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`,
        );
        return found.experiment.experiment_id;
      }
      throw error;
    }
  }

  /** Runs of `experimentId` tagged with `runKey`, by run name. */
  async findRuns(experimentId: string, runKey: string): Promise<Map<string, MlflowRun>> {
    const out = await this.#call<{
      runs?: (MlflowRun & { data?: { tags?: { key: string; value: string }[] } })[];
    }>("POST", "runs/search", {
      experiment_ids: [experimentId],
      filter: `tags.\`${runKeyTag}\` = '${runKey.replace(/'/g, "")}'`,
      max_results: 1000,
    });
    const byName = new Map<string, MlflowRun>();
    for (const run of out.runs ?? []) {
      const name = run.data?.tags?.find((t) => t.key === "mlflow.runName")?.value;
      if (name !== undefined && run.info.status === "FINISHED") byName.set(name, run);
    }
    return byName;
  }

  async record(
    experimentName: string,
    runKey: string,
    runs: readonly TrackedRun[],
  ): Promise<TrackedExperiment> {
    const experimentId = await this.ensureExperiment(experimentName);
    const existing = await this.findRuns(experimentId, runKey);
    const runURLs: string[] = [];
    for (const run of runs) {
      const done = existing.get(run.name);
      if (done !== undefined) {
        runURLs.push(this.runURL(experimentId, done.info.run_id));
        continue;
      }
      const start = this.#now();
      const created = await this.#call<{ run: MlflowRun }>("POST", "runs/create", {
        experiment_id: experimentId,
        run_name: run.name,
        start_time: start,
        tags: Object.entries({ ...run.tags, [runKeyTag]: runKey }).map(([key, value]) => ({
          key,
          value,
        })),
      });
      const runId = created.run.info.run_id;
      await this.#call("POST", "runs/log-batch", {
        run_id: runId,
        params: Object.entries(run.params).map(([key, value]) => ({ key, value })),
        metrics: Object.entries(run.metrics)
          .filter(([, value]) => Number.isFinite(value))
          .map(([key, value]) => ({ key, value, timestamp: start, step: 0 })),
      });
      await this.#call("POST", "runs/update", {
        run_id: runId,
        status: "FINISHED",
        end_time: this.#now(),
      });
      runURLs.push(this.runURL(experimentId, runId));
    }
    return { experimentId, runURLs };
  }

  async #call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const url = `${this.#base}/api/2.0/mlflow/${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.#token) headers["authorization"] = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new MlflowError(`MLflow ${method} ${path}: ${String(error)}`, 0, null, {
        cause: error,
      });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      // not JSON: reported below
    }
    if (!response.ok) {
      const err = (parsed ?? {}) as { error_code?: string; message?: string };
      throw new MlflowError(
        `MLflow ${method} ${path}: HTTP ${String(response.status)} ${err.error_code ?? ""} ${err.message ?? text.slice(0, 200)}`.trim(),
        response.status,
        err.error_code ?? null,
      );
    }
    if (parsed === undefined) {
      throw new MlflowError(
        `MLflow ${method} ${path}: response is not JSON`,
        response.status,
        null,
      );
    }
    return parsed as T;
  }
}
