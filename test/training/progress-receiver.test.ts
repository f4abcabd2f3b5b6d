// The training progress endpoint on the real control plane: this test plays the trainer pod. A
// ServiceAccount and a labelled Pod are created (kwok runs it), a token bound to that pod is minted
// by the real apiserver (`kubectl create token --bound-object-kind Pod`), and events are POSTed over
// TLS verified with the receiver's own CA. The receiver checks every token with a real TokenReview
// and reads the real pod. Nothing of the Kubernetes API is mocked.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Agent, request } from "undici";
import { attemptLabel, runIdLabel, trainingJobLabel } from "../../controller/api/well-known.js";
import {
  type AttributedTrainerEvent,
  type ProgressReceiver,
  type ProgressReceiverOptions,
  ProgressStore,
  progressCaConfigMapData,
  progressEnv,
  progressPath,
  startProgressReceiver,
} from "../../controller/backends/training/progress-receiver.js";
import {
  createCertificateAuthority,
  createSelfSignedTls,
} from "../../controller/backends/training/progress-tls.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, PodType } from "../../controller/kube/resources.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { kubectl, testKubeConfig, useTestNamespace } from "../support/cluster.js";

const audience = "llmops.dev/training-progress-test";
const serviceAccount = "trainer";

const progress = (step: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ llmops: 1, event: "progress", step, totalSteps: 100, epoch: 0.1, ...extra });

interface Posted {
  status: number;
  body: { reason?: string; message?: string } | undefined;
  headers: Record<string, string | string[] | undefined>;
}

