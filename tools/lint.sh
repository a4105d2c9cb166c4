#!/usr/bin/env bash
# Guardrails (configured in pyproject.toml): lint and import order, layer contracts, types of engine/.
# Exits non-zero when any of them fails. CI runs it (.ci/run); so does pre-commit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GDAPP_VENV:-.venv}/bin
status=0
"$BIN/ruff" check . || status=1
"$BIN/lint-imports" --no-cache || status=1
"$BIN/mypy" || status=1
exit $status
