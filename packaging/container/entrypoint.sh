#!/usr/bin/env bash
# The entry point of the headless image (packaging/container/Containerfile); it works the same
# in any checkout set up with `bash tools/setup.sh`:
#   entrypoint.sh sample IN.smi --out OUT.sdf --num-confs 10   python -m engine sample ...
#   entrypoint.sh train --config CONFIG.yaml --out DIR         python -m engine train ...
#   entrypoint.sh baseline|evaluate|merge|data ...             the other engine commands
#   entrypoint.sh torchrun [TORCHRUN OPTIONS] -m engine ...    torchrun of the same environment
#   entrypoint.sh [--help]                                     the engine's commands
# Relative paths are taken from the caller's working directory (the image's /work).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
bin="$root/.venv/bin"
[[ -x "$bin/python" ]] || { echo "entrypoint.sh: no $bin/python (install with: bash tools/setup.sh)" >&2; exit 2; }
case "${1:-}" in
  torchrun) shift; exec "$bin/torchrun" "$@" ;;
  ""|-h|--help|help) exec "$bin/python" -m engine --help ;;
  *) exec "$bin/python" -m engine "$@" ;;
esac
