// The kubernetes training backend: one batch/v1 Job per attempt, owned by the TrainingJob and
// named from its runId and attempt, so a restarted controller (or a new leader) finds the Job it
// started instead of creating another. backoffLimit 0: attempts are the reconciler's, not the
// Job controller's. The trainer's config lives in an owned ConfigMap; tokens come from the
// referenced Secrets as env (the controller never reads them); progress arrives at the progress
// receiver, posted by the pod with a token bound to itself.
import {
  attemptLabel,
  managedByLabel,
  managedByValue,
  runIdLabel,
  trainingJobLabel,
} from "../../api/well-known.js";
import type { KubeClient } from "../../kube/client.js";
import { ConflictError, TerminalError } from "../../kube/errors.js";
import { gpuPlacement, gpuResource } from "../../kube/gpus.js";
import {
  ConfigMapType,
  JobType,
  PodType,
  type KubeObject,
  type OwnerReference,
} from "../../kube/resources.js";
import type { AttemptRef, AttemptRequest, AttemptState, TrainingBackend } from "./backend.js";
import { progressCaConfigMapData, progressEnv, type ProgressStore } from "./progress-receiver.js";
import { permanentTrainerReasons } from "./trainer-contract.js";

/** Where the config is mounted and the scratch directory (checkpoints when nothing persists). */
export const trainerConfigPath = "/etc/llmops/trainer.json";
export const scratchPath = "/llmops/scratch";

export interface KubernetesBackendOptions {
  client: KubeClient;
  /** The trainer image when spec.backend.kubernetes.image is unset. */
  defaultImage: string;
  /** Pods report progress here; without it, progress comes only from the Job's end state. */
  progress?: { store: ProgressStore; url: string; audience: string; caPem: string };
}

type Job = KubeObject & {
  spec?: Record<string, unknown>;
  status?: {
    active?: number;
    ready?: number;
    startTime?: string;
    completionTime?: string;
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
  };
};
type Pod = KubeObject & {
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string }[];
    containerStatuses?: {
      name: string;
      state?: { terminated?: { exitCode?: number; reason?: string; message?: string } };
      lastState?: { terminated?: { exitCode?: number; reason?: string } };
    }[];
  };
};

/** Job (and ConfigMap) name of an attempt: `<name>-<runId[:10]>-<attempt>`, a DNS label. */
export function attemptJobName(owner: string, runId: string, attempt: number): string {
  const suffix = `-${runId.slice(0, 10)}-${String(attempt)}`;
  const head = owner.slice(0, 63 - suffix.length).replace(/[-.]+$/, "");
  return `${head}${suffix}`;
}

