import { X509Certificate, createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority, createSelfSignedTls } from "./progress-tls.js";

describe("createSelfSignedTls", () => {
  it("mints a serving certificate for DNS names and IPs, signed by a CA it returns", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const tls = await createSelfSignedTls({
      hosts: ["llmops.llmops-system.svc", "127.0.0.1", "[::1]"],
      now,
    });
    const leaf = new X509Certificate(tls.cert);
    const ca = new X509Certificate(tls.caPem);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(tls.key))).toBe(true);
    expect(leaf.checkHost("llmops.llmops-system.svc")).toBe("llmops.llmops-system.svc");
    expect(leaf.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(leaf.checkIP("::1")).toBe("::1");
    expect(leaf.checkHost("evil.example")).toBeUndefined();
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // serverAuth
    // Valid from a little before now (pod clocks lag), for a year.
    expect(new Date(leaf.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(new Date(leaf.validTo).getTime() - now.getTime()).toBeCloseTo(365 * 86_400_000, -5);
  });

  it("signs with a given CA, so pods that trust it keep trusting re-minted certificates", async () => {
    const ca = await createCertificateAuthority();
    const a = await createSelfSignedTls({ hosts: ["localhost"], ca });
    const b = await createSelfSignedTls({ hosts: ["localhost"], ca });
    expect(a.caPem).toBe(ca.certPem);
    expect(b.caPem).toBe(ca.certPem);
    expect(a.cert).not.toBe(b.cert);
    const caCert = new X509Certificate(ca.certPem);
    expect(new X509Certificate(b.cert).verify(caCert.publicKey)).toBe(true);
  });

  it("needs a host", async () => {
    await expect(createSelfSignedTls({ hosts: [] })).rejects.toThrow(/at least one host/);
  });
});
