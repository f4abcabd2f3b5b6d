// llmJudge against the local OpenAI-protocol server: the judge is a model on that server whose
// replies imitate real judges (fenced JSON, chatter, out-of-range scores, outages).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAiChatClient } from "../../controller/backends/llm/index.js";
import { createEvaluator } from "../../controller/evaluators/index.js";
import {
  startOpenAiTestServer,
  type ChatRequestBody,
  type OpenAiTestServer,
} from "../servers/openai/server.js";

/** Scores 9 when the response matches the reference, else 2, wrapped the way chatty judges do. */
function fairJudge(body: ChatRequestBody): string {
  const user = body.messages.find((m) => m.role === "user")?.content ?? "";
  const reference = /<reference>\n([\s\S]*?)\n<\/reference>/.exec(user)?.[1]?.trim();
  const response = /<response>\n([\s\S]*?)\n<\/response>/.exec(user)?.[1]?.trim();
  const score = reference !== undefined && reference === response ? 9 : 2;
  return `Sure! Here is my evaluation:\n\`\`\`json\n{"score": ${String(score)}, "reason": "${score === 9 ? "matches the reference" : "does not match"}"}\n\`\`\`\nLet me know if you need more.`;
}

let server: OpenAiTestServer;

beforeAll(async () => {
  server = await startOpenAiTestServer({
    apiKey: "sk-judge",
    models: [
      { id: "fair-judge", respond: fairJudge },
      { id: "wild-judge", respond: () => '{"score": 15, "reason": "amazing"}' },
      { id: "down-judge", respond: fairJudge },
    ],
    faults: [{ fault: { type: "server-error", status: 503 }, model: "down-judge" }],
  });
});

afterAll(async () => {
  await server.close();
});

const judgeClient = () =>
  createOpenAiChatClient({
    baseURL: server.baseURL,
    apiKey: "sk-judge",
    retry: { maxRetries: 2 },
    sleep: () => Promise.resolve(),
  });

const spec = (model: string) =>
  ({
    name: "correctness",
    type: "llmJudge",
    model,
    rubric: "The response must state the same answer as the reference.",
    scale: { min: 1, max: 10 },
    passThreshold: 7,
  }) as const;

const item = { id: "capital", input: { question: "Capital of France?" }, expected: "Paris" };

describe("llmJudge over HTTP", () => {
  it("parses a chatty, fenced reply into a score and a verdict", async () => {
    const judge = createEvaluator(spec("fair-judge"), { judgeClient: judgeClient() });
    expect(await judge.evaluate({ item, output: "Paris" })).toMatchObject({
      score: 9,
      passed: true,
      detail: { reason: "matches the reference", attempts: 1 },
    });
    expect(await judge.evaluate({ item, output: "Lyon" })).toMatchObject({
      score: 2,
      passed: false,
    });
  });

  it("records an out-of-range score as a judge failure", async () => {
    const judge = createEvaluator(spec("wild-judge"), { judgeClient: judgeClient() });
    expect(await judge.evaluate({ item, output: "Paris" })).toMatchObject({
      score: null,
      passed: null,
      error: "judge score 15 is outside the scale 1–10",
    });
  });

  it("records an unreachable judge as a failure after its retries", async () => {
    const judge = createEvaluator(spec("down-judge"), { judgeClient: judgeClient() });
    const before = server.requests.filter((r) => r.model === "down-judge").length;
    const r = await judge.evaluate({ item, output: "Paris" });
    expect(r).toMatchObject({ score: null, passed: null, detail: { attempts: 3 } });
    expect(r.error).toMatch(/^judge call failed: .* answered 503/);
    expect(server.requests.filter((x) => x.model === "down-judge").length - before).toBe(3);
  });

  it("sends the judge reply schema when structured output is on", async () => {
    const judge = createEvaluator(
      { ...spec("fair-judge"), structuredOutput: true },
      { judgeClient: judgeClient() },
    );
    await judge.evaluate({ item, output: "Paris" });
    expect(server.requests.at(-1)?.body?.response_format).toMatchObject({
      type: "json_schema",
      json_schema: { name: "judgement", schema: { required: ["score", "reason"] } },
    });
  });
});
