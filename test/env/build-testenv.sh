#!/usr/bin/env bash
# Builds every binary of the test control plane into the cache (npm run cluster:build): the
# product's build script (controller/localenv/build-binaries.sh) with all of its components.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/../../controller/localenv/build-binaries.sh" "$@"