export function createKubernetesBackend(
  options: KubernetesBackendOptions,
): TrainingBackend & { type: "kubernetes" } {
  const { client } = options;
  return {
    type: "kubernetes",

    async submit(request) {
      const name = attemptJobName(request.owner.name, request.runId, request.attempt);
      const namespace = request.owner.namespace;
      const ownerReferences = [ownerReference(request)];
      const labels = attemptLabels(request);
      const image = stringOption(request.options, "image") ?? options.defaultImage;
      if (image === "") {
        throw new TerminalError(
          "no trainer image: set spec.backend.kubernetes.image, or start the controller with --trainer-image",
          { reason: "NoTrainerImage" },
        );
      }
      await client.apply(ConfigMapType, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace, labels, ownerReferences },
        data: {
          "trainer.json": JSON.stringify(request.config, null, 2),
          ...(options.progress ? progressCaConfigMapData(options.progress.caPem) : {}),
        },
      });
      const job = jobFor(request, {
        name,
        image,
        labels,
        ownerReferences,
        progress: options.progress,
      });
      try {
        await client.create(JobType, job);
      } catch (error) {
        // The attempt's Job exists already (a restart, another replica): it is this attempt.
        if (!(error instanceof ConflictError)) throw error;
      }
      return { name };
    },

    async observe(request, ref) {
      const name = ref.name ?? attemptJobName(request.owner.name, request.runId, request.attempt);
      const namespace = request.owner.namespace;
      const job = await client.tryGet<Job>(JobType, { namespace, name });
      if (job === undefined || job.metadata.deletionTimestamp !== undefined) return undefined;
      const key = {
        namespace,
        trainingJob: request.owner.name,
        runId: request.runId,
        attempt: request.attempt,
      };
      const reported = options.progress?.store.latest(key);
      const records = {
        ...(reported?.progress ? { lastProgress: reported.progress } : {}),
        ...(reported?.checkpoint ? { lastCheckpoint: reported.checkpoint } : {}),
        ...(reported?.completed ? { completed: reported.completed } : {}),
      };
      const started = job.status?.startTime ? { startedAt: new Date(job.status.startTime) } : {};
      const condition = (type: string) =>
        job.status?.conditions?.find((c) => c.type === type && c.status === "True");
      const complete = condition("Complete");
      if (complete) {
        return {
          phase: "Succeeded",
          ...records,
          ...started,
          ...(job.status?.completionTime
            ? { finishedAt: new Date(job.status.completionTime) }
            : {}),
        };
      }
      const failed = condition("Failed");
      if (failed) {
        const finishedAt = failed.lastTransitionTime
          ? { finishedAt: new Date(failed.lastTransitionTime) }
          : {};
        if (failed.reason === "DeadlineExceeded") {
          return {
            phase: "Failed",
            retryable: false,
            reason: "BudgetExceeded",
            message:
              `the Job ran past its activeDeadlineSeconds (budget.maxHours): ${failed.message ?? ""}`.trim(),
            ...records,
            ...started,
            ...finishedAt,
          };
        }
        const trainer = reported?.failed;
        if (trainer !== undefined) {
          return {
            phase: "Failed",
            retryable: trainer.retryable && !permanentTrainerReasons.has(trainer.reason),
            reason: trainer.reason,
            message: trainer.field ? `${trainer.field}: ${trainer.message}` : trainer.message,
            ...records,
            ...started,
            ...finishedAt,
          };
        }
        const pods = await client.list<Pod>(PodType, {
          namespace,
          labelSelector: `job-name=${name}`,
        });
        return {
          phase: "Failed",
          ...podFailure(pods.items),
          ...records,
          ...started,
          ...finishedAt,
        };
      }
      const running = (job.status?.active ?? 0) > 0 && (job.status?.ready ?? 0) > 0;
      return {
        phase: running || reported?.started ? "Running" : "Pending",
        ...records,
        ...started,
      };
    },

    async cancel(request, ref) {
      const name = ref.name ?? attemptJobName(request.owner.name, request.runId, request.attempt);
      const namespace = request.owner.namespace;
      await client.delete(JobType, { namespace, name }, { propagationPolicy: "Background" });
      await client.delete(ConfigMapType, { namespace, name });
      options.progress?.store.forget({
        namespace,
        trainingJob: request.owner.name,
        runId: request.runId,
        attempt: request.attempt,
      });
    },
  };
}

/** Why a pod of the attempt failed, and whether another attempt can fix it. */
export function podFailure(
  pods: readonly Pod[],
): Pick<AttemptState, "retryable" | "reason" | "message"> {
  for (const pod of pods) {
    const status = pod.status ?? {};
    if (status.reason === "Evicted") {
      return {
        retryable: true,
        reason: "Evicted",
        message: `pod ${pod.metadata?.name ?? ""} was evicted: ${status.message ?? ""}`.trim(),
      };
    }
    const disrupted = status.conditions?.find(
      (c) => c.type === "DisruptionTarget" && c.status === "True",
    );
    if (disrupted) {
      return {
        retryable: true,
        reason: "NodeLost",
        message: `pod ${pod.metadata?.name ?? ""} was disrupted (${disrupted.reason ?? "DisruptionTarget"})`,
      };
    }
    const terminated = status.containerStatuses?.find((c) => c.name === "trainer")?.state
      ?.terminated;
    if (terminated?.reason === "OOMKilled") {
      return {
        retryable: true,
        reason: "OOMKilled",
        message: `the trainer in pod ${pod.metadata?.name ?? ""} ran out of memory (OOMKilled)`,
      };
    }
    if (terminated !== undefined) {
      return {
        retryable: true,
        reason: "TrainerExited",
        message: `the trainer in pod ${pod.metadata?.name ?? ""} exited with code ${String(terminated.exitCode ?? "?")}${terminated.message ? `: ${terminated.message.slice(0, 512)}` : ""}`,
      };
    }
  }
  return { retryable: true, reason: "JobFailed", message: "the attempt's Job failed" };
}

