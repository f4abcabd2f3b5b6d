// The Langfuse prompt registry, through the official client, against the local Langfuse-protocol server.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  LangfusePromptRegistry,
  contentLabel,
} from "../../controller/backends/prompt-registry/langfuse.js";
import type { PromptPublication } from "../../controller/backends/prompt-registry/prompt-registry.js";
import { LangfuseTestServer } from "../servers/langfuse/server.js";

const credentials = { publicKey: "pk-lf-test", secretKey: "sk-lf-test" };

function publication(overrides: Partial<PromptPublication> = {}): PromptPublication {
  return {
    name: "triage",
    contentHash: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    llmopsVersion: 1,
    template: {
      messages: [
        { role: "system", content: "You triage tickets." },
        { role: "user", content: "{{ticket}}" },
      ],
    },
    config: { model: "gpt-4o-mini", temperature: 0 },
    labels: ["production"],
    source: "abc123",
    ...overrides,
  };
}

describe("LangfusePromptRegistry", () => {
  let server: LangfuseTestServer;
  let registry: LangfusePromptRegistry;

  beforeEach(async () => {
    server = new LangfuseTestServer(credentials);
    const baseUrl = await server.start();
    registry = new LangfusePromptRegistry({ credentials: { baseUrl, ...credentials } });
  });
  afterEach(async () => {
    await server.stop();
  });

  it("creates a chat version with the labels and the content marker", async () => {
    const result = await registry.publish(publication());
    expect(result).toMatchObject({ version: 1, created: true });
    const stored = server.prompts[0];
    expect(stored?.type).toBe("chat");
    expect(stored?.labels).toEqual(
      expect.arrayContaining(["production", "latest", contentLabel(publication().contentHash)]),
    );
    expect(stored?.prompt).toEqual([
      { type: "chatmessage", role: "system", content: "You triage tickets." },
      { type: "chatmessage", role: "user", content: "{{ticket}}" },
    ]);
    expect(stored?.config).toMatchObject({ model: "gpt-4o-mini", llmops: { version: 1 } });
  });

  it("publishing the same content again creates nothing", async () => {
    await registry.publish(publication());
    const again = await registry.publish(publication());
    expect(again).toMatchObject({ version: 1, created: false });
    expect(server.createCalls("triage")).toBe(1);
  });

  it("a revert to earlier content only moves the labels", async () => {
    await registry.publish(publication());
    const v2 = await registry.publish(
      publication({ contentHash: "sha256:" + "b".repeat(64), llmopsVersion: 2, config: { t: 1 } }),
    );
    expect(v2).toMatchObject({ version: 2, created: true });
    expect(server.prompts.find((p) => p.version === 1)?.labels).not.toContain("production");

    const back = await registry.publish(publication());
    expect(back).toMatchObject({ version: 1, created: false });
    expect(server.createCalls("triage")).toBe(2);
    expect(server.prompts.find((p) => p.version === 1)?.labels).toContain("production");
    expect(server.prompts.find((p) => p.version === 2)?.labels).not.toContain("production");
  });

  it("a text template is published as a text prompt", async () => {
    await registry.publish(publication({ name: "summary", template: { text: "Sum up {{doc}}" } }));
    expect(server.prompts[0]).toMatchObject({ type: "text", prompt: "Sum up {{doc}}" });
  });

  it("wrong credentials are an error, and nothing is created", async () => {
    const wrong = new LangfusePromptRegistry({
      credentials: { baseUrl: server.baseUrl, publicKey: "pk", secretKey: "nope" },
    });
    await expect(wrong.publish(publication())).rejects.toMatchObject({ statusCode: 401 });
    expect(server.prompts).toHaveLength(0);
  });

  it("a failed create is not retried by the client (the caller's queue retries)", async () => {
    server.failNext = { count: 1, status: 500, method: "POST" };
    await expect(registry.publish(publication())).rejects.toMatchObject({ statusCode: 500 });
    expect(server.createCalls("triage")).toBe(1);
    await registry.publish(publication());
    expect(server.createCalls("triage")).toBe(2);
    expect(server.prompts).toHaveLength(1);
  });

  it("remove deletes every version; removing again is fine", async () => {
    await registry.publish(publication());
    await registry.remove("triage");
    expect(server.prompts).toHaveLength(0);
    await expect(registry.remove("triage")).resolves.toBeUndefined();
  });
});
