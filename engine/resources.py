"""Where the bundled resources (configs, models, demo molecules, icons) live, and where an
installed app keeps what it computes (the user's cache directory)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: $GDAPP_RESOURCES, a frozen bundle's, or the checkout's."""
    env = os.environ.get("GDAPP_RESOURCES")
    if env:
        return Path(env)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def is_frozen() -> bool:
    """Running from the packaged app (a PyInstaller bundle sets ``sys.frozen`` and
    ``sys._MEIPASS``)."""
    return bool(getattr(sys, "frozen", False) or getattr(sys, "_MEIPASS", None))


def checkout_root() -> Path | None:
    """The source checkout this engine runs from (the folder holding ``pyproject.toml``
    beside ``engine/``), or None: the packaged app, or an installed wheel."""
    if is_frozen():
        return None
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "engine").is_dir() else None


def user_cache_dir() -> Path:
    """The user's cache directory for gdapp: ``$GDAPP_CACHE_DIR``, else the platform's
    (Linux/BSD: ``$XDG_CACHE_HOME/gdapp``, default ``~/.cache/gdapp``; macOS:
    ``~/Library/Caches/gdapp``; Windows: ``%LOCALAPPDATA%\\gdapp\\cache``) — the folders
    Qt's ``QStandardPaths.GenericCacheLocation`` names, plus ``gdapp``."""
    env = os.environ.get("GDAPP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / "gdapp" / "cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "gdapp"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache"
    return base / "gdapp"


def cache_path(relative) -> Path:
    """Where a relative cache path of a config (``.cache/corpus``) lives: in the checkout
    when running from one (``<checkout>/.cache/corpus``, as before), else — the packaged
    app, an installed wheel — in :func:`user_cache_dir` with the leading ``.cache``
    dropped (``~/.cache/gdapp/corpus``), never in the current directory."""
    rel = Path(relative)
    if rel.is_absolute():
        return rel
    root = checkout_root()
    if root is not None:
        return root / rel
    parts = rel.parts[1:] if rel.parts and rel.parts[0] == ".cache" else rel.parts
    return user_cache_dir().joinpath(*parts)
