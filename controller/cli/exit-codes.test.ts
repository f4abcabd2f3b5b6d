import { describe, expect, it } from "vitest";
import { ExitCode, exitCodeMeanings } from "./exit-codes.js";

describe("exit codes", () => {
  it("each code means one thing", () => {
    const codes = Object.values(ExitCode);
    expect(new Set(codes).size).toBe(codes.length);
  });
  it("diff's changes keep 3, promote's unreadable cluster is 4", () => {
    expect(ExitCode.Changes).toBe(3);
    expect(ExitCode.ClusterUnreachable).toBe(4);
  });
  it("every code is explained for --help", () => {
    expect(Object.keys(exitCodeMeanings).map(Number).sort()).toEqual(
      Object.values(ExitCode).sort(),
    );
  });
});
