// Experiment datasets from a file in a Hugging Face Hub dataset repo, through the official
// @huggingface/hub client. The revision is resolved to a commit first and the file is read at that
// commit, so the caller can pin a run to it: a branch that moves must not change a running
// experiment's items.
//
// The library reports every HTTP failure as a HubApiError with the status and the body's message,
// but not the Hub's X-Error-Code header, which is the only reliable way to tell a missing repo
// from a missing revision. The fetch handed to the library therefore records the last failed
// response's error code, adds the caller's AbortSignal, turns network failures into
// HubUnavailableError and, for the download itself, counts the bytes as they arrive.
import {
  datasetInfo,
  downloadFile,
  fileDownloadInfo,
  HubApiError,
  modelInfo,
  InvalidApiResponseFormatError,
} from "@huggingface/hub";
import { errorMessage } from "../../kube/errors.js";

interface HubErrorOptions {
  cause?: unknown;
}

/** Base class of every error fetchHubDatasetFile throws (except the caller's own abort). */
export class HubError extends Error {
  override name = "HubError";

  constructor(message: string, options: HubErrorOptions = {}) {
    super(message, { cause: options.cause });
  }
}

/** The repo, the revision or the file does not exist (or the token cannot see it). */
export class HubNotFoundError extends HubError {
  override name = "HubNotFoundError";
  readonly missing: "repo" | "revision" | "file";

  constructor(
    message: string,
    options: HubErrorOptions & { missing: "repo" | "revision" | "file" },
  ) {
    super(message, options);
    this.missing = options.missing;
  }
}

/** The Hub refused the token, or the repo needs one (private or gated). */
export class HubAuthError extends HubError {
  override name = "HubAuthError";
  readonly status: number | null;

  constructor(message: string, options: HubErrorOptions & { status?: number | null } = {}) {
    super(message, options);
    this.status = options.status ?? null;
  }
}

/** The file is bigger than the caller accepts. */
export class HubTooLargeError extends HubError {
  override name = "HubTooLargeError";
  readonly maxBytes: number;
  /** The size the Hub announced, or the bytes read when it stopped. */
  readonly size: number;

  constructor(message: string, options: HubErrorOptions & { maxBytes: number; size: number }) {
    super(message, options);
    this.maxBytes = options.maxBytes;
    this.size = options.size;
  }
}

/** 5xx, 408, 429 or a network failure: may succeed later, retry with backoff. */
export class HubUnavailableError extends HubError {
  override name = "HubUnavailableError";
  readonly retryable = true;
  readonly status: number | null;

  constructor(message: string, options: HubErrorOptions & { status?: number | null } = {}) {
    super(message, options);
    this.status = options.status ?? null;
  }
}

export interface FetchHubDatasetFileOptions {
  /** Hub base URL (the library's hubUrl), e.g. https://huggingface.co. */
  endpoint: string;
  /** Dataset repo, owner/name. */
  repo: string;
  /** Path of the file inside the repo. */
  file: string;
  /** Branch, tag or commit sha. */
  revision: string;
  /** Hub access token (hf_…), or null for anonymous access. */
  token: string | null;
  /** Files bigger than this are refused with HubTooLargeError. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Replaces the global fetch (the library's `fetch` option). */
  fetch?: typeof fetch;
}

export interface HubDatasetFile {
  /** The file's content, decoded as UTF-8. */
  text: string;
  /** The commit sha the revision resolved to; the file was read at this commit. */
  commit: string;
  /** Bytes read. */
  size: number;
}

const repoPattern = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;
const commitPattern = /^[0-9a-f]{40}$/;

