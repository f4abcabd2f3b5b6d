// The prometheus analysis provider against a real Prometheus (Debian's binary, see
// test/servers/prometheus/install.sh) scraping a local exporter whose per-revision error ratio the
// test sets: real PromQL, real HTTP API answers, real outages.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  analysisProviders,
  measureMetric,
  type AnalysisMetric,
  type AnalysisOptions,
  type MeasurementContext,
} from "../../controller/backends/analysis/provider.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { testKubeConfig } from "../support/cluster.js";
import { startExporter, type MetricsExporter } from "../servers/exporter/server.js";
import { startPrometheus, type PrometheusTestServer } from "../servers/prometheus/server.js";

const errorRate =
  'sum(rate(llm_requests_total{revision="{{revision}}",code="500"}[5s])) / ' +
  'sum(rate(llm_requests_total{revision="{{ revision }}"}[5s]))';

function metric(prometheus: AnalysisMetric["prometheus"], extra: Partial<AnalysisMetric> = {}) {
  return { name: "error-rate", successCondition: "result < 0.01", prometheus, ...extra };
}

describe("prometheus analysis metrics", () => {
  let exporter: MetricsExporter;
  let prometheus: PrometheusTestServer;
  const context = (revision: string, service = revision): MeasurementContext => ({
    client: newClient(testKubeConfig()),
    cache: { get: () => undefined, list: () => [] },
    namespace: "default",
    revision,
    service,
    now: Date.now(),
  });
  const measure = (
    m: AnalysisMetric,
    revision: string,
    options: AnalysisOptions = {},
    service?: string,
  ) => measureMetric(m, context(revision, service), analysisProviders(options));

  beforeAll(async () => {
    exporter = await startExporter({
      revisions: { "coder-7b-good": 0.002, "coder-7b-bad": 0.2, 'we"ird': 0.005 },
    });
    prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalMs: 1000 });
    // Prometheus syncs new targets about 5 s after start, and rate(x[5s]) needs two scrapes.
    await eventually(
      "Prometheus to have scraped the exporter twice",
      async () => {
        const m = await measure(
          metric({ query: errorRate, address: prometheus.url }),
          "coder-7b-good",
        );
        return m.verdict === "Error" ? undefined : m;
      },
      60_000,
    );
  });
  afterAll(async () => {
    await prometheus.stop();
    await exporter.stop();
  });

  it("a healthy canary is Successful, with the real error rate", async () => {
    const m = await measure(metric({ query: errorRate, address: prometheus.url }), "coder-7b-good");
    expect(m.verdict).toBe("Successful");
    expect(m.value).toBeCloseTo(0.002, 9);
    expect(m.message).toBe("error-rate = 0.002 (result < 0.01): Successful");
  });

  it("a bad canary is Failed", async () => {
    const m = await measure(metric({ query: errorRate, address: prometheus.url }), "coder-7b-bad");
    expect(m.verdict).toBe("Failed");
    expect(m.value).toBeCloseTo(0.2, 9);
    expect(m.message).toBe("error-rate = 0.2 (result < 0.01): Failed");
  });

  it("with a failureCondition, a value between the two is Inconclusive", async () => {
    exporter.setErrorRatio("coder-7b-meh", 0.03);
    const m = metric(
      { query: errorRate, address: prometheus.url },
      { failureCondition: "result >= 0.05" },
    );
    const got = await eventually("the new revision's first rate", async () => {
      const r = await measure(m, "coder-7b-meh");
      return r.verdict === "Error" ? undefined : r;
    });
    expect(got.verdict).toBe("Inconclusive");
    expect(got.value).toBeCloseTo(0.03, 9);
  });

  it("the controller's default address is used when the metric names none", async () => {
    const m = await measure(metric({ query: errorRate }), "coder-7b-good", {
      defaultPrometheusAddress: `${prometheus.url}/`,
    });
    expect(m.verdict).toBe("Successful");
  });

  it("without any address the measurement errors and says where to set one", async () => {
    const m = await measure(metric({ query: errorRate }), "coder-7b-good");
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/no Prometheus address: set prometheus.address/);
  });

  it("the revision is escaped for the PromQL string, so a quote in a name cannot break the query", async () => {
    const m = await measure(metric({ query: errorRate, address: prometheus.url }), 'we"ird');
    expect(m.verdict).toBe("Successful");
    expect(m.value).toBeCloseTo(0.005, 9);
  });

  it("{{service}} is replaced with the Service name", async () => {
    const byService = errorRate
      .replaceAll("revision }}", "service }}")
      .replaceAll("{{revision}}", "{{service}}");
    const m = await measure(
      metric({ query: byService, address: prometheus.url }),
      "coder-7b-other",
      {},
      "coder-7b-bad",
    );
    expect(m).toMatchObject({ verdict: "Failed" });
    expect(m.value).toBeCloseTo(0.2, 9);
  });

  it("a query that matches nothing is an Error (empty result), not a failure", async () => {
    const m = await measure(
      metric({ query: errorRate, address: prometheus.url }),
      "coder-7b-no-traffic",
    );
    expect(m.verdict).toBe("Error");
    expect(m.value).toBeUndefined();
    expect(m.message).toMatch(
      new RegExp(
        `^error-rate: Prometheus at ${prometheus.url}: empty result .*coder-7b-no-traffic.*: Error$`,
      ),
    );
  });

  it("several series are an Error naming how many", async () => {
    const m = await measure(
      metric({ query: 'llm_requests_total{revision="{{revision}}"}', address: prometheus.url }),
      "coder-7b-good",
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/the result has 2 series, not one/);
  });

  it("NaN (0/0) is an Error", async () => {
    const m = await measure(
      metric({ query: "vector(0) / vector(0)", address: prometheus.url }),
      "x",
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/NaN/);
  });

  it("+Inf from a scalar is an Error", async () => {
    const m = await measure(
      metric({ query: "scalar(vector(1)) / 0", address: prometheus.url }),
      "x",
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/\+Inf/);
  });

  it("a scalar result is measured", async () => {
    const m = await measure(
      metric({ query: "scalar(vector(0.004))", address: prometheus.url }),
      "x",
    );
    expect(m).toMatchObject({ verdict: "Successful", value: 0.004 });
  });

  it("bad PromQL is an Error carrying Prometheus' own message", async () => {
    const m = await measure(metric({ query: "sum(rate(x[5s]", address: prometheus.url }), "x");
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/HTTP 400 bad_data: invalid parameter "query": .*parse error/);
  });

  it("a range vector is an Error that says how to get one number", async () => {
    const m = await measure(
      metric({ query: "llm_requests_total[5s]", address: prometheus.url }),
      "x",
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/range vector/);
  });

  it("Prometheus down is an Error (not Failed); once it is back, measurements succeed again", async () => {
    await prometheus.halt();
    try {
      const m = await measure(
        metric({ query: errorRate, address: prometheus.url }),
        "coder-7b-good",
      );
      expect(m.verdict).toBe("Error");
      expect(m.message).toMatch(/unreachable: connect ECONNREFUSED/);
    } finally {
      await prometheus.resume();
    }
    const back = await eventually(
      "measurements after the restart",
      async () => {
        const r = await measure(
          metric({ query: errorRate, address: prometheus.url }),
          "coder-7b-good",
        );
        return r.verdict === "Error" ? undefined : r;
      },
      60_000,
    );
    expect(back.verdict).toBe("Successful");
  });
});

