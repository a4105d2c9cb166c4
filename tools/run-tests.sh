#!/usr/bin/env bash
# Run the whole test suite; GUI tests need an X server, so start a virtual one when
# there is no display. Extra arguments go to pytest.
# If pytest dies of a signal (a crash in Qt, VTK or another native library), the Python
# stacks come from faulthandler; the native stacks are printed from the core file, when
# the kernel wrote one here and gdb is installed (tools/setup.sh --test installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=xcb
ulimit -c unlimited 2>/dev/null || true
rm -f core core.[0-9]*
set +e
if [[ -z "${DISPLAY:-}" ]]; then
  xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q "$@"
else
  .venv/bin/python -m pytest -q "$@"
fi
rc=$?
set -e
if (( rc > 128 )); then
  for dump in core core.[0-9]*; do
    [[ -f "$dump" ]] || continue
    echo "pytest died of signal $((rc - 128)); native stacks from $dump:"
    if command -v gdb >/dev/null 2>&1; then
      gdb -q -batch -ex "bt 40" .venv/bin/python "$dump" 2>&1 | grep '^#'        # the crashing thread
      gdb -q -batch -ex "thread apply all bt 6" .venv/bin/python "$dump" 2>&1 | head -n 150
    fi
    rm -f "$dump"
  done
fi
exit "$rc"
