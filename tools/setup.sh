#!/usr/bin/env bash
# Set up gdapp in a virtual environment at .venv/ in this checkout (created if missing).
#   bash tools/setup.sh          the engine and the desktop app
#   bash tools/setup.sh --test   the same plus the test tools and a virtual X server
set -euo pipefail
cd "$(dirname "$0")/.."
want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

# System libraries for Qt's xcb platform and VTK's OpenGL (and Xvfb for headless tests).
if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  pkgs=(libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libgl1-mesa-dri
        libegl1 libegl-mesa0 libxrender1 libxi6 libfontconfig1 libdbus-1-3)
  [[ $want_tests == 1 ]] && pkgs+=(xvfb xauth gdb)   # gdb: run-tests.sh prints a crash's C stack
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if (( ${#missing[@]} )); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Every version comes from the lock (the tested environment; refresh: bash tools/lock.sh).
# GDAPP_UNLOCKED=1 installs the newest versions pyproject.toml allows instead.
lock=(-c requirements/lock.txt)
[[ "${GDAPP_UNLOCKED:-0}" == 1 ]] && lock=()
# torch first and pinned: a bare "torch" requirement can pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "${lock[@]}" "torch==2.13.0"
extras="app,quality"
[[ $want_tests == 1 ]] && extras="app,quality,test,docs"
.venv/bin/python -m pip install -q "${lock[@]}" -e ".[${extras}]"
# without --test the lock's test tools are not installed: only versions and additions count
partial=(--allow-missing)
[[ $want_tests == 1 ]] && partial=()
[[ ${#lock[@]} == 0 ]] || .venv/bin/python tools/lockfile.py check "${partial[@]}" requirements/lock.txt >/dev/null \
  || echo "setup.sh: warning: .venv differs from the lock (see: .venv/bin/python tools/lockfile.py check)" >&2
echo "gdapp installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