describe("prometheus analysis metrics: the client's own limits", () => {
  let server: Server;
  let url = "";
  beforeAll(async () => {
    server = createServer((req, res) => {
      if ((req.url ?? "").includes("silent")) return; // never answers
      res.writeHead(200, { "content-type": "application/json" });
      // A vector padded past the limit.
      res.end(
        JSON.stringify({
          status: "success",
          data: {
            resultType: "vector",
            result: [{ metric: { pad: "x".repeat(4096) }, value: [1, "1"] }],
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const context: MeasurementContext = {
    client: newClient(testKubeConfig()),
    cache: { get: () => undefined, list: () => [] },
    namespace: "default",
    revision: "r",
    service: "r",
    now: Date.now(),
  };

  it("a Prometheus that does not answer in time is an Error", async () => {
    const m = await measureMetric(
      metric({ query: "silent", address: url }),
      context,
      analysisProviders({ prometheusTimeoutMs: 300 }),
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/no answer within 300 ms/);
  });

  it("a response larger than the limit is an Error", async () => {
    const m = await measureMetric(
      metric({ query: "big", address: url }),
      context,
      analysisProviders({ prometheusMaxResponseBytes: 1024 }),
    );
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/larger than 1024 bytes/);
  });

  it("the same response within the limit is measured", async () => {
    const m = await measureMetric(
      metric({ query: "big", address: url }),
      context,
      analysisProviders(),
    );
    expect(m).toMatchObject({ verdict: "Failed", value: 1 });
  });

  it("a cancelled measurement rejects with the caller's reason", async () => {
    const stop = new AbortController();
    const pending = measureMetric(
      metric({ query: "silent", address: url }),
      { ...context, signal: stop.signal },
      analysisProviders(),
    );
    stop.abort(new Error("reconcile cancelled"));
    await expect(pending).rejects.toThrow("reconcile cancelled");
  });
});
