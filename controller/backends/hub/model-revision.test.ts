import { describe, expect, it } from "vitest";
import { resolveModelRevision } from "./huggingface.js";

describe("resolveModelRevision", () => {
  it("a full commit sha needs no call to the Hub (air-gapped clusters)", async () => {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const offline: typeof fetch = () => Promise.reject(new Error("no network here"));
    await expect(
      resolveModelRevision({
        endpoint: "http://hub.invalid",
        repo: "acme/m",
        revision: sha,
        token: null,
        fetch: offline,
      }),
    ).resolves.toBe(sha);
  });

  it("a branch needs the Hub: unreachable is HubUnavailableError (retried), not a missing model", async () => {
    const offline: typeof fetch = () => Promise.reject(new TypeError("fetch failed"));
    await expect(
      resolveModelRevision({
        endpoint: "http://hub.invalid",
        repo: "acme/m",
        revision: "main",
        token: null,
        fetch: offline,
      }),
    ).rejects.toMatchObject({ name: "HubUnavailableError" });
  });
});
