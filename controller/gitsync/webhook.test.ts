import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { pushedBranch, verifyWebhookSignature } from "./webhook.js";

const secret = Buffer.from("s3cret");
const body = Buffer.from(JSON.stringify({ ref: "refs/heads/main" }));
const hmac = (key: string | Buffer, payload: Buffer = body) =>
  createHmac("sha256", key).update(payload).digest("hex");

describe("verifyWebhookSignature", () => {
  it.each([
    ["GitHub", { "x-hub-signature-256": `sha256=${hmac(secret)}` }, "github"],
    ["Gitea", { "x-gitea-signature": hmac(secret) }, "gitea"],
    ["GitLab", { "x-gitlab-token": "s3cret" }, "gitlab"],
  ])("accepts a good %s signature", (_name, headers, provider) => {
    expect(verifyWebhookSignature(headers, body, secret)).toEqual({ ok: true, provider });
  });
  it.each([
    ["GitHub, wrong key", { "x-hub-signature-256": `sha256=${hmac("other")}` }],
    ["GitHub, no prefix", { "x-hub-signature-256": hmac(secret) }],
    ["GitHub, other body", { "x-hub-signature-256": `sha256=${hmac(secret, Buffer.from("{}"))}` }],
    ["Gitea, wrong key", { "x-gitea-signature": hmac("other") }],
    ["GitLab, wrong token", { "x-gitlab-token": "s3cre" }],
    ["no header", {}],
  ])("refuses %s", (_name, headers) => {
    expect(verifyWebhookSignature(headers, body, secret).ok).toBe(false);
  });
});

describe("pushedBranch", () => {
  it.each([
    ['{"ref":"refs/heads/main"}', "main"],
    ['{"ref":"refs/heads/feature/x"}', "feature/x"],
    ['{"ref":"refs/tags/v1"}', undefined],
    ["not json", undefined],
  ])("%s → %s", (payload, branch) => {
    expect(pushedBranch(Buffer.from(payload))).toBe(branch);
  });
});
