#!/usr/bin/env bash
# Build the packaged desktop app with PyInstaller and, on Linux, the self-contained archive
#   dist/gdapp-linux-x86_64.tar.gz   (launcher script, .desktop file, icon, app/ bundle)
#
#   bash packaging/build.sh            build (reuses PyInstaller's cache in build/pyinstaller)
#   bash packaging/build.sh --clean    build from scratch
#   GDAPP_PACK_TRIM=0 bash packaging/build.sh   no trimming (to measure what it saves)
#
# Needs the project environment (.venv, see tools/setup.sh) with the CPU build of torch.
# PyInstaller and its helpers (pinned in requirements/pack.txt) go into an environment of
# their own, build/pack-tools (on PYTHONPATH for the build only), never into .venv: the
# tests check that .venv is exactly requirements/lock.txt. Then check the result:
# bash packaging/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
NICE=${GDAPP_BUILD_NICE:-nice -n 15}
clean=()
[[ "${1:-}" == "--clean" ]] && clean=(--clean)

[[ -x "$PY" ]] || { echo "build.sh: no Python at $PY (run: bash tools/setup.sh)" >&2; exit 2; }
"$PY" - <<'PYEOF'
import sys
import torch
if torch.version.cuda is not None and "--allow-cuda" not in sys.argv:
    sys.exit(f"build.sh: torch {torch.__version__} is a CUDA build; the bundle is meant to ship "
             "the CPU build (install it with: pip install torch --index-url "
             "https://download.pytorch.org/whl/cpu)")
print(f"build.sh: torch {torch.__version__} (CPU)")
PYEOF
# the bundle is built from the locked environment (requirements/lock.txt, tools/setup.sh);
# GDAPP_PACK_UNLOCKED=1 builds from whatever .venv holds
if [[ "${GDAPP_PACK_UNLOCKED:-0}" != 1 ]]; then
  "$PY" tools/lockfile.py check --allow-extra requirements/lock.txt \
    || { echo "build.sh: .venv differs from requirements/lock.txt (bash tools/setup.sh, or GDAPP_PACK_UNLOCKED=1)" >&2; exit 2; }
fi
# the packaging tools: build/pack-tools, installed again when requirements/pack.txt changes
TOOLS=${GDAPP_PACK_TOOLS:-$ROOT/build/pack-tools}
stamp="$TOOLS/.pack-$(sha256sum requirements/pack.txt | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  rm -rf "$TOOLS"
  $NICE "$PY" -m pip install -q --no-deps --target "$TOOLS" -c requirements/lock.txt -r requirements/pack.txt
  touch "$stamp"
fi
if "$PY" -c "import PyInstaller" 2>/dev/null; then
  echo "build.sh: note: PyInstaller is also installed in .venv (an earlier build.sh put it there);" \
       "the tests want .venv exactly as the lock: $PY -m pip uninstall -y pyinstaller" \
       "pyinstaller-hooks-contrib altgraph" >&2
fi
PACKPATH="$TOOLS${PYTHONPATH:+:$PYTHONPATH}"      # for PyInstaller's runs only
env PYTHONPATH="$PACKPATH" "$PY" -c "import PyInstaller; print(f'build.sh: PyInstaller {PyInstaller.__version__} from {PyInstaller.__path__[0]}')"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;;
  Linux-aarch64) platform=linux-aarch64 ;;
  Darwin-*) platform=macos-$(uname -m) ;;
  *) platform=$(uname -s | tr 'A-Z' 'a-z')-$(uname -m) ;;
esac
name=gdapp-$platform
t0=$(date +%s)
env PYTHONPATH="$PACKPATH" $NICE "$PY" -m PyInstaller --noconfirm "${clean[@]}" --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/gdapp.spec
t1=$(date +%s)
echo "build.sh: PyInstaller took $((t1 - t0)) s -> dist/gdapp/"
# the bundle records the versions it holds
"$PY" tools/lockfile.py versions > dist/gdapp/versions.txt

if [[ "$(uname -s)" != Linux ]]; then
  echo "build.sh: not Linux; the one-folder bundle is dist/gdapp (see docs/packaging.md)"
  exit 0
fi

stage=dist/$name
rm -rf "$stage" "dist/$name.tar.gz"
mkdir -p "$stage"
mv dist/gdapp "$stage/app"
cp resources/icons/gdapp.png "$stage/gdapp.png"
cp packaging/linux/gdapp packaging/linux/gdapp.desktop packaging/linux/install-desktop-entry.sh \
   packaging/linux/README.txt "$stage/"
chmod +x "$stage/gdapp" "$stage/install-desktop-entry.sh" "$stage/app/gdapp"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$stage/gdapp.desktop"; fi
$NICE tar -C dist -czf "dist/$name.tar.gz" "$name"
t2=$(date +%s)

unpacked=$(du -sm "$stage" | cut -f1)
archive=$(( $(stat -c %s "dist/$name.tar.gz") / 1048576 ))
files=$(find "$stage" -type f | wc -l)
summary="archive dist/$name.tar.gz: ${archive} MiB; unpacked ${unpacked} MiB in ${files} files; \
PyInstaller $((t1 - t0)) s, archive $((t2 - t1)) s, total $((t2 - t0)) s \
(trim=${GDAPP_PACK_TRIM:-1})"
echo "$summary" | tee "dist/$name.build.txt"
