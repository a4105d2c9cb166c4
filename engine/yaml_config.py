"""The one YAML loader of the engine's config files (corpus and training configs)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ConfigError


def read_yaml(path) -> Any:
    """The data of a YAML file; ``ConfigError`` naming the file when it is missing or not
    valid YAML."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