function jobFor(
  request: AttemptRequest,
  options: {
    name: string;
    image: string;
    labels: Record<string, string>;
    ownerReferences: OwnerReference[];
    progress: KubernetesBackendOptions["progress"];
  },
): KubeObject {
  const { name, labels } = options;
  const gpus = request.gpu.type === "cpu" ? 0 : request.gpu.count;
  const progress = options.progress
    ? progressEnv({
        url: options.progress.url,
        audience: options.progress.audience,
        caConfigMap: { name },
      })
    : undefined;
  const volumes: Record<string, unknown>[] = [
    {
      name: "trainer-config",
      configMap: { name, items: [{ key: "trainer.json", path: "trainer.json" }] },
    },
    { name: "scratch", emptyDir: {} },
    ...(progress?.volumes ?? []),
  ];
  const mounts: { name: string; mountPath: string; readOnly?: boolean }[] = [
    { name: "trainer-config", mountPath: "/etc/llmops", readOnly: true },
    { name: "scratch", mountPath: scratchPath },
    ...(progress?.volumeMounts ?? []),
  ];
  (request.mounts ?? []).forEach((mount, index) => {
    const volume = `data-${String(index)}`;
    volumes.push(
      mount.kind === "configMap"
        ? { name: volume, configMap: { name: mount.name } }
        : {
            name: volume,
            persistentVolumeClaim: { claimName: mount.claimName, readOnly: mount.readOnly },
          },
    );
    mounts.push({
      name: volume,
      mountPath: mount.mountPath,
      readOnly: mount.kind === "configMap" || mount.readOnly,
    });
  });
  const env = [
    { name: "TRAINER_CONFIG", value: trainerConfigPath },
    ...Object.entries(request.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
    ...request.secrets.map((s) => ({
      name: s.env,
      valueFrom: { secretKeyRef: { name: s.secretRef.name, key: s.secretRef.key } },
    })),
    ...(progress?.env ?? []),
  ];
  const resources =
    gpus > 0
      ? { requests: { [gpuResource]: String(gpus) }, limits: { [gpuResource]: String(gpus) } }
      : {};
  const placement = gpuPlacement(request.gpu.type, gpus);
  const nodeSelector = {
    ...(placement.nodeSelector ?? {}),
    ...recordOption(request.options, "nodeSelector"),
  };
  const serviceAccountName = stringOption(request.options, "serviceAccountName");
  const priorityClassName = stringOption(request.options, "priorityClassName");
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: request.owner.namespace,
      labels,
      ownerReferences: options.ownerReferences,
    },
    spec: {
      backoffLimit: 0,
      ...(request.maxSeconds !== undefined ? { activeDeadlineSeconds: request.maxSeconds } : {}),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          ...(serviceAccountName ? { serviceAccountName } : {}),
          ...(priorityClassName ? { priorityClassName } : {}),
          ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
          ...(placement.tolerations ? { tolerations: placement.tolerations } : {}),
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "trainer",
              image: options.image,
              env,
              resources,
              volumeMounts: mounts,
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
          volumes,
        },
      },
    },
  };
}

function attemptLabels(request: AttemptRequest): Record<string, string> {
  return {
    [managedByLabel]: managedByValue,
    [trainingJobLabel]: request.owner.name,
    [runIdLabel]: request.runId,
    [attemptLabel]: String(request.attempt),
  };
}

function ownerReference(request: AttemptRequest): OwnerReference {
  return {
    apiVersion: request.owner.apiVersion,
    kind: request.owner.kind,
    name: request.owner.name,
    uid: request.owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function stringOption(options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function recordOption(options: Record<string, unknown>, key: string): Record<string, string> {
  const value = options[key];
  return typeof value === "object" && value !== null ? (value as Record<string, string>) : {};
}

export type { AttemptRef };
