import { describe, expect, it } from "vitest";
import { backoffDelay, defaultRetryPolicy, retryAfterFromHeaders } from "./retry.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");

describe("retryAfterFromHeaders", () => {
  const table: { name: string; headers: Record<string, string>; want: number | null }[] = [
    { name: "absent", headers: {}, want: null },
    { name: "delta-seconds", headers: { "retry-after": "3" }, want: 3000 },
    { name: "fractional seconds", headers: { "retry-after": "0.25" }, want: 250 },
    { name: "zero", headers: { "retry-after": "0" }, want: 0 },
    {
      name: "HTTP date in the future",
      headers: { "retry-after": "Sun, 01 Jun 2025 12:00:07 GMT" },
      want: 7000,
    },
    {
      name: "HTTP date in the past is no wait",
      headers: { "retry-after": "Sun, 01 Jun 2025 11:59:00 GMT" },
      want: 0,
    },
    { name: "garbage", headers: { "retry-after": "soon" }, want: null },
    { name: "negative is not delta-seconds", headers: { "retry-after": "-5" }, want: null },
    {
      name: "retry-after-ms wins",
      headers: { "retry-after-ms": "1500", "retry-after": "9" },
      want: 1500,
    },
    {
      name: "unparseable retry-after-ms falls back",
      headers: { "retry-after-ms": "x", "retry-after": "2" },
      want: 2000,
    },
  ];
  it.each(table)("$name", ({ headers, want }) => {
    expect(retryAfterFromHeaders(new Headers(headers), NOW)).toBe(want);
  });

  it("handles no headers at all", () => {
    expect(retryAfterFromHeaders(undefined, NOW)).toBeNull();
  });
});

describe("backoffDelay", () => {
  const policy = { ...defaultRetryPolicy(), baseDelayMs: 100, maxDelayMs: 1000, jitterFactor: 0.5 };
  it.each([
    { retry: 0, random: 0, want: 100 },
    { retry: 1, random: 0, want: 200 },
    { retry: 2, random: 0, want: 400 },
    { retry: 4, random: 0, want: 1000 },
    { retry: 10, random: 0, want: 1000 },
    { retry: 0, random: 0.5, want: 125 },
    { retry: 3, random: 0.999, want: 1200 },
  ])("retry $retry, random $random → $want ms", ({ retry, random, want }) => {
    expect(backoffDelay(policy, retry, () => random)).toBe(want);
  });
});
