#!/usr/bin/env bash
# Smoke-test the packaged Linux build the way a user gets it: unpack the archive into a
# fresh temporary folder and run its --self-test under Xvfb with an empty environment
# (env -i: PATH=/usr/bin:/bin, a fresh HOME, DISPLAY from xvfb-run; no .venv, no
# PYTHONPATH, no GDAPP_RESOURCES, working directory outside the checkout). Then check
# that the screenshot shows the molecule (packaging/check_screenshot.py, standard-library
# Python only), run the headless `gdapp --check-bundle` (model, training, RDKit data,
# PoseBusters, ffmpeg) the same way, and report the cold start (launch to first rendered
# frame).
#
#   bash packaging/smoke.sh [ARCHIVE]      default: dist/gdapp-linux-x86_64.tar.gz
#   GDAPP_SMOKE_KEEP=1 ...                 keep the temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
archive=$(readlink -f "${1:-dist/gdapp-linux-$(uname -m).tar.gz}")
[[ -f "$archive" ]] || { echo "smoke.sh: no archive $archive (build it: bash packaging/build.sh)" >&2; exit 2; }
for tool in xvfb-run xauth; do
  command -v $tool >/dev/null || { echo "smoke.sh: $tool is missing (apt-get install xvfb xauth)" >&2; exit 2; }
done
PY3=/usr/bin/python3
[[ -x $PY3 ]] || PY3=$(command -v python3)

tmp=$(mktemp -d /tmp/gdapp-smoke.XXXXXX)
[[ "${GDAPP_SMOKE_KEEP:-0}" == 1 ]] || trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$archive"
app=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'gdapp-*' | head -n 1)
[[ -x "$app/gdapp" ]] || { echo "smoke.sh: $archive has no gdapp-*/gdapp launcher" >&2; exit 1; }
for f in gdapp.desktop gdapp.png app/gdapp; do
  [[ -e "$app/$f" ]] || { echo "smoke.sh: $f missing from the archive" >&2; exit 1; }
done
mkdir -p "$tmp/home" "$tmp/out"
cat > "$tmp/run.sh" <<RUN
date +%s.%N > "$tmp/t_launch"
exec "$app/gdapp" --self-test "$tmp/out"
RUN

echo "smoke.sh: running $app/gdapp --self-test (env -i, Xvfb)"
set +e
(cd "$tmp" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" LANG=C.UTF-8 \
   timeout 600 xvfb-run -a -s "-screen 0 1280x1024x24" bash "$tmp/run.sh") > "$tmp/log" 2>&1
rc=$?
set -e
t_end=$(date +%s.%N)
if [[ $rc != 0 ]] || ! grep -q "gdapp self-test passed" "$tmp/log"; then
  tail -n 40 "$tmp/log" >&2
  echo "smoke.sh: FAILED: the packaged self-test exited with $rc" >&2
  exit 1
fi
grep "gdapp self-test passed" "$tmp/log"
"$PY3" -S "$ROOT/packaging/check_screenshot.py" "$tmp/out/window.png"

echo "smoke.sh: running $app/gdapp --check-bundle (env -i, no display)"
if ! (cd "$tmp" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" LANG=C.UTF-8 \
        timeout 600 "$app/gdapp" --check-bundle) > "$tmp/check.log" 2>&1; then
  tail -n 40 "$tmp/check.log" >&2
  echo "smoke.sh: FAILED: gdapp --check-bundle" >&2
  exit 1
fi
grep -E "^ok:|passed" "$tmp/check.log"

t_launch=$(cat "$tmp/t_launch")
t_frame=$(grep -o 'first frame rendered at unix time [0-9.]*' "$tmp/log" | awk '{print $NF}' | head -n 1)
if [[ -n "$t_frame" ]]; then
  cold=$(awk -v a="$t_launch" -v b="$t_frame" 'BEGIN {printf "%.2f", b - a}')
else
  cold="n/a (no 'first frame rendered' line)"
fi
total=$(awk -v a="$t_launch" -v b="$t_end" 'BEGIN {printf "%.1f", b - a}')
echo "smoke.sh: passed; cold start (launch to first rendered frame) ${cold} s; self-test run ${total} s"
