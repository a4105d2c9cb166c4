#!/usr/bin/env bash
# Add gdapp to the desktop menu of the current user (no root needed):
#   ./install-desktop-entry.sh            install (points at this unpacked folder)
#   ./install-desktop-entry.sh --remove   remove again
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor/256x256/apps
if [[ "${1:-}" == "--remove" ]]; then
  rm -f "$apps/gdapp.desktop" "$icons/gdapp.png"
  echo "removed gdapp from the desktop menu"
  exit 0
fi
mkdir -p "$apps" "$icons"
cp "$here/gdapp.png" "$icons/gdapp.png"
sed -e "s|^Exec=.*|Exec=\"$here/gdapp\" %f|" "$here/gdapp.desktop" > "$apps/gdapp.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "installed $apps/gdapp.desktop (runs $here/gdapp)"