/** Downloads one file of a dataset repo at a revision; returns its text and the commit it resolved to. */
export async function fetchHubDatasetFile(
  options: FetchHubDatasetFileOptions,
): Promise<HubDatasetFile> {
  const { endpoint, repo, file, revision, token, maxBytes, signal } = options;
  if (!repoPattern.test(repo)) {
    throw new HubNotFoundError(
      `spec.dataset.huggingFace.repo ${JSON.stringify(repo)} is not a dataset repo id: use owner/name`,
      { missing: "repo" },
    );
  }
  if (token !== null && !token.startsWith("hf_")) {
    // The library throws a TypeError for these; say which field to fix instead.
    throw new HubAuthError(
      token === ""
        ? "the Secret named by spec.dataset.huggingFace.tokenSecretRef holds an empty token"
        : "the Secret named by spec.dataset.huggingFace.tokenSecretRef does not hold a Hugging Face access token (they start with hf_)",
    );
  }
  const hubUrl = endpoint.replace(/\/+$/, "");
  const recorder = new RecordingFetch(options.fetch ?? fetch, signal);
  const common = {
    hubUrl,
    fetch: recorder.fetch,
    ...(token === null ? {} : { accessToken: token }),
  };
  const context: FailureContext = {
    repo,
    file,
    revision,
    commit: null,
    tokenGiven: token !== null,
  };

  let commit: string;
  try {
    const info = await datasetInfo({ ...common, name: repo, revision, additionalFields: ["sha"] });
    commit = info.sha;
  } catch (err: unknown) {
    throw translateFailure(err, { ...context, step: "revision", recorder, signal });
  }
  if (typeof commit !== "string" || !commitPattern.test(commit)) {
    throw new HubError(
      `the Hub at ${hubUrl} did not resolve revision ${revision} of dataset repo ${repo} to a commit sha`,
    );
  }
  context.commit = commit;

  const repoId = { type: "dataset" as const, name: repo };
  // The library puts the path into the URL as given; the Hub expects each segment URL-encoded.
  const path = file.split("/").map(encodeURIComponent).join("/");
  try {
    const info = await fileDownloadInfo({ ...common, repo: repoId, path, revision: commit });
    if (info === null) {
      throw new HubNotFoundError(missingFileMessage(context), { missing: "file" });
    }
    if (info.size > maxBytes) {
      throw new HubTooLargeError(tooLargeMessage(context, info.size, maxBytes), {
        maxBytes,
        size: info.size,
      });
    }
    // xet: false reads the file through one plain HTTP stream (following the Hub's redirect to its
    // storage) instead of the Xet chunk protocol: the files are small, and the byte limit below
    // applies to that stream.
    const blob = await downloadFile({
      ...common,
      repo: repoId,
      path,
      revision: commit,
      downloadInfo: info,
      xet: false,
    });
    if (blob === null) {
      throw new HubNotFoundError(missingFileMessage(context), { missing: "file" });
    }
    recorder.limitBodies(
      maxBytes,
      (size) => new HubTooLargeError(tooLargeMessage(context, size, maxBytes), { maxBytes, size }),
    );
    const bytes = new Uint8Array(await blob.arrayBuffer());
    if (bytes.byteLength > maxBytes) {
      throw new HubTooLargeError(tooLargeMessage(context, bytes.byteLength, maxBytes), {
        maxBytes,
        size: bytes.byteLength,
      });
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (err: unknown) {
      throw new HubError(`${describeFile(context)} is not valid UTF-8 text`, { cause: err });
    }
    return { text, commit, size: bytes.byteLength };
  } catch (err: unknown) {
    throw translateFailure(err, { ...context, step: "file", recorder, signal });
  }
}

interface FailureContext {
  repo: string;
  file: string;
  revision: string;
  commit: string | null;
  tokenGiven: boolean;
}

interface RecordedFailure {
  status: number;
  /** The Hub's X-Error-Code header (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo…). */
  errorCode: string | null;
}

/** The fetch given to the library; see the file comment. */
class RecordingFetch {
  lastFailure: RecordedFailure | null = null;
  private bodyLimit: { maxBytes: number; tooLarge: (size: number) => HubTooLargeError } | null =
    null;

  constructor(
    private readonly inner: typeof fetch,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** From now on, response bodies that announce or deliver more than maxBytes fail with tooLarge. */
  limitBodies(maxBytes: number, tooLarge: (size: number) => HubTooLargeError): void {
    this.bodyLimit = { maxBytes, tooLarge };
  }

  readonly fetch: typeof fetch = async (input, init) => {
    let response: Response;
    try {
      response = await this.inner(input, { ...init, ...(this.signal && { signal: this.signal }) });
    } catch (err: unknown) {
      if (this.signal?.aborted) throw err;
      throw new HubUnavailableError(
        `cannot reach the Hub at ${describeUrl(input)}: ${message(err)}`,
        {
          cause: err,
        },
      );
    }
    if (!response.ok) {
      this.lastFailure = {
        status: response.status,
        errorCode: response.headers.get("X-Error-Code"),
      };
      return response;
    }
    const limit = this.bodyLimit;
    if (limit === null || response.body === null) return response;
    const announced = Number(response.headers.get("Content-Length") ?? NaN);
    if (Number.isFinite(announced) && announced > limit.maxBytes) {
      await response.body.cancel();
      throw limit.tooLarge(announced);
    }
    let read = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          read += chunk.byteLength;
          if (read > limit.maxBytes) {
            controller.error(limit.tooLarge(read));
            return;
          }
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function translateFailure(
  err: unknown,
  at: FailureContext & {
    step: "revision" | "file";
    recorder: RecordingFetch;
    signal: AbortSignal | undefined;
  },
): unknown {
  if (at.signal?.aborted) return err;
  if (err instanceof HubError) return err;
  if (err instanceof HubApiError) {
    const status = err.statusCode;
    const failure = at.recorder.lastFailure;
    const errorCode = failure?.status === status ? failure.errorCode : null;
    const detail = hubMessage(err);
    if (status === 401 || status === 403) return authFailure(at, status, errorCode, err);
    if (status === 404) {
      if (errorCode === "RepoNotFound" || (errorCode === null && at.step === "revision")) {
        return new HubNotFoundError(
          `dataset repo ${at.repo} does not exist${at.tokenGiven ? ", or the token cannot see it" : ""}` +
            (errorCode === null ? ` (or has no revision ${at.revision})` : ""),
          { missing: "repo", cause: err },
        );
      }
      if (errorCode === "RevisionNotFound") {
        return new HubNotFoundError(`dataset repo ${at.repo} has no revision ${at.revision}`, {
          missing: "revision",
          cause: err,
        });
      }
      return new HubNotFoundError(missingFileMessage(at), { missing: "file", cause: err });
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new HubUnavailableError(
        `the Hub answered HTTP ${status} for dataset repo ${at.repo}${detail}; retrying later may help`,
        { status, cause: err },
      );
    }
    return new HubError(`the Hub answered HTTP ${status} for ${describeFile(at)}${detail}`, {
      cause: err,
    });
  }
  if (err instanceof InvalidApiResponseFormatError) {
    return new HubError(
      `the Hub's answer for ${describeFile(at)} is not what the Hub protocol promises: ${err.message}`,
      { cause: err },
    );
  }
  if (at.step === "file" && err instanceof TypeError) {
    // The body stream broke mid-download (connection reset, truncated body).
    return new HubUnavailableError(`reading ${describeFile(at)} failed: ${err.message}`, {
      cause: err,
    });
  }
  return new HubError(`reading ${describeFile(at)} failed: ${message(err)}`, { cause: err });
}

function authFailure(
  at: FailureContext,
  status: number,
  errorCode: string | null,
  cause: HubApiError,
): HubAuthError {
  const field = "spec.dataset.huggingFace.tokenSecretRef";
  if (errorCode === "GatedRepo") {
    return new HubAuthError(
      at.tokenGiven
        ? `dataset repo ${at.repo} is gated and the token's user has not been granted access: request access on the Hub, or use a token of a user who has it`
        : `the repo is private or gated: set ${field} (dataset repo ${at.repo})`,
      { status, cause },
    );
  }
  if (at.tokenGiven) {
    return new HubAuthError(
      `the Hub refused the token (HTTP ${status}) for dataset repo ${at.repo}: check the Secret named by ${field}`,
      { status, cause },
    );
  }
  // Anonymous requests get 401 both for private repos and for repos that do not exist.
  return new HubAuthError(
    `the repo is private or gated: set ${field} (dataset repo ${at.repo}; an anonymous request cannot tell a private repo from a missing one, so also check the name)`,
    { status, cause },
  );
}

function describeFile(at: FailureContext): string {
  return `file ${at.file} of dataset repo ${at.repo} at revision ${at.revision}`;
}

function missingFileMessage(at: FailureContext): string {
  const pinned = at.commit !== null && at.commit !== at.revision ? ` (commit ${at.commit})` : "";
  return `dataset repo ${at.repo} has no file ${at.file} at revision ${at.revision}${pinned}`;
}

function tooLargeMessage(at: FailureContext, size: number, maxBytes: number): string {
  return `${describeFile(at)} is ${size} bytes, more than the ${maxBytes} bytes allowed: use a smaller file or split it`;
}

/** The Hub's own error text, without the URL trailer the library appends. */
function hubMessage(err: HubApiError): string {
  const data = err.data as { error?: unknown; message?: unknown } | undefined;
  const text = typeof data?.error === "string" ? data.error : data?.message;
  return typeof text === "string" && text.trim() !== "" ? ` (${text.trim().slice(0, 200)})` : "";
}

function describeUrl(input: Parameters<typeof fetch>[0]): string {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  try {
    return new URL(url).origin;
  } catch {
    return "the configured endpoint";
  }
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return err.message + cause;
}

/** Resolves a model repository's branch or tag to its commit (a full commit sha needs no call). */
export async function resolveModelRevision(options: {
  endpoint: string;
  repo: string;
  revision: string;
  token: string | null;
  fetch?: typeof fetch;
  /** The spec field that names the repo, for messages (default spec.model.huggingFace). */
  field?: string;
  /** A dataset repository instead of a model. */
  type?: "model" | "dataset";
}): Promise<string> {
  const { repo, revision, token } = options;
  if (commitPattern.test(revision)) return revision; // air-gapped clusters pin commits
  const hubUrl = options.endpoint.replace(/\/+$/, "");
  const field = options.field ?? "spec.model.huggingFace";
  const type = options.type ?? "model";
  try {
    const params = {
      name: repo,
      revision,
      hubUrl,
      additionalFields: ["sha"] as ["sha"],
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(token === null ? {} : { accessToken: token }),
    };
    const info = type === "model" ? await modelInfo(params) : await datasetInfo(params);
    if (typeof info.sha !== "string" || !commitPattern.test(info.sha)) {
      throw new HubError(`the Hub at ${hubUrl} did not resolve ${repo}@${revision} to a commit`);
    }
    return info.sha;
  } catch (err: unknown) {
    if (err instanceof HubError) throw err;
    const status = err instanceof HubApiError ? err.statusCode : undefined;
    const what = `${type} ${repo}@${revision} on ${hubUrl}`;
    if (status === 401 || status === 403) {
      throw new HubAuthError(
        `${what}: ${errorMessage(err)}; for a private or gated ${type} set ${field}.tokenSecretRef to a token that can read it`,
      );
    }
    if (status === 404) {
      throw new HubNotFoundError(`${what} does not exist: fix ${field}.repo or revision`, {
        missing: "repo",
      });
    }
    throw new HubUnavailableError(`${what}: ${errorMessage(err)}`);
  }
}
