// Experiment datasets from the Hugging Face Hub, through the official @huggingface/hub client,
// against the local server that speaks the Hub's wire protocol.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  fetchHubDatasetFile,
  HubAuthError,
  HubError,
  HubNotFoundError,
  HubTooLargeError,
  HubUnavailableError,
  type FetchHubDatasetFileOptions,
} from "../../controller/backends/hub/huggingface.js";
import { HubTestServer } from "../servers/huggingface/server.js";

const token = "hf_rightRightRightRightRightRight01";
const wrongToken = "hf_wrongWrongWrongWrongWrongWrong02";
/** A valid token of another user, who has no access to the private repo. */
const otherToken = "hf_otherOtherOtherOtherOtherOther03";
const v1 =
  '{"input":"refund please","expected":"billing"}\n{"input":"app crashes","expected":"bug"}\n';
const v2 = `${v1}{"input":"love it","expected":"praise"}\n`;

/** Awaits a promise expected to reject; returns the error (so every test can check the token is absent). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(Error);
    const error = err as Error;
    for (let e: unknown = error; e instanceof Error; e = e.cause) {
      expect(e.message).not.toContain(token);
      expect(e.message).not.toContain(wrongToken);
      expect(e.message).not.toContain(otherToken);
      expect(e.message).not.toContain("rightRight");
    }
    return error;
  }
  throw new Error("expected a rejection");
}

describe("fetchHubDatasetFile", () => {
  let server: HubTestServer;
  let endpoint: string;
  let mainCommit: string;

  function fetchFile(overrides: Partial<FetchHubDatasetFileOptions> = {}) {
    return fetchHubDatasetFile({
      endpoint,
      repo: "acme/tickets",
      file: "data/test.jsonl",
      revision: "main",
      token: null,
      maxBytes: 1024 * 1024,
      ...overrides,
    });
  }

  beforeEach(async () => {
    server = new HubTestServer();
    endpoint = await server.start();
    mainCommit = server.addDataset({
      repo: "acme/tickets",
      files: { "data/test.jsonl": v1, "README.md": "# tickets\n" },
      tags: ["v1"],
    }).main;
    server.addDataset({
      repo: "acme/secret",
      private: true,
      token,
      files: { "data/test.jsonl": v1 },
    });
    server.knownTokens.add(otherToken);
  });
  afterEach(async () => {
    await server.stop();
  });

  it("reads a public file at main and returns the commit main points to", async () => {
    const result = await fetchFile();
    expect(result).toEqual({ text: v1, commit: mainCommit, size: Buffer.byteLength(v1) });
    // The revision is resolved first; the file is then read at the commit, not at the branch.
    const paths = server.requests.map((r) => `${r.method} ${r.url.split("?")[0] ?? ""}`);
    expect(paths[0]).toBe("GET /api/datasets/acme/tickets/revision/main");
    expect(paths.slice(1)).toEqual([
      `GET /datasets/acme/tickets/resolve/${mainCommit}/data/test.jsonl`,
      `GET /datasets/acme/tickets/resolve/${mainCommit}/data/test.jsonl`,
    ]);
    expect(server.requests[1]?.range).toBe("bytes=0-0");
    expect(server.requests.every((r) => r.authorization === null)).toBe(true);
  });

  it("reads the file at an older commit sha after main moved, and at a tag", async () => {
    const newer = server.commit("acme/tickets", { files: { "data/test.jsonl": v2 } });
    expect(await fetchFile({ revision: mainCommit })).toMatchObject({
      text: v1,
      commit: mainCommit,
    });
    expect(await fetchFile({ revision: "v1" })).toMatchObject({ text: v1, commit: mainCommit });
    expect(await fetchFile()).toMatchObject({ text: v2, commit: newer });
  });

  it("a branch that moves between two calls resolves to different commits", async () => {
    const { branches } = server.addDataset({
      repo: "acme/moving",
      files: { "data/test.jsonl": v1 },
      branches: { dev: { "data/test.jsonl": v1 } },
    });
    const first = await fetchFile({ repo: "acme/moving", revision: "dev" });
    const moved = server.commit("acme/moving", { branch: "dev", files: { "data/test.jsonl": v2 } });
    const second = await fetchFile({ repo: "acme/moving", revision: "dev" });
    expect(first).toMatchObject({ text: v1, commit: branches.dev });
    expect(second).toMatchObject({ text: v2, commit: moved });
    expect(second.commit).not.toBe(first.commit);
  });

  it("follows the Hub's redirect to LFS storage", async () => {
    const { main } = server.addDataset({
      repo: "acme/big",
      lfs: true,
      files: { "data/test.jsonl": v2 },
    });
    expect(await fetchFile({ repo: "acme/big" })).toEqual({
      text: v2,
      commit: main,
      size: Buffer.byteLength(v2),
    });
    expect(server.requests.some((r) => r.url.startsWith("/cdn/"))).toBe(true);
  });

  it("reads a private repo with the right token and sends it as a bearer token", async () => {
    const result = await fetchFile({ repo: "acme/secret", token });
    expect(result.text).toBe(v1);
    expect(server.requests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
  });

  it("a private repo without a token is an auth error that names the field to set", async () => {
    const error = await failure(fetchFile({ repo: "acme/secret" }));
    expect(error).toBeInstanceOf(HubAuthError);
    expect(error.message).toContain(
      "the repo is private or gated: set spec.dataset.huggingFace.tokenSecretRef",
    );
    expect((error as HubAuthError).status).toBe(401);
  });

  it("a private repo with the wrong token is an auth error", async () => {
    const error = await failure(fetchFile({ repo: "acme/secret", token: wrongToken }));
    expect(error).toBeInstanceOf(HubAuthError);
    expect(error.message).toContain("the Hub refused the token");
    expect((error as HubAuthError).status).toBe(401);
  });

  it("a private repo with another user's valid token is hidden, as the Hub does (404)", async () => {
    const error = await failure(fetchFile({ repo: "acme/secret", token: otherToken }));
    expect(error).toBeInstanceOf(HubNotFoundError);
    expect(error.message).toBe(
      "dataset repo acme/secret does not exist, or the token cannot see it",
    );
  });

  it("a wrong token is refused even for a public repo", async () => {
    const error = await failure(fetchFile({ token: wrongToken }));
    expect(error).toBeInstanceOf(HubAuthError);
    expect(error.message).toContain("the Hub refused the token");
  });

  it("a token that is not a Hub token is refused before any request", async () => {
    const error = await failure(fetchFile({ token: "not-a-hub-token" }));
    expect(error).toBeInstanceOf(HubAuthError);
    expect(error.message).not.toContain("not-a-hub-token");
    expect(server.requests).toHaveLength(0);
  });

  it("a gated repo without access is an auth error", async () => {
    server.addDataset({ repo: "acme/gated", gated: true, token, files: { "data/test.jsonl": v1 } });
    const anonymous = await failure(fetchFile({ repo: "acme/gated" }));
    expect(anonymous).toBeInstanceOf(HubAuthError);
    expect(anonymous.message).toContain("set spec.dataset.huggingFace.tokenSecretRef");
    const other = await failure(fetchFile({ repo: "acme/gated", token: otherToken }));
    expect(other).toBeInstanceOf(HubAuthError);
    expect((other as HubAuthError).status).toBe(403);
    expect(other.message).toContain("is gated");
    expect((await fetchFile({ repo: "acme/gated", token })).text).toBe(v1);
  });

  it.each([
    {
      name: "repo",
      overrides: { repo: "acme/nope", token },
      message: "dataset repo acme/nope does not exist, or the token cannot see it",
    },
    {
      name: "revision",
      overrides: { revision: "nope" },
      message: "dataset repo acme/tickets has no revision nope",
    },
    {
      name: "file",
      overrides: { file: "data/nope.jsonl" },
      message: "dataset repo acme/tickets has no file data/nope.jsonl at revision main",
    },
  ])("a missing $name is a not-found error that names it", async ({ name, overrides, message }) => {
    const error = await failure(fetchFile(overrides));
    expect(error).toBeInstanceOf(HubNotFoundError);
    expect((error as HubNotFoundError).missing).toBe(name);
    expect(error.message.startsWith(message)).toBe(true);
  });

  it("a missing repo asked for anonymously cannot be told from a private one", async () => {
    const error = await failure(fetchFile({ repo: "acme/nope" }));
    expect(error).toBeInstanceOf(HubAuthError);
    expect(error.message).toContain("dataset repo acme/nope");
  });

  it("a file bigger than maxBytes is refused from its announced size, before the download", async () => {
    const error = await failure(fetchFile({ maxBytes: 10 }));
    expect(error).toBeInstanceOf(HubTooLargeError);
    expect(error).toMatchObject({ maxBytes: 10, size: Buffer.byteLength(v1) });
    expect(error.message).toContain("file data/test.jsonl of dataset repo acme/tickets");
    // Only the revision lookup and the one-byte probe: the content was never requested.
    expect(server.requests.filter((r) => r.url.includes("/resolve/"))).toHaveLength(1);
  });

  it.each([
    { name: "with a Content-Length", chunked: false },
    { name: "streamed without a Content-Length", chunked: true },
  ])(
    "a file that turns out bigger than announced is refused while reading ($name)",
    async ({ chunked }) => {
      // A storage that understates the size in the probe's Content-Range.
      const understating: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        const headers = new Headers(response.headers);
        const range = headers.get("Content-Range");
        if (range !== null) headers.set("Content-Range", range.replace(/\/\d+$/, "/5"));
        if (chunked) headers.delete("Content-Length");
        return new Response(response.body, { status: response.status, headers });
      };
      const error = await failure(fetchFile({ maxBytes: 20, fetch: understating }));
      expect(error).toBeInstanceOf(HubTooLargeError);
      expect((error as HubTooLargeError).size).toBeGreaterThan(20);
    },
  );

  it("a 5xx is a retryable unavailable error", async () => {
    server.failNext = { count: 1, status: 503 };
    const error = await failure(fetchFile());
    expect(error).toBeInstanceOf(HubUnavailableError);
    expect(error).toMatchObject({ status: 503, retryable: true });
    expect(await fetchFile()).toMatchObject({ text: v1 });
  });

  it("a 5xx on the download itself is retryable too", async () => {
    await fetchFile();
    server.requests.length = 0;
    const flaky: typeof fetch = async (input, init) => {
      if (server.requests.length === 2) server.failNext = { count: 1, status: 502 };
      return fetch(input, init);
    };
    const error = await failure(fetchFile({ token: null, fetch: flaky }));
    expect(error).toBeInstanceOf(HubUnavailableError);
    expect(error).toMatchObject({ status: 502 });
  });

  it("an unreachable Hub is a retryable unavailable error", async () => {
    await server.stop();
    const error = await failure(fetchFile({ token }));
    expect(error).toBeInstanceOf(HubUnavailableError);
    expect(error.message).toContain(new URL(endpoint).origin);
  });

  it("the caller's signal aborts the request", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await failure(fetchFile({ signal: controller.signal }));
    expect(error).not.toBeInstanceOf(HubError);
    expect(error.name).toBe("AbortError");
  });
});
