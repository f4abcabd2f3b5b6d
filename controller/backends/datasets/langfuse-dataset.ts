// An Experiment dataset read from Langfuse (`spec.dataset.langfuse`) through the official
// @langfuse/client: every page of the dataset's items, ACTIVE ones only (archived items are kept
// in Langfuse for history, not for new evaluations). Item ids are Langfuse's own, so the tracker
// links run items to these very items instead of creating copies.
import { langfuseClient } from "../langfuse/client.js";
import {
  langfuseBaseUrl,
  langfuseRequestOptions,
  type LangfuseConnection,
} from "../langfuse/connection.js";
import { LangfuseNotFoundError, toLangfuseError } from "../langfuse/errors.js";

export {
  LangfuseAuthError,
  LangfuseNotFoundError,
  LangfuseRequestError,
} from "../langfuse/errors.js";

/** Which dataset to read, where, and as whom (per-request timeout: default 30 s). */
export interface LoadLangfuseDatasetOptions extends LangfuseConnection {
  /** Dataset name in Langfuse. */
  name: string;
  signal?: AbortSignal;
  /** Items per page; default 50 (Langfuse's default). */
  pageSize?: number;
}

/** One active item of the dataset. */
export interface LangfuseDatasetItem {
  id: string;
  input: unknown;
  expectedOutput?: unknown;
  metadata?: unknown;
}

/** Reads all ACTIVE items of Langfuse dataset `name`; throws LangfuseNotFoundError when it does not exist, LangfuseAuthError when the keys are refused. */
export async function loadLangfuseDataset(
  options: LoadLangfuseDatasetOptions,
): Promise<{ items: LangfuseDatasetItem[] }> {
  const baseUrl = langfuseBaseUrl(options);
  const client = langfuseClient(options);
  const requestOptions = {
    ...langfuseRequestOptions(options),
    ...(options.signal === undefined ? {} : { abortSignal: options.signal }),
  };
  const limit = options.pageSize ?? 50;
  const fail = (err: unknown, request: string, what: string): unknown => {
    // A cancelled load ends with the caller's reason, not as a Langfuse failure.
    if (options.signal?.aborted === true) return options.signal.reason;
    const e = toLangfuseError(err, { request, what, baseUrl });
    if (e instanceof LangfuseNotFoundError) {
      return new LangfuseNotFoundError(
        `Langfuse dataset "${options.name}" does not exist at ${baseUrl}: check spec.dataset.langfuse.name ` +
          `and that the API keys belong to the dataset's project`,
        e.request,
        e.status,
        { cause: e },
      );
    }
    return e;
  };

  // The item listing answers 404 for an unknown dataset too; asking for the dataset first gives
  // the clearer answer before any page is read.
  try {
    await client.api.datasets.get(options.name, requestOptions);
  } catch (err: unknown) {
    throw fail(err, "GET /api/public/v2/datasets/{name}", `reading dataset "${options.name}"`);
  }
  const items: LangfuseDatasetItem[] = [];
  // Pages are ordered newest first; an item added while we read can shift one onto the next page.
  const seen = new Set<string>();
  for (let page = 1; ; page++) {
    options.signal?.throwIfAborted();
    let res;
    try {
      res = await client.api.datasetItems.list(
        { datasetName: options.name, page, limit },
        requestOptions,
      );
    } catch (err: unknown) {
      throw fail(
        err,
        "GET /api/public/dataset-items",
        `reading page ${page} of dataset "${options.name}"`,
      );
    }
    for (const item of res.data) {
      if (item.status !== "ACTIVE" || seen.has(item.id)) continue;
      seen.add(item.id);
      items.push({
        id: item.id,
        input: item.input,
        ...(item.expectedOutput == null ? {} : { expectedOutput: item.expectedOutput }),
        ...(item.metadata == null ? {} : { metadata: item.metadata }),
      });
    }
    if (page >= res.meta.totalPages || res.data.length === 0) break;
  }
  return { items };
}
