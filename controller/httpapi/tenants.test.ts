import { describe, expect, it } from "vitest";
import { bearerToken, describeUser } from "./tenants.js";

describe("bearerToken", () => {
  it.each([
    ["Bearer abc.def", "abc.def"],
    ["bearer abc", "abc"],
    ["Bearer   abc  ", "abc"],
    ["Basic abc", undefined],
    ["Bearer ", undefined],
    ["Bearer a b", undefined],
    [undefined, undefined],
  ])("%s", (header, want) => {
    expect(bearerToken(header)).toBe(want);
  });
});

describe("describeUser", () => {
  it("names ServiceAccounts by namespace and name", () => {
    expect(describeUser({ username: "system:serviceaccount:team-a:app", groups: [] })).toBe(
      "serviceaccount team-a/app",
    );
    expect(describeUser({ username: "alice", groups: [] })).toBe("user alice");
  });
});
