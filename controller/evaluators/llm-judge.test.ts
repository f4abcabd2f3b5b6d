import { describe, expect, it } from "vitest";
import { LlmAbortedError, LlmHttpError } from "../backends/llm/errors.js";
import type { ChatCompletion, ChatModelClient, ChatRequest } from "../backends/llm/types.js";
import { buildJudgeMessages, llmJudge, parseJudgeReply } from "./llm-judge.js";

const scale = { min: 1, max: 10 };

describe("parseJudgeReply", () => {
  it.each([
    {
      name: "plain JSON",
      text: '{"score": 8, "reason": "good"}',
      want: { ok: true, score: 8, reason: "good" },
    },
    {
      name: "fenced block",
      text: 'Here you go:\n```json\n{"score": 7, "reason": "ok"}\n```\nThanks!',
      want: { ok: true, score: 7, reason: "ok" },
    },
    {
      name: "trailing text",
      text: '{"score": 9, "reason": "x"} I hope this helps.',
      want: { ok: true, score: 9 },
    },
    {
      name: "prose first, braces inside the reason",
      text: 'My verdict: {"score": 6, "reason": "uses {braces} and \\"quotes\\""} done',
      want: { ok: true, score: 6, reason: 'uses {braces} and "quotes"' },
    },
    {
      name: "first object has no score",
      text: '{"note": 1} then {"score": 4, "reason": "r"}',
      want: { ok: true, score: 4 },
    },
    {
      name: "numeric string score",
      text: '{"score": "5", "reason": "r"}',
      want: { ok: true, score: 5 },
    },
    { name: "missing reason", text: '{"score": 3}', want: { ok: true, score: 3, reason: "" } },
    { name: "bounds are inclusive", text: '{"score": 10}', want: { ok: true, score: 10 } },
    {
      name: "out of range",
      text: '{"score": 11, "reason": "great"}',
      want: { ok: false, error: "judge score 11 is outside the scale 1–10" },
    },
    { name: "zero on a 1–10 scale", text: '{"score": 0}', want: { ok: false } },
    {
      name: "not a number",
      text: '{"score": "high"}',
      want: { ok: false, error: 'judge score "high" is not a number' },
    },
    { name: "no JSON", text: "I'd give it an 8.", want: { ok: false } },
    { name: "truncated", text: '{"score": 8, "reas', want: { ok: false } },
  ])("$name", ({ text, want }) => {
    expect(parseJudgeReply(text, scale)).toMatchObject(want);
  });
});

function fakeClient(reply: string | Error) {
  const requests: ChatRequest[] = [];
  const client: ChatModelClient = {
    complete: (request) => {
      requests.push(request);
      if (reply instanceof Error) return Promise.reject(reply);
      const completion: ChatCompletion = {
        id: "c",
        model: request.model,
        content: reply,
        finishReason: "stop",
        usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120 },
        costUSD: 0.0001,
        latencyMs: 5,
        attempts: 1,
        retries: [],
      };
      return Promise.resolve(completion);
    },
    listModels: () => Promise.resolve([]),
  };
  return { client, requests };
}

const input = {
  item: { id: "q1", input: { question: "Capital of France?" }, expected: "Paris" },
  output: "Paris.",
};
const base = { model: "judge", rubric: "Correct and concise.", scale };

describe("llmJudge", () => {
  it("scores with the judge's number and keeps its reason and cost", async () => {
    const { client, requests } = fakeClient('```json\n{"score": 9, "reason": "correct"}\n```');
    const r = await llmJudge(input, { ...base, client, passThreshold: 7 });
    expect(r).toMatchObject({
      score: 9,
      passed: true,
      detail: { reason: "correct", normalized: 8 / 9, costUSD: 0.0001, judgeModel: "judge" },
    });
    expect(requests[0]).toMatchObject({ model: "judge", temperature: 0, maxTokens: 512 });
    expect(requests[0]?.jsonSchema).toBeUndefined();
  });

  it("leaves passed undecided without a threshold", async () => {
    const { client } = fakeClient('{"score": 3, "reason": "meh"}');
    expect(await llmJudge(input, { ...base, client })).toMatchObject({ score: 3, passed: null });
  });

  it("records an out-of-range score as a judge failure, not a zero", async () => {
    const { client } = fakeClient('{"score": 42, "reason": "?"}');
    const r = await llmJudge(input, { ...base, client, passThreshold: 5 });
    expect(r).toMatchObject({
      score: null,
      passed: null,
      error: "judge score 42 is outside the scale 1–10",
    });
    expect(r.detail?.["reply"]).toBe('{"score": 42, "reason": "?"}');
  });

  it("records a failed judge call as a failure with its attempts", async () => {
    const { client } = fakeClient(
      new LlmHttpError("judge answered 503", { status: 503, attempts: 5 }),
    );
    const r = await llmJudge(input, { ...base, client });
    expect(r).toMatchObject({ score: null, passed: null, detail: { attempts: 5 } });
    expect(r.error).toMatch(/^judge call failed: judge answered 503/);
  });

  it("rethrows when the caller aborts, so nothing is recorded", async () => {
    const { client } = fakeClient(new LlmAbortedError("aborted"));
    await expect(llmJudge(input, { ...base, client })).rejects.toBeInstanceOf(LlmAbortedError);
  });

  it("gives an empty output the lowest score without asking the judge", async () => {
    const { client, requests } = fakeClient("{}");
    expect(await llmJudge({ ...input, output: null }, { ...base, client })).toMatchObject({
      score: 1,
      passed: false,
    });
    expect(requests).toHaveLength(0);
  });

  it("asks for structured output when configured", async () => {
    const { client, requests } = fakeClient('{"score": 5, "reason": "r"}');
    await llmJudge(input, { ...base, client, structuredOutput: true });
    expect(requests[0]?.jsonSchema).toMatchObject({
      name: "judgement",
      schema: { properties: { score: { type: "number", minimum: 1, maximum: 10 } } },
    });
  });

  it("puts the rubric and scale in the system message and the data in tags", () => {
    const [system, user] = buildJudgeMessages(input, base);
    expect(system?.content).toContain("Correct and concise.");
    expect(system?.content).toContain("from 1 (worst) to 10 (best)");
    expect(user?.content).toBe(
      '<input>\n{\n  "question": "Capital of France?"\n}\n</input>\n\n<reference>\nParis\n</reference>\n\n<response>\nParis.\n</response>',
    );
  });
});
