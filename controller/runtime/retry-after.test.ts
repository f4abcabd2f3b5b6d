import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "./retry-after.js";

const NOW = Date.parse("2025-06-01T12:00:00Z");

describe("parseRetryAfter", () => {
  const table: { name: string; value: string | null | undefined; want: number | undefined }[] = [
    { name: "absent", value: undefined, want: undefined },
    { name: "null (Headers.get of a missing header)", value: null, want: undefined },
    { name: "empty", value: "", want: undefined },
    { name: "delta-seconds", value: "3", want: 3000 },
    { name: "delta-seconds with spaces", value: " 120 ", want: 120_000 },
    { name: "fractional seconds", value: "0.25", want: 250 },
    { name: "zero", value: "0", want: 0 },
    { name: "HTTP date in the future", value: "Sun, 01 Jun 2025 12:00:07 GMT", want: 7000 },
    { name: "HTTP date in the past is no wait", value: "Sun, 01 Jun 2025 11:59:00 GMT", want: 0 },
    { name: "garbage", value: "soon", want: undefined },
    { name: "negative is not delta-seconds", value: "-5", want: undefined },
    { name: "a bare number with a sign is no date either", value: "+5", want: undefined },
  ];
  it.each(table)("$name", ({ value, want }) => {
    expect(parseRetryAfter(value, NOW)).toBe(want);
  });
});
