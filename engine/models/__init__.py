"""Networks, swappable by name (``build_model(name, **kwargs)``).

Every ε-network follows one call protocol: ``model(x, t, graph) -> ε̂`` with ``x`` the
noised structure (``(N, 3)`` concatenated molecules, or ``(N, 3)``/``(B, N, 3)`` for a
lattice), ``t`` one time per graph (or a float) and ``graph`` the structure description
(``GraphBatch`` for molecules, ``LatticeGraph`` for lattices). ``model.prepare(graph)``
returns a cached form to reuse across many calls on the same graph. ``model.kind`` is
``"molecule"`` or ``"lattice"``.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["MODELS", "register_model", "build_model", "model_names"]

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, factory: Callable[..., nn.Module]) -> None:
    """Add a model class (or factory) to the registry under ``name``."""
    MODELS[name] = factory


def _register_builtin() -> None:
    from engine.models.egnn import EGNNEpsNet
    from engine.models.lattice_net import LatticeEpsNet
    MODELS.setdefault("egnn", EGNNEpsNet)
    MODELS.setdefault("lattice", LatticeEpsNet)


def model_names() -> list[str]:
    _register_builtin()
    return sorted(MODELS)


def build_model(name: str, **kwargs) -> nn.Module:
    """Instantiate the registered model ``name`` with ``kwargs``.

    Raises ``ConfigError`` for an unknown name (with the known names) or bad arguments.
    """
    from engine.errors import ConfigError
    _register_builtin()
    if name not in MODELS:
        import difflib
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; known models: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: bad arguments {kwargs!r}: {exc}") from None
