#!/usr/bin/env bash
# Refresh requirements/lock.txt from the tested environment.
#   bash tools/lock.sh             pin what .venv holds now (after: bash tools/setup.sh --test
#                                  and a passing bash tools/run-tests.sh)
#   bash tools/lock.sh --upgrade   first upgrade .venv to the newest versions pyproject.toml
#                                  allows (no constraints), then pin them; run the tests after!
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[[ -x "$PY" ]] || { echo "lock.sh: no Python at $PY (run: bash tools/setup.sh --test)" >&2; exit 2; }
if [[ "${1:-}" == "--upgrade" ]]; then
  "$PY" -m pip install -q --upgrade "torch==2.13.0"
  "$PY" -m pip install -q --upgrade --upgrade-strategy eager -e ".[app,quality,test,docs]"
fi
"$PY" tools/lockfile.py write requirements/lock.txt
"$PY" tools/lockfile.py check requirements/lock.txt
