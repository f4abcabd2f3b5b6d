#!/usr/bin/env bash
# Puts a real Prometheus server binary into ~/.cache/llmops/prometheus/<version>/ for the analysis
# tests (test/servers/prometheus/server.ts), from Debian's `prometheus` package and without a system
# install: `apt-get download` fetches the .deb into a temporary directory (no dependencies, no
# maintainer scripts, no service), `dpkg-deb -x` unpacks it, and only the one binary is kept. Debian's
# package registry is the only source this needs. Idempotent: nothing is fetched when the cached
# binary runs `--version`.
#
# Measured on Debian 12 (bookworm), prometheus 2.42.0+ds-5+deb12u1: the .deb is 18.4 MiB, the kept
# binary 48 MiB (statically built Go, links only libc); download + unpack took 5.7 s (plus
# `apt-get update` on a machine without package lists). A cached run takes well under a second.
#
# Prints the binary's path on the last line of stdout. LLMOPS_PROMETHEUS_DIR overrides the cache
# root (default ~/.cache/llmops/prometheus).
set -euo pipefail

root="${LLMOPS_PROMETHEUS_DIR:-$HOME/.cache/llmops/prometheus}"

# An installed version that still runs wins: no network, no apt.
for binary in "$root"/*/prometheus; do
  if [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; then
    echo "$binary"
    exit 0
  fi
done

command -v apt-get >/dev/null || { echo "install.sh: apt-get is required (Debian or Ubuntu)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "install.sh: dpkg-deb is required" >&2; exit 1; }

# A fresh machine (or a container image with its lists removed) knows no candidate yet.
if ! apt-cache show prometheus >/dev/null 2>&1; then
  apt-get update -qq
fi
version="$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')"
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  echo "install.sh: no candidate for the Debian package prometheus; check /etc/apt/sources.list" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the working directory; as root, the _apt sandbox user needs to be
# able to write there, so the download runs without the sandbox.
download() {
  (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "prometheus=$version")
}
# Stale lists name a version the mirror no longer has (a point release replaced it): refresh once.
if ! download; then
  apt-get update -qq
  version="$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')"
  download
fi
deb="$(ls "$work"/prometheus_*.deb)"
dpkg-deb -x "$deb" "$work/root"

# The package version (2.42.0+ds-5+deb12u1) names the directory; `:` (an epoch) is not a good path.
dest="$root/${version//:/_}"
mkdir -p "$dest"
install -m 0755 "$work/root/usr/bin/prometheus" "$dest/prometheus.tmp"
mv "$dest/prometheus.tmp" "$dest/prometheus"
"$dest/prometheus" --version >&2
echo "$dest/prometheus"
