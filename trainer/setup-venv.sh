#!/usr/bin/env bash
# Creates or updates the trainer's virtual environment, outside the repository (PyPI's torch is the
# CUDA build: a 3 GB download and a ~5 GB venv, so it is cached across checkouts and runs).
# Idempotent: a stamp records the hash of pyproject.toml, the checkout path (the package is
# installed editable, so a venv made for another checkout must point at this one) and the Python
# version; when it matches, nothing is done.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LLMOPS_TRAINER_VENV:-$HOME/.cache/llmops/trainer-venv}"
python="${LLMOPS_TRAINER_PYTHON:-python3}"

case "$venv/" in
  "$(cd "$here/.." && pwd)"/*) echo "setup-venv: refusing to create the venv inside the repository ($venv)" >&2; exit 2 ;;
esac

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup-venv: $python is $("$python" --version 2>&1); the trainer needs Python >= 3.11 (set LLMOPS_TRAINER_PYTHON)" >&2
  exit 2
fi

mkdir -p "$(dirname "$venv")"
# One setup at a time per venv: a second caller waits, then finds the stamp current.
exec 9>"$venv.lock"
flock 9

stamp_file="$venv/.llmops-stamp"
stamp="$( { sha256sum "$here/pyproject.toml" | cut -d' ' -f1; echo "$here"; "$python" --version 2>&1; } | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -x "$venv/bin/llmops-train" ]]; then
  echo "setup-venv: $venv is current"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup-venv: creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
echo "setup-venv: upgrading pip"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
echo "setup-venv: installing llmops-trainer[dev] (editable) and its dependencies; torch alone is ~3 GB on a cold cache"
log="$venv.install.log"
set +e
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -e "$here[dev]" 2>&1 \
  | tee "$log" | grep --line-buffered -E '^(Collecting|Downloading|Installing|Successfully|ERROR)'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  echo "setup-venv: pip failed ($status); the last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit "$status"
fi
"$venv/bin/python" -c 'import llmops_trainer.train, torch, transformers, trl, peft, datasets, mlflow' \
  || { echo "setup-venv: the install is incomplete (see pip's output above)" >&2; exit 1; }
echo "$stamp" > "$stamp_file"
echo "setup-venv: done in $(( $(date +%s) - start ))s; $(du -sh "$venv" 2>/dev/null | cut -f1) at $venv"
