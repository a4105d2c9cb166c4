#!/usr/bin/env bash
# Guardrails (configured in pyproject.toml): lint and import order, layer contracts, types of engine/
# and of gdapp's model, controllers and jobs, and the size of gdapp's files and functions.
# Exits non-zero when any of them fails. CI runs it (.ci/run); so does pre-commit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GDAPP_VENV:-.venv}/bin
status=0
"$BIN/ruff" check . || status=1
"$BIN/lint-imports" --no-cache || status=1
"$BIN/mypy" || status=1
# gdapp's state, controllers, jobs and undo history (no widgets), function bodies included; errors
# in the engine modules they reach through engine.api are the run above's (silent here)
"$BIN/mypy" --follow-imports=silent --cache-dir .mypy_cache/gdapp \
    gdapp/state.py gdapp/job_slots.py gdapp/workers.py gdapp/undo.py gdapp/controllers || status=1
"$BIN/python" tools/sizes.py engine gdapp || status=1
exit $status
