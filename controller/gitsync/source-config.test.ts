import { describe, expect, it } from "vitest";
import {
  parseDuration,
  parseGitSource,
  parseGitSourceFlag,
  parseGitSyncConfig,
  redactUrl,
} from "./source-config.js";

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["2h", 7_200_000],
    ["1.5s", 1500],
  ])("%s → %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(["", "30", "1x", "s30", "1m 30s"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });
});

describe("redactUrl", () => {
  it.each([
    ["https://user:token@github.com/acme/specs.git", "https://github.com/acme/specs.git"],
    ["https://github.com/acme/specs.git", "https://github.com/acme/specs.git"],
    ["git@github.com:acme/specs.git", "git@github.com:acme/specs.git"],
    ["/srv/git/specs.git", "/srv/git/specs.git"],
  ])("%s → %s", (url, want) => {
    expect(redactUrl(url)).toBe(want);
  });
});

describe("parseGitSource", () => {
  it("defaults branch, paths, interval, namespace, prune", () => {
    expect(parseGitSource({ name: "main", url: "https://x/y.git" }, "s")).toEqual({
      name: "main",
      url: "https://x/y.git",
      branch: "main",
      paths: ["specs/"],
      intervalMs: 60_000,
      targetNamespace: "default",
      suspend: false,
      prune: true,
    });
  });
  it.each([
    [{ url: "u" }, /name must be a DNS label/],
    [{ name: "Main", url: "u" }, /name must be a DNS label/],
    [{ name: "m" }, /url is required/],
    [{ name: "m", url: "u", interval: "500ms" }, /at least 1s/],
    [{ name: "m", url: "u", paths: ["../x"] }, /relative to the repository root/],
    [{ name: "m", url: "u", webhook: {} }, /webhook.secretRef is required/],
    [{ name: "m", url: "u", brnch: "x" }, /brnch is not a source field/],
  ])("rejects %j", (value, message) => {
    expect(() => parseGitSource(value, "s")).toThrow(message);
  });
});

describe("config file and flags", () => {
  it("reads the gitSync section", () => {
    const config = parseGitSyncConfig(
      [
        "gitSync:",
        "  namespace: llmops-system",
        "  sources:",
        "    - name: main",
        "      url: https://github.com/acme/specs.git",
        "      interval: 30s",
        "      secretRef: { name: git-credentials }",
        "      webhook: { secretRef: { name: hook, key: token } }",
      ].join("\n"),
      "config.yaml",
    );
    expect(config.namespace).toBe("llmops-system");
    expect(config.sources[0]).toMatchObject({
      intervalMs: 30_000,
      secretRef: { name: "git-credentials" },
      webhookSecretRef: { name: "hook", key: "token" },
    });
  });
  it("refuses duplicate names", () => {
    const text = "gitSync:\n  sources:\n    - {name: a, url: u}\n    - {name: a, url: v}\n";
    expect(() => parseGitSyncConfig(text, "c.yaml")).toThrow(/defined twice/);
  });
  it("parses --git-source", () => {
    expect(
      parseGitSourceFlag(
        "name=main,url=https://x/y.git,branch=prod,path=specs/,path=more/,interval=2m,secret=creds,webhookSecret=hook,suspend=true",
      ),
    ).toMatchObject({
      name: "main",
      branch: "prod",
      paths: ["specs/", "more/"],
      intervalMs: 120_000,
      secretRef: { name: "creds" },
      webhookSecretRef: { name: "hook" },
      suspend: true,
    });
  });
});
