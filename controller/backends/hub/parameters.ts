// How many parameters a base model has, when spec.baseModel.parametersBillions does not say: the
// count the Hub computes from the model's safetensors headers (model info, expand=safetensors),
// read through @huggingface/hub at the commit the revision resolved to, so the estimate sizes
// GPUs for exactly the weights that will be trained.
import { HubApiError, modelInfo } from "@huggingface/hub";
import { errorMessage } from "../../kube/errors.js";
import { HubAuthError, HubError, HubNotFoundError, HubUnavailableError } from "./huggingface.js";

/** spec.baseModel.repo or revision names nothing on the Hub (terminal: the spec must change). */
export class BaseModelNotFoundError extends HubNotFoundError {
  override name = "BaseModelNotFoundError";
  readonly reason = "BaseModelNotFound";
}

/** The Hub has no safetensors count for the model (terminal: set spec.baseModel.parametersBillions). */
export class ParameterCountUnknownError extends HubError {
  override name = "ParameterCountUnknownError";
  readonly reason = "ParameterCountUnknown";
}

export interface ModelParameterCountOptions {
  /** Hub base URL (the library's hubUrl), e.g. https://huggingface.co. */
  endpoint: string;
  /** spec.baseModel.repo, owner/name. */
  repo: string;
  /** The commit spec.baseModel.revision resolved to (a branch or tag works too). */
  revision: string;
  /** The token from spec.baseModel.tokenSecretRef, or null for anonymous access. */
  token: string | null;
  signal?: AbortSignal;
  /** Replaces the global fetch (the library's `fetch` option). */
  fetch?: typeof fetch;
}

export interface ModelParameterCount {
  /** All parameters, every dtype. */
  parameters: number;
  parametersBillions: number;
  /** Parameters per safetensors dtype (BF16, F32, …), as the Hub reports them. */
  byDtype: Record<string, number>;
  /** The commit the count was read at. */
  commit: string;
}

const field = "spec.baseModel";

/**
 * The model's parameter count from the Hub's safetensors metadata at `revision`. Throws
 * BaseModelNotFoundError (no such repo or revision), ParameterCountUnknownError (no safetensors
 * weights: set spec.baseModel.parametersBillions), HubAuthError (token refused, or a gated or
 * private model without one) or HubUnavailableError (5xx, 429, network: retry later).
 */
export async function fetchModelParameterCount(
  options: ModelParameterCountOptions,
): Promise<ModelParameterCount> {
  const { repo, revision, token, signal } = options;
  const hubUrl = options.endpoint.replace(/\/+$/, "");
  if (token !== null && !token.startsWith("hf_")) {
    throw new HubAuthError(
      `the Secret named by ${field}.tokenSecretRef does not hold a Hugging Face access token (they start with hf_)`,
    );
  }
  // The library drops the X-Error-Code header, the only way to tell a missing repo from a missing
  // revision; keep the last failure's, and add the caller's signal.
  const last: { errorCode: string | null } = { errorCode: null };
  const inner = options.fetch ?? fetch;
  const recording: typeof fetch = async (input, init) => {
    let response: Response;
    try {
      response = await inner(input, { ...init, ...(signal && { signal }) });
    } catch (err: unknown) {
      if (signal?.aborted) throw err;
      throw new HubUnavailableError(`cannot reach the Hub at ${hubUrl}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    if (!response.ok) last.errorCode = response.headers.get("X-Error-Code");
    return response;
  };

  const what = `model ${repo}@${revision}`;
  let info: { sha?: unknown; safetensors?: unknown };
  try {
    info = await modelInfo({
      name: repo,
      revision,
      hubUrl,
      additionalFields: ["safetensors", "sha"],
      fetch: recording,
      ...(token === null ? {} : { accessToken: token }),
    });
  } catch (err: unknown) {
    if (signal?.aborted || err instanceof HubError) throw err;
    if (!(err instanceof HubApiError)) {
      throw new HubError(`reading ${what} on ${hubUrl} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const status = err.statusCode;
    const { errorCode } = last;
    if (errorCode === "RevisionNotFound") {
      throw new BaseModelNotFoundError(
        `model ${repo} on ${hubUrl} has no revision ${revision}: fix ${field}.revision`,
        { missing: "revision", cause: err },
      );
    }
    if (status === 404 || (status === 401 && errorCode === "RepoNotFound" && token === null)) {
      // Anonymous requests get 401 for private repos and missing ones alike.
      const hint =
        token === null
          ? `, or it is private: fix ${field}.repo, or set ${field}.tokenSecretRef`
          : `, or the token cannot see it: fix ${field}.repo`;
      throw new BaseModelNotFoundError(`model ${repo} does not exist on ${hubUrl}${hint}`, {
        missing: "repo",
        cause: err,
      });
    }
    if (status === 401 || status === 403) {
      const gated = errorCode === "GatedRepo";
      throw new HubAuthError(
        gated
          ? `${what} is gated: ${token === null ? `set ${field}.tokenSecretRef to the token of a user who has been granted access` : "request access on the Hub for the token's user, or use a token of a user who has it"}`
          : `the Hub refused the token (HTTP ${String(status)}) for ${what}: check the Secret named by ${field}.tokenSecretRef`,
        { status, cause: err },
      );
    }
    if (status === 408 || status === 429 || status >= 500) {
      throw new HubUnavailableError(
        `the Hub answered HTTP ${String(status)} for ${what}; retrying later may help`,
        { status, cause: err },
      );
    }
    throw new HubError(`the Hub answered HTTP ${String(status)} for ${what}: ${err.message}`, {
      cause: err,
    });
  }

  const counts = parameterCounts(info.safetensors);
  if (counts === undefined) {
    throw new ParameterCountUnknownError(
      `the Hub reports no safetensors parameter count for ${what} (its weights are not in .safetensors files): set ${field}.parametersBillions`,
    );
  }
  const commit = typeof info.sha === "string" ? info.sha : revision;
  return {
    parameters: counts.total,
    parametersBillions: counts.total / 1e9,
    byDtype: counts.byDtype,
    commit,
  };
}

function parameterCounts(
  value: unknown,
): { total: number; byDtype: Record<string, number> } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { parameters, total } = value as { parameters?: unknown; total?: unknown };
  const byDtype: Record<string, number> = {};
  if (typeof parameters === "object" && parameters !== null) {
    for (const [dtype, n] of Object.entries(parameters)) {
      if (typeof n === "number" && Number.isFinite(n) && n >= 0) byDtype[dtype] = n;
    }
  }
  const sum = Object.values(byDtype).reduce((a, b) => a + b, 0);
  const count = typeof total === "number" && Number.isFinite(total) ? total : sum;
  return count > 0 ? { total: count, byDtype } : undefined;
}
