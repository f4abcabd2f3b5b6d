#!/usr/bin/env bash
# yamllint and yamale (the YAML parts of chart-testing's `ct lint`) from PyPI into a cache venv;
# skipped when that venv already has both.
set -euo pipefail
venv="${LLMOPS_CHART_LINT_VENV:-$HOME/.cache/llmops/chart-lint-venv}"
if "$venv/bin/yamllint" --version >/dev/null 2>&1 && "$venv/bin/yamale" --help >/dev/null 2>&1; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "yamllint==1.38.0" "yamale==6.1.0"
