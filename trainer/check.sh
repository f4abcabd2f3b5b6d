#!/usr/bin/env bash
# The trainer's checks, as `npm run check:trainer` runs them: the venv (cached outside the repo),
# then ruff (lint and format) and pytest from it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LLMOPS_TRAINER_VENV:-$HOME/.cache/llmops/trainer-venv}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

bash "$here/setup-venv.sh"
cd "$here"
echo "check:trainer: ruff check"
"$venv/bin/ruff" check .
echo "check:trainer: ruff format --check"
"$venv/bin/ruff" format --check .
echo "check:trainer: pytest"
"$venv/bin/python" -m pytest "$@"
