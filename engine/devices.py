"""The one device chooser of the engine (sampling, training, the app's model handles)."""
from __future__ import annotations

from engine.errors import EngineError, InputError


def resolve_device(name: str = "auto", *, error: type[EngineError] = InputError,
                   unavailable: str = "--device cuda was asked for but no CUDA device is available"):
    """``torch.device`` for ``name``: ``"auto"`` is CUDA when usable, else the CPU; asking for
    ``"cuda"`` without a usable GPU raises ``error(unavailable)`` (the caller names its
    setting: a command-line flag, a config key)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise error(unavailable)
    return torch.device(name)


def device_info() -> str:
    """``"cuda:0 (NVIDIA H200)"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"
