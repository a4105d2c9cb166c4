#!/usr/bin/env bash
# Build the documentation site (README, docs/, the mathematics and the API reference generated
# from the docstrings; mkdocs.yml) into site/ and open site/index.html.
#   bash tools/docs.sh            build (strict: a broken link or docstring reference fails) and open
#   bash tools/docs.sh --check    build only (CI: .ci/run)
#   bash tools/docs.sh --serve    live preview at http://127.0.0.1:8000 (rebuilds on every save)
# Needs the docs tools: bash tools/setup.sh --test installs them into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GDAPP_VENV:-.venv}/bin
[[ -x "$BIN/mkdocs" ]] || { echo "docs.sh: no mkdocs in $BIN (run: bash tools/setup.sh --test)" >&2; exit 2; }
export NO_MKDOCS_2_WARNING=1      # mkdocs-material's banner about its successor, on every run
case "${1:-}" in
  --serve) exec "$BIN/mkdocs" serve --strict ;;
  --check) exec "$BIN/mkdocs" build --strict --clean ;;    # never --quiet: it hides the warnings that --strict counts
  "") "$BIN/mkdocs" build --strict --clean
      echo "docs.sh: built $(pwd)/site/index.html"
      if [[ $(uname) == Darwin ]]; then
        open site/index.html
      elif [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then     # a desktop: the default browser
        "$BIN/python" -m webbrowser -t "file://$(pwd)/site/index.html" >/dev/null 2>&1 &
      fi ;;
  *) echo "usage: bash tools/docs.sh [--check|--serve]" >&2; exit 2 ;;
esac