describe("training progress receiver", () => {
  const ns = useTestNamespace("progress");
  let client: KubeClient;
  const received: AttributedTrainerEvent[] = [];
  const log = memoryLogger();
  let receiver: ProgressReceiver;
  let dispatcher: Agent;
  const extraReceivers: { receiver: ProgressReceiver; dispatcher: Agent }[] = [];

  const start = async (
    overrides: Partial<ProgressReceiverOptions> = {},
  ): Promise<{ receiver: ProgressReceiver; dispatcher: Agent }> => {
    const started = await startProgressReceiver({
      client,
      logger: log.logger,
      listen: { host: "127.0.0.1", port: 0 },
      audience,
      onEvent: (event) => {
        received.push(event);
      },
      rateLimit: { perSecond: 1000, burst: 1000 },
      ...overrides,
    });
    return { receiver: started, dispatcher: new Agent({ connect: { ca: started.caPem } }) };
  };

  beforeAll(async () => {
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    // No pod cache, so a deleted or relabelled pod counts at once; the review stays cached.
    ({ receiver, dispatcher } = await start({ podCacheTtlMs: 0 }));
  });
  afterAll(async () => {
    await dispatcher.close();
    await receiver.close();
    await client.close();
  });
  beforeEach(() => {
    received.length = 0;
  });
  afterEach(async () => {
    for (const extra of extraReceivers.splice(0)) {
      await extra.dispatcher.close();
      await extra.receiver.close();
    }
  });

  const post = async (
    token: string | undefined,
    body: string,
    target: { receiver: ProgressReceiver; dispatcher: Agent } = { receiver, dispatcher },
  ): Promise<Posted> => {
    const response = await request(target.receiver.url + progressPath, {
      method: "POST",
      dispatcher: target.dispatcher,
      headers: {
        "content-type": "application/json",
        ...(token !== undefined && { authorization: `Bearer ${token}` }),
      },
      body,
    });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      body: text === "" ? undefined : (JSON.parse(text) as Posted["body"]),
      headers: response.headers,
    };
  };

  const createServiceAccount = async (namespace: string): Promise<void> => {
    const sa = await kubectl(["create", "serviceaccount", serviceAccount, "-n", namespace]);
    expect(sa.stderr).toBe("");
  };

  /** A pod running as the trainer ServiceAccount; its uid. */
  const createPod = async (
    namespace: string,
    name: string,
    labels: Record<string, string>,
  ): Promise<string> => {
    const pod = await client.create(PodType, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels },
      spec: {
        serviceAccountName: serviceAccount,
        containers: [{ name: "trainer", image: "llmops-trainer:test" }],
      },
    });
    return pod.metadata.uid;
  };

  const attemptLabels = (runId: string, attempt: number): Record<string, string> => ({
    [trainingJobLabel]: "tiny-sft",
    [runIdLabel]: runId,
    [attemptLabel]: String(attempt),
  });

  /** A token minted by the apiserver for the trainer ServiceAccount, bound to the pod if given. */
  const mintToken = async (
    namespace: string,
    options: { pod?: { name: string; uid: string }; audience?: string } = {},
  ): Promise<string> => {
    const args = ["create", "token", serviceAccount, "-n", namespace, "--duration", "10m"];
    args.push("--audience", options.audience ?? audience);
    if (options.pod !== undefined) {
      args.push("--bound-object-kind", "Pod", "--bound-object-name", options.pod.name);
      args.push("--bound-object-uid", options.pod.uid);
    }
    const minted = await kubectl(args);
    expect(minted.stderr).toBe("");
    expect(minted.code).toBe(0);
    return minted.stdout.trim();
  };

  const trainingPodWithToken = async (
    runId = "run-3f9a1c2d4e",
    attempt = 2,
  ): Promise<{ pod: { name: string; uid: string }; token: string }> => {
    await createServiceAccount(ns.name);
    const name = `tiny-sft-${runId}-${String(attempt)}`;
    const uid = await createPod(ns.name, name, attemptLabels(runId, attempt));
    const pod = { name, uid };
    return { pod, token: await mintToken(ns.name, { pod }) };
  };

  const deletePodNow = async (namespace: string, name: string): Promise<void> => {
    await client.delete(PodType, { namespace, name }, { gracePeriodSeconds: 0 });
    await eventually(`pod ${namespace}/${name} gone`, async () =>
      (await client.tryGet(PodType, { namespace, name })) === undefined ? true : undefined,
    );
  };

  it("accepts a pod's events and attributes them from the pod's labels, not the body", async () => {
    const { pod, token } = await trainingPodWithToken("run-3f9a1c2d4e", 2);

    // The body claims another namespace, job and run: those fields are ignored.
    const spoofed = progress(10, {
      loss: 1.25,
      namespace: "other",
      trainingJob: "someone-else",
      runId: "run-other",
      attempt: 9,
    });
    const first = await post(token, spoofed);
    expect(first.status).toBe(204);
    const second = await post(
      token,
      JSON.stringify({ llmops: 1, event: "checkpoint", step: 10, path: "/ckpt/checkpoint-10" }),
    );
    expect(second.status).toBe(204);

    expect(received).toHaveLength(2);
    expect(received[0]).toMatchObject({
      namespace: ns.name,
      trainingJob: "tiny-sft",
      runId: "run-3f9a1c2d4e",
      attempt: 2,
      pod,
      event: { llmops: 1, event: "progress", step: 10, loss: 1.25 },
    });
    expect(received[1]?.event).toMatchObject({ event: "checkpoint", step: 10 });
    // The token never reaches the log, not even on refusals.
    expect(JSON.stringify(log.lines)).not.toContain(token);
  });

  it("refuses a started event that names another run or attempt (403)", async () => {
    const { token } = await trainingPodWithToken("run-aaaa", 1);
    const started = (runId: string, attempt: number): string =>
      JSON.stringify({ llmops: 1, event: "started", runId, attempt, totalSteps: 50 });

    const other = await post(token, started("run-bbbb", 1));
    expect(other.status).toBe(403);
    expect(other.body?.reason).toBe("WrongRun");
    expect((await post(token, started("run-aaaa", 2))).status).toBe(403);
    expect((await post(token, started("run-aaaa", 1))).status).toBe(204);
    expect(received.map((e) => e.event.event)).toEqual(["started"]);
  });

  it("refuses a token that is not bound to a pod (403)", async () => {
    await createServiceAccount(ns.name);
    const token = await mintToken(ns.name);

    const response = await post(token, progress(1));
    expect(response.status).toBe(403);
    expect(response.body?.reason).toBe("NotBoundToPod");
    expect(received).toEqual([]);
  });

  it("refuses a pod-bound token minted for another audience (401)", async () => {
    await createServiceAccount(ns.name);
    const name = "tiny-sft-wrong-audience";
    const uid = await createPod(ns.name, name, attemptLabels("run-1", 1));
    const token = await mintToken(ns.name, {
      pod: { name, uid },
      audience: "https://kubernetes.default.svc.cluster.local",
    });

    const response = await post(token, progress(1));
    expect(response.status).toBe(401);
    expect(response.headers["www-authenticate"]).toBe("Bearer");
    expect(received).toEqual([]);
  });

  it("refuses garbage and missing tokens (401)", async () => {
    const garbage = await post("not-a-token", progress(1));
    expect(garbage.status).toBe(401);
    expect(garbage.body?.reason).toBe("Unauthenticated");
    // A well-formed JWT the apiserver did not sign.
    const forged = [
      Buffer.from(JSON.stringify({ alg: "RS256", kid: "x" })).toString("base64url"),
      Buffer.from(
        JSON.stringify({
          iss: "https://kubernetes.default.svc.cluster.local",
          aud: [audience],
          sub: `system:serviceaccount:${ns.name}:${serviceAccount}`,
          exp: Math.floor(Date.now() / 1000) + 600,
        }),
      ).toString("base64url"),
      Buffer.from("signature").toString("base64url"),
    ].join(".");
    expect((await post(forged, progress(1))).status).toBe(401);
    expect((await post(undefined, progress(1))).status).toBe(401);
    expect(received).toEqual([]);
  });

  it("refuses a pod without the training attempt labels (403)", async () => {
    await createServiceAccount(ns.name);
    const name = "not-a-trainer";
    const uid = await createPod(ns.name, name, {
      [trainingJobLabel]: "tiny-sft",
      [runIdLabel]: "run-1",
    });
    const token = await mintToken(ns.name, { pod: { name, uid } });

    const response = await post(token, progress(1));
    expect(response.status).toBe(403);
    expect(response.body?.reason).toBe("NotATrainingPod");
    expect(received).toEqual([]);
  });

  it("refuses a token whose pod was deleted, or replaced by one of the same name here or in another namespace (403)", async () => {
    const { pod, token } = await trainingPodWithToken("run-gone", 1);
    expect((await post(token, progress(1))).status).toBe(204);

    // The review is cached; the pod is read again and is gone.
    await deletePodNow(ns.name, pod.name);
    const gone = await post(token, progress(2));
    expect(gone.status).toBe(403);
    expect(gone.body?.reason).toBe("PodGone");

    // A pod of the same name and labels in another namespace is not the pod the token names.
    const otherNs = `${ns.name}-b`;
    expect((await kubectl(["create", "namespace", otherNs])).code).toBe(0);
    try {
      await createServiceAccount(otherNs);
      await createPod(otherNs, pod.name, attemptLabels("run-gone", 1));
      expect((await post(token, progress(3))).status).toBe(403);
    } finally {
      await kubectl(["delete", "namespace", otherNs, "--wait=false"]);
    }

    // Nor is a new pod of the same name here (another uid).
    await createPod(ns.name, pod.name, attemptLabels("run-gone", 1));
    expect((await post(token, progress(4))).status).toBe(403);
    expect(received.map((e) => e.event)).toMatchObject([{ step: 1 }]);

    // Without our cached review the apiserver itself refuses the token, once its own token cache
    // (10 s in kube-apiserver) has let go of it: our pod check covers that window.
    const uncached = await start({ reviewCache: { ttlMs: 0, negativeTtlMs: 0 } });
    extraReceivers.push(uncached);
    await eventually("the apiserver to refuse a token whose pod is gone", async () =>
      (await post(token, progress(5), uncached)).status === 401 ? true : undefined,
    );
    expect(received).toHaveLength(1);
  });

  it("refuses an oversized body (413)", async () => {
    const { token } = await trainingPodWithToken();
    const response = await post(token, progress(1, { padding: "x".repeat(17 * 1024) }));
    expect(response.status).toBe(413);
    expect(response.body?.reason).toBe("TooLarge");
    expect(received).toEqual([]);
  });

  it("refuses malformed JSON and events that are not the trainer's (400)", async () => {
    const { token } = await trainingPodWithToken();
    for (const body of [
      '{"llmops": 1, "event": "progress", "step": ',
      JSON.stringify({ event: "progress", step: 1, totalSteps: 2, epoch: 0 }),
      JSON.stringify({ llmops: 1, event: "progress", step: "one", totalSteps: 2, epoch: 0 }),
      JSON.stringify({ llmops: 1, event: "exploded" }),
    ]) {
      const response = await post(token, body);
      expect(response.status, body).toBe(400);
      expect(response.body?.reason).toBe("MalformedEvent");
    }
    expect(received).toEqual([]);
  });

  it("limits each pod's rate (429) without slowing other pods", async () => {
    const limited = await start({ rateLimit: { perSecond: 0.01, burst: 3 } });
    extraReceivers.push(limited);
    const { token } = await trainingPodWithToken("run-fast", 1);
    const statuses: number[] = [];
    for (let step = 1; step <= 5; step++) {
      statuses.push((await post(token, progress(step), limited)).status);
    }
    expect(statuses).toEqual([204, 204, 204, 429, 429]);
    const refused = await post(token, progress(6), limited);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.body?.reason).toBe("TooManyRequests");

    const uid = await createPod(ns.name, "tiny-sft-other", attemptLabels("run-other", 1));
    const otherToken = await mintToken(ns.name, { pod: { name: "tiny-sft-other", uid } });
    expect((await post(otherToken, progress(1), limited)).status).toBe(204);
    expect(received.map((e) => e.runId)).toEqual(["run-fast", "run-fast", "run-fast", "run-other"]);
  });

  it("serves only TLS verified by its CA, and only POST on its path", async () => {
    const { token } = await trainingPodWithToken();
    // A client that trusts only the system roots cannot reach it.
    await expect(
      request(receiver.url + progressPath, { method: "POST", body: progress(1) }),
    ).rejects.toThrow();
    const get = await request(receiver.url + progressPath, { dispatcher });
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe("POST");
    await get.body.dump();
    const other = await request(receiver.url + "/metrics", {
      method: "POST",
      dispatcher,
      headers: { authorization: `Bearer ${token}` },
      body: progress(1),
    });
    expect(other.statusCode).toBe(404);
    await other.body.dump();
    expect(received).toEqual([]);
  });

  it("answers 500 when the event cannot be recorded, and 503 while the apiserver cannot review", async () => {
    const failing = await start({
      onEvent: () => {
        throw new Error("store full");
      },
    });
    extraReceivers.push(failing);
    const { token } = await trainingPodWithToken();
    const response = await post(token, progress(1), failing);
    expect(response.status).toBe(500);
    expect(response.body?.reason).toBe("InternalError");

    // An apiserver that cannot be reached: the review is not cached, so the pod retries later.
    const kc = testKubeConfig();
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => ({ ...c, server: "https://127.0.0.1:1" })),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const unreachable = newClient(kc, { requestTimeoutMs: 2000 });
    const broken = await start({ client: unreachable });
    extraReceivers.push(broken);
    const unavailable = await post(token, progress(1), broken);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers["retry-after"]).toBe("1");
    await unreachable.close();
  });

  it("serves a given certificate, pods trusting its CA, and feeds a ProgressStore", async () => {
    const ca = await createCertificateAuthority();
    const tls = await createSelfSignedTls({ hosts: ["127.0.0.1"], ca });
    const store = new ProgressStore();
    const given = await start({
      tls: { cert: tls.cert, key: tls.key, ca: ca.certPem },
      onEvent: (event) => {
        store.record(event);
      },
    });
    extraReceivers.push(given);
    expect(given.receiver.caPem).toBe(ca.certPem);
    const { token } = await trainingPodWithToken("run-store", 3);
    expect((await post(token, progress(7, { loss: 0.5 }), given)).status).toBe(204);
    expect((await post(token, progress(6, { loss: 0.6 }), given)).status).toBe(204);
    const key = { namespace: ns.name, trainingJob: "tiny-sft", runId: "run-store", attempt: 3 };
    expect(store.latest(key)?.progress).toMatchObject({ step: 7, loss: 0.5 });
  });

  it("gives a pod spec the apiserver accepts: env, projected bound token and CA volume", async () => {
    await createServiceAccount(ns.name);
    await client.apply(ConfigMapType, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "tiny-sft-progress-ca", namespace: ns.name },
      data: progressCaConfigMapData(receiver.caPem),
    });
    const wiring = progressEnv({
      url: `https://llmops-controller.llmops-system.svc:8443${progressPath}`,
      audience,
      caConfigMap: { name: "tiny-sft-progress-ca" },
    });
    const created = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "tiny-sft-wired", namespace: ns.name },
        spec: {
          serviceAccountName: serviceAccount,
          volumes: wiring.volumes,
          containers: [
            {
              name: "trainer",
              image: "llmops-trainer:test",
              env: wiring.env,
              volumeMounts: wiring.volumeMounts,
            },
          ],
        },
      }),
    });
    expect(created.stderr).toBe("");
    const pod = JSON.parse(created.stdout) as {
      spec: { volumes: { name: string; projected?: unknown }[] };
    };
    expect(pod.spec.volumes.find((v) => v.name === "llmops-progress")?.projected).toMatchObject({
      sources: [
        { serviceAccountToken: { audience, expirationSeconds: 3600, path: "token" } },
        { configMap: { name: "tiny-sft-progress-ca" } },
      ],
    });
  });
});
