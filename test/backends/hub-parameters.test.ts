// A base model's parameter count from the Hub's safetensors metadata, through the official
// @huggingface/hub client, against the local server that speaks the Hub's wire protocol (it
// computes `safetensors` from the headers of the commit's .safetensors files, as the Hub does).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HubAuthError, HubUnavailableError } from "../../controller/backends/hub/huggingface.js";
import {
  BaseModelNotFoundError,
  ParameterCountUnknownError,
  fetchModelParameterCount,
  type ModelParameterCountOptions,
} from "../../controller/backends/hub/parameters.js";
import { safetensorsFile } from "../servers/huggingface/safetensors.js";
import { HubTestServer } from "../servers/huggingface/server.js";

const token = "hf_rightRightRightRightRightRight01";
const otherToken = "hf_otherOtherOtherOtherOtherOther03";

/** Header-only shards of an 8.09B-parameter model, BF16 with an F32 norm. */
const embedding = 152_064 * 3584;
const upProj = 18_944 * 3584;
const shard1 = safetensorsFile({
  "model.embed_tokens.weight": { dtype: "BF16", shape: [152_064, 3584] },
  "model.layers.0.mlp.up_proj.weight": { dtype: "BF16", shape: [18_944, 3584] },
  "model.norm.weight": { dtype: "F32", shape: [3584] },
});
const shard2 = safetensorsFile({
  "model.layers.1.rest.weight": { dtype: "BF16", shape: [7_000_000_000 - upProj] },
  "lm_head.weight": { dtype: "BF16", shape: [152_064, 3584] },
});
/** Both shards' BF16 tensors: two 545,009,664 embeddings and 7,000,000,000 between them. */
const bf16 = 2 * embedding + 7_000_000_000;

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(Error);
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      expect(e.message).not.toContain("rightRight");
      expect(e.message).not.toContain("otherOther");
    }
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("fetchModelParameterCount", () => {
  let server: HubTestServer;
  let endpoint: string;
  let main: string;
  let bigger: string;

  const count = (overrides: Partial<ModelParameterCountOptions> = {}) =>
    fetchModelParameterCount({
      endpoint,
      repo: "acme/coder-7b",
      revision: main,
      token: null,
      ...overrides,
    });

  beforeEach(async () => {
    server = new HubTestServer();
    endpoint = await server.start();
    const created = server.addDataset({
      repo: "acme/coder-7b",
      files: {
        "config.json": "{}",
        "model-00001-of-00002.safetensors": shard1,
        "model-00002-of-00002.safetensors": shard2,
      },
      // A branch whose weights grew: the count follows the revision.
      branches: {
        wide: {
          "model-00003-of-00003.safetensors": safetensorsFile({
            extra: { dtype: "BF16", shape: [1_000_000_000] },
          }),
        },
      },
    });
    main = created.main;
    bigger = created.branches.wide ?? "";
    server.addDataset({ repo: "acme/pickled", files: { "pytorch_model.bin": "not safetensors" } });
    server.addDataset({
      repo: "acme/private-7b",
      private: true,
      token,
      files: { "model.safetensors": shard1 },
    });
    server.addDataset({
      repo: "acme/gated-7b",
      gated: true,
      token,
      files: { "model.safetensors": shard1 },
    });
    server.knownTokens.add(otherToken);
  });

  afterEach(async () => {
    await server.stop();
  });

  it("sums the safetensors count at the resolved commit, by dtype", async () => {
    const result = await count();
    expect(result).toEqual({
      parameters: bf16 + 3584,
      parametersBillions: (bf16 + 3584) / 1e9,
      byDtype: { BF16: bf16, F32: 3584 },
      commit: main,
    });
    expect(result.parametersBillions).toBeCloseTo(8.09, 2);
    const request = server.requests.at(-1);
    expect(request?.url).toMatch(
      new RegExp(`^/api/models/acme/coder-7b/revision/${main}\\?.*expand=safetensors`),
    );
    expect(request?.authorization).toBeNull();
  });

  it("another revision, another count", async () => {
    const result = await count({ revision: bigger });
    expect(result.parametersBillions).toBeCloseTo(9.09, 2);
    expect(result.commit).toBe(bigger);
    expect((await count({ revision: "wide" })).commit).toBe(bigger);
  });

  it("a private model with the token; the token is sent as a bearer", async () => {
    const result = await count({ repo: "acme/private-7b", revision: "main", token });
    expect(result.byDtype.BF16).toBe(embedding + upProj);
    expect(server.requests.at(-1)?.authorization).toBe(`Bearer ${token}`);
  });

  it("no safetensors weights: ParameterCountUnknown, set spec.baseModel.parametersBillions", async () => {
    const err = await failure(count({ repo: "acme/pickled", revision: "main" }));
    expect(err).toBeInstanceOf(ParameterCountUnknownError);
    expect(err).toMatchObject({ reason: "ParameterCountUnknown" });
    expect(err.message).toBe(
      "the Hub reports no safetensors parameter count for model acme/pickled@main (its weights are not in .safetensors files): set spec.baseModel.parametersBillions",
    );
  });

  it("a model that does not exist: BaseModelNotFound naming spec.baseModel.repo", async () => {
    const anonymous = await failure(count({ repo: "acme/nope", revision: "main" }));
    expect(anonymous).toBeInstanceOf(BaseModelNotFoundError);
    expect(anonymous).toMatchObject({ reason: "BaseModelNotFound", missing: "repo" });
    expect(anonymous.message).toBe(
      `model acme/nope does not exist on ${endpoint}, or it is private: fix spec.baseModel.repo, or set spec.baseModel.tokenSecretRef`,
    );
    const withToken = await failure(count({ repo: "acme/nope", revision: "main", token }));
    expect(withToken).toBeInstanceOf(BaseModelNotFoundError);
    expect(withToken.message).toBe(
      `model acme/nope does not exist on ${endpoint}, or the token cannot see it: fix spec.baseModel.repo`,
    );
    // A private model and a token of another user: the Hub answers 404, as for a missing one.
    const other = await failure(
      count({ repo: "acme/private-7b", revision: "main", token: otherToken }),
    );
    expect(other).toBeInstanceOf(BaseModelNotFoundError);
  });

  it("a revision that does not exist: BaseModelNotFound naming spec.baseModel.revision", async () => {
    const err = await failure(count({ revision: "v9" }));
    expect(err).toBeInstanceOf(BaseModelNotFoundError);
    expect(err).toMatchObject({ reason: "BaseModelNotFound", missing: "revision" });
    expect(err.message).toBe(
      `model acme/coder-7b on ${endpoint} has no revision v9: fix spec.baseModel.revision`,
    );
  });

  it("a gated model, a refused token, a malformed token: HubAuthError naming the Secret", async () => {
    const gated = await failure(count({ repo: "acme/gated-7b", revision: "main" }));
    expect(gated).toBeInstanceOf(HubAuthError);
    expect(gated.message).toBe(
      "model acme/gated-7b@main is gated: set spec.baseModel.tokenSecretRef to the token of a user who has been granted access",
    );
    const notGranted = await failure(
      count({ repo: "acme/gated-7b", revision: "main", token: otherToken }),
    );
    expect(notGranted.message).toMatch(/is gated: request access on the Hub for the token's user/);
    const refused = await failure(count({ token: "hf_unknownUnknownUnknownUnknown0000" }));
    expect(refused).toBeInstanceOf(HubAuthError);
    expect(refused.message).toBe(
      `the Hub refused the token (HTTP 401) for model acme/coder-7b@${main}: check the Secret named by spec.baseModel.tokenSecretRef`,
    );
    const malformed = await failure(count({ token: "not-a-token" }));
    expect(malformed.message).toBe(
      "the Secret named by spec.baseModel.tokenSecretRef does not hold a Hugging Face access token (they start with hf_)",
    );
  });

  it("a Hub error or an unreachable Hub is HubUnavailableError (retried)", async () => {
    server.failNext = { count: 1, status: 503 };
    const busy = await failure(count());
    expect(busy).toBeInstanceOf(HubUnavailableError);
    expect(busy.message).toBe(
      `the Hub answered HTTP 503 for model acme/coder-7b@${main}; retrying later may help`,
    );
    await server.stop();
    const down = await failure(count());
    expect(down).toBeInstanceOf(HubUnavailableError);
    expect(down.message).toMatch(/^cannot reach the Hub at http:\/\/127\.0\.0\.1:\d+: /);
  });

  it("the caller's signal aborts the request", async () => {
    const abort = new AbortController();
    abort.abort();
    const err = await failure(count({ signal: abort.signal }));
    expect(err).not.toBeInstanceOf(HubUnavailableError);
    expect(err.name).toBe("AbortError");
  });
});
