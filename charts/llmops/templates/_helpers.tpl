{{/* The chart's name. */}}
{{- define "llmops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: `<release>-llmops`, or the release name when it already contains the chart's. */}}
{{- define "llmops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every object of the release carries, besides the name label. */}}
{{- define "llmops.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llmops
{{- end }}

{{- define "llmops.labels" -}}
app.kubernetes.io/name: {{ include "llmops.name" . }}
{{ include "llmops.chartLabels" . }}
{{- end }}

{{/* What the Deployment, Service, PDB and NetworkPolicy select on. */}}
{{- define "llmops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "llmops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llmops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the ServiceAccount the controller runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "llmops.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "llmops.trainerImage" -}}
{{- printf "%s:%s" .Values.trainer.image.repository (default .Chart.AppVersion .Values.trainer.image.tag) }}
{{- end }}

{{/* Where git Secrets and sync status ConfigMaps live. */}}
{{- define "llmops.gitNamespace" -}}
{{- default .Release.Namespace .Values.gitSync.namespace }}
{{- end }}

{{/*
The rules the controller needs in every namespace it reconciles: exactly the verbs of the
reconcilers (controller/reconcilers/**, controller/backends/**, controller/online/,
controller/gitsync/), and nothing that lists or watches Secrets.
*/}}
{{- define "llmops.namespacedRules" -}}
# The four kinds: informers (list, watch), reads (get), finalizers and annotations (patch); only
# git sync creates and prunes them (server-side apply of a new object needs create).
- apiGroups: [llmops.dev]
  resources: [prompts, experiments, trainingjobs, modeldeployments]
  verbs: [get, list, watch, patch{{ if .Values.gitSync.sources }}, create, delete{{ end }}]
- apiGroups: [llmops.dev]
  resources: [prompts/status, experiments/status, trainingjobs/status, modeldeployments/status]
  verbs: [patch]
# Children carry ownerReferences with blockOwnerDeletion, which clusters running the
# OwnerReferencesPermissionEnforcement admission plugin allow only with update on finalizers.
- apiGroups: [llmops.dev]
  resources: [prompts/finalizers, experiments/finalizers, trainingjobs/finalizers, modeldeployments/finalizers]
  verbs: [update]
# Published prompts, prompt snapshots, Experiment results and call journals, online A/B outcome
# segments (read-modify-write with update), training configs, datasets and price/GPU tables.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete, deletecollection]
# Provider API keys and Hub tokens named by specs: read one by name, never listed or watched.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Training pods: the progress endpoint checks the pod a token is bound to; a failed attempt's
# pods say why it failed.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
# One Deployment and Service per ModelDeployment revision.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch, create, patch, delete]
# One Job per TrainingJob attempt.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# The traffic split of a ModelDeployment.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* Cluster-scoped requests: the HTTP API and the progress endpoint authenticate bearer tokens. */}}
{{- define "llmops.clusterRules" -}}
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}

{{/* "namespace/name" of a table ConfigMap → dict, with a clear failure for anything else. */}}
{{- define "llmops.tableRef" -}}
{{- $parts := splitList "/" .value }}
{{- if ne (len $parts) 2 }}
{{- fail (printf "%s: expected <namespace>/<name> of a ConfigMap, got %q" .key .value) }}
{{- end }}
{{- toJson (dict "namespace" (index $parts 0) "name" (index $parts 1)) }}
{{- end }}
