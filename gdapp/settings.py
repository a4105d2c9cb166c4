"""Settings persisted across runs (QSettings): window layout, folders, player, style.

``GDAPP_SETTINGS`` (an .ini path) overrides the per-user location, which tests use.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings

MAX_RECENT = 10


class Settings:
    """Typed access to the app's QSettings."""

    def __init__(self, qsettings: QSettings | None = None):
        if qsettings is None:
            path = os.environ.get("GDAPP_SETTINGS")
            qsettings = (QSettings(path, QSettings.IniFormat) if path
                         else QSettings("gdapp", "gdapp"))
        self.q = qsettings

    def _get(self, key, default, kind):
        value = self.q.value(key, default)
        try:
            if kind is bool:
                return value in (True, "true", "True", "1", 1)
            return kind(value)
        except (TypeError, ValueError):
            return default

    # window
    def geometry(self):
        return self.q.value("window/geometry")

    def window_state(self):
        return self.q.value("window/state")

    def save_window(self, geometry, state):
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    # folders and files
    @property
    def last_folder(self) -> str:
        return self._get("files/last_folder", "", str)

    @last_folder.setter
    def last_folder(self, value: str):
        self.q.setValue("files/last_folder", value)

    def recent_files(self) -> list[str]:
        value = self.q.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> list[str]:
        files = [p for p in self.recent_files() if p != path]
        files.insert(0, path)
        files = files[:MAX_RECENT]
        self.q.setValue("files/recent", files)
        return files

    def clear_recent(self):
        self.q.setValue("files/recent", [])

    # player and style
    @property
    def player_fps(self) -> float:
        return self._get("player/fps", 30.0, float)

    @player_fps.setter
    def player_fps(self, value: float):
        self.q.setValue("player/fps", float(value))

    @property
    def player_mode(self) -> str:
        return self._get("player/mode", "loop", str)

    @player_mode.setter
    def player_mode(self, value: str):
        self.q.setValue("player/mode", value)

    @property
    def style(self) -> str:
        return self._get("view/style", "ball-and-stick", str)

    @style.setter
    def style(self, value: str):
        self.q.setValue("view/style", value)

    @property
    def dynamic_bonds(self) -> bool:
        return self._get("view/dynamic_bonds", True, bool)

    @dynamic_bonds.setter
    def dynamic_bonds(self, value: bool):
        self.q.setValue("view/dynamic_bonds", bool(value))

    def sync(self):
        self.q.sync()
