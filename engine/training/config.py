"""Typed training configuration: dataclasses loaded from YAML, validated once.

Sections: ``data``, ``process``, ``model``, ``optim``, ``loss``, ``run`` (see the fields
below; ``resources/configs/small_test.yaml`` shows every key). Errors raise
``engine.errors.ConfigError`` naming the file, the key path and the problem: an unknown
key (with the closest known key as a suggestion), a wrong type, a value out of range.

Coordinate scale (``process.coord_scale``, Å per model unit, default 1.5): molecules are
divided by it before noising. With unit bond weights the centre-of-mass-free harmonic
prior ``p(S) ∝ exp(−½ γ tr(SᵀLS))`` gives each bond vector of a tree an independent
Gaussian with variance ``1/γ`` per coordinate, i.e. a mean squared bond length of
``3 s²/γ`` Å². Real bonds average ≈ 1.3 Å (C–H 1.09, C–C 1.53, aromatic 1.39), so
``s²/γ ≈ 1.3²/3 ≈ 0.56 Å²``: ``s = 1.5 Å`` with ``γ = 4`` (bond vectors of about 0.87
units, molecules a few units across — well-conditioned network inputs). Only ``s²/γ`` fixes
the prior's size in Å; a larger ``γ`` at fixed ``s²/γ`` makes the slow (global) modes
forget the data faster within ``t ∈ [0, 1]``, which is why ``γ = 4`` beats ``γ = 1`` with
``s = 0.75``.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from engine.errors import ConfigError

__all__ = ["DataConfig", "ProcessConfig", "ModelConfig", "OptimConfig", "LossConfig",
           "RunConfig", "TrainConfig", "load_config", "config_from_dict", "config_to_dict"]


@dataclass
class DataConfig:
    """``kind``: molecules | lattice. Molecules: ``cache_dir`` (a built corpus) or
    ``corpus_config`` (a data-build YAML, built into ``<out>/corpus`` on first use);
    relative paths are resolved against the config file's folder. ``lattice``: keyword
    arguments for the synthetic lattice data set."""

    kind: str = "molecules"
    cache_dir: str | None = None
    corpus_config: str | None = None
    max_atoms: int = 64
    batch_size: int = 32
    num_workers: int = 0
    val_size: int = 64
    lattice: dict = field(default_factory=dict)

    def validate(self, where):
        _choice(where, "kind", self.kind, ("molecules", "lattice"))
        _range(where, "max_atoms", self.max_atoms, 2)
        _range(where, "batch_size", self.batch_size, 1)
        _range(where, "num_workers", self.num_workers, 0)
        _range(where, "val_size", self.val_size, 0)
        if self.kind == "molecules" and not (self.cache_dir or self.corpus_config):
            raise ConfigError(f"{where}: data needs 'cache_dir' (a built corpus) or "
                              f"'corpus_config' (a data-build config) for molecules")


@dataclass
class ProcessConfig:
    """Diffusion process: ``A = γL + λI``, schedule, and ``coord_scale`` (Å per unit)."""

    gamma: float = 4.0
    lam: float = 0.0
    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0
    cosine_s: float = 0.008      # cosine schedule: offset s of Nichol & Dhariwal
    cosine_end: float = 10.0     # cosine schedule: B(1), the integrated rate at t = 1
    coord_scale: float = 1.5

    def validate(self, where):
        _range(where, "gamma", self.gamma, 0.0, strict=True)
        _range(where, "lam", self.lam, 0.0)
        _choice(where, "schedule", self.schedule, ("linear", "cosine"))
        _range(where, "beta_min", self.beta_min, 0.0, strict=True)
        _range(where, "beta_max", self.beta_max, 0.0, strict=True)
        if self.beta_max < self.beta_min:
            raise ConfigError(f"{where}.beta_max ({self.beta_max}) must be >= beta_min ({self.beta_min})")
        _range(where, "cosine_s", self.cosine_s, 0.0)
        _range(where, "cosine_end", self.cosine_end, 0.0, strict=True)
        _range(where, "coord_scale", self.coord_scale, 0.0, strict=True)


@dataclass
class ModelConfig:
    """``name`` in the model registry (``egnn``, ``lattice``) and its keyword arguments."""

    name: str = "egnn"
    kwargs: dict = field(default_factory=dict)

    def validate(self, where):
        from engine.models import model_names
        names = model_names()
        if self.name not in names:
            close = difflib.get_close_matches(self.name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}.name: unknown model {self.name!r}{hint}; "
                              f"known: {', '.join(names)}")


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay to ``min_lr_ratio·lr``; gradient-norm
    clipping (``grad_clip``, 0 = off); EMA of the weights (``ema_decay``, 0 = off)."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    total_steps: int = 1000
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    min_lr_ratio: float = 0.05

    def validate(self, where):
        _range(where, "lr", self.lr, 0.0, strict=True)
        _range(where, "weight_decay", self.weight_decay, 0.0)
        _range(where, "warmup_steps", self.warmup_steps, 0)
        _range(where, "total_steps", self.total_steps, 1)
        _range(where, "grad_clip", self.grad_clip, 0.0)
        _range(where, "ema_decay", self.ema_decay, 0.0, hi=1.0, strict_hi=True)
        _range(where, "min_lr_ratio", self.min_lr_ratio, 0.0, hi=1.0)


@dataclass
class LossConfig:
    """``kind``: eps_mse | dsm; ``weighting``: none | sigma2 | min_snr (γ = ``snr_gamma``);
    ``t_sampling``: uniform | importance on ``[t_min, 1]``; regulariser weights on Ŝ_0;
    ``self_cond_prob``: for a self-conditioning network (``model.kwargs.self_cond``), the
    share of steps whose input is the network's own estimate Ŝ₀ (made first, without
    gradient); the other steps give it zeros. ``eps_mse`` is the MSE of the network's own
    target: ε, or v for ``model.kwargs.parameterization: v``."""

    kind: str = "eps_mse"
    weighting: str = "none"
    t_sampling: str = "uniform"
    t_min: float = 1e-3
    lambda_E: float = 0.0
    lambda_G: float = 0.0
    lambda_A: float = 0.0
    snr_gamma: float = 5.0
    self_cond_prob: float = 0.5

    def validate(self, where):
        from engine.training.losses import T_SAMPLINGS, WEIGHTINGS
        _choice(where, "kind", self.kind, ("eps_mse", "dsm"))
        _choice(where, "weighting", self.weighting, WEIGHTINGS)
        _choice(where, "t_sampling", self.t_sampling, T_SAMPLINGS)
        _range(where, "t_min", self.t_min, 0.0, hi=1.0, strict_hi=True)
        for name in ("lambda_E", "lambda_G", "lambda_A"):
            _range(where, name, getattr(self, name), 0.0)
        _range(where, "snr_gamma", self.snr_gamma, 0.0, strict=True)
        _range(where, "self_cond_prob", self.self_cond_prob, 0.0, hi=1.0)


@dataclass
class RunConfig:
    """Seed, determinism, intervals (in optimiser steps), device and precision.

    ``precision``: auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16.
    ``threads``: torch CPU threads (0 = leave torch's default).
    ``keep_every``: also keep the checkpoint of every multiple of this step as
    ``checkpoint_<step>.pt`` (0 = off), for quality against training compute."""

    seed: int = 0
    deterministic: bool = False
    ckpt_every: int = 500
    keep_every: int = 0
    val_every: int = 250
    log_every: int = 10
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0

    def validate(self, where):
        _range(where, "ckpt_every", self.ckpt_every, 1)
        _range(where, "keep_every", self.keep_every, 0)
        _range(where, "val_every", self.val_every, 1)
        _range(where, "log_every", self.log_every, 1)
        _choice(where, "device", self.device, ("auto", "cpu", "cuda"))
        _choice(where, "precision", self.precision, ("auto", "fp32", "bf16"))
        _range(where, "threads", self.threads, 0)


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)
    source: str | None = None     # the YAML file it came from (not a YAML key)


_SECTIONS = {"data": DataConfig, "process": ProcessConfig, "model": ModelConfig,
             "optim": OptimConfig, "loss": LossConfig, "run": RunConfig}


# ----------------------------------------------------------------------------- checks
def _range(where, name, value, lo=None, hi=None, strict=False, strict_hi=False):
    if lo is not None and (value <= lo if strict else value < lo):
        op = ">" if strict else ">="
        raise ConfigError(f"{where}.{name} must be {op} {lo}, got {value!r}")
    if hi is not None and (value >= hi if strict_hi else value > hi):
        op = "<" if strict_hi else "<="
        raise ConfigError(f"{where}.{name} must be {op} {hi}, got {value!r}")


def _choice(where, name, value, choices):
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}.{name}: {value!r} is not one of {', '.join(choices)}{hint}")


def _coerce(where: str, value, annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(where, value, args[0])
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)        # YAML reads "1e-3" as a string
            except ValueError:
                pass
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if annotation is dict:
        if value is None:
            return {}
        if isinstance(value, dict):
            return dict(value)
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return value


def _unknown_key(where: str, key, known) -> ConfigError:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint} (known: {', '.join(known)})")


def _build_section(cls, raw, where):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            raise _unknown_key(where, key, names)
        kwargs[key] = _coerce(f"{where}.{key}", value, hints[key])
    section = cls(**kwargs)
    section.validate(where)
    return section


def config_from_dict(raw: dict, source: str | None = None) -> TrainConfig:
    """Validate a nested mapping into a ``TrainConfig`` (raises ``ConfigError``)."""
    where = source or "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections")
    for key in raw:
        if key not in _SECTIONS:
            raise _unknown_key(where, key, list(_SECTIONS))
    sections = {name: _build_section(cls, raw.get(name), f"{where}: {name}")
                for name, cls in _SECTIONS.items()}
    cfg = TrainConfig(**sections, source=source)
    if cfg.data.kind == "lattice" and cfg.model.name == "egnn":
        raise ConfigError(f"{where}: data.kind 'lattice' needs a lattice model (model.name: lattice)")
    if cfg.data.kind == "molecules" and cfg.model.name == "lattice":
        raise ConfigError(f"{where}: data.kind 'molecules' needs a molecule model (model.name: egnn)")
    _check_model_options(cfg, where)
    return cfg


def _check_model_options(cfg: TrainConfig, where: str) -> None:
    """The molecule network's options (``self_cond``, ``global_context``,
    ``parameterization``): types, values, and what the loss can do with them."""
    kw = cfg.model.kwargs
    for name in ("self_cond", "global_context"):
        if name in kw and not isinstance(kw[name], bool):
            raise ConfigError(f"{where}: model.kwargs.{name} must be true or false, got {kw[name]!r}")
    if "parameterization" in kw:
        from engine.models.egnn import PARAMETERIZATIONS
        _choice(f"{where}: model.kwargs", "parameterization", kw["parameterization"], PARAMETERIZATIONS)
        if kw["parameterization"] != "eps" and cfg.loss.kind != "eps_mse":
            raise ConfigError(f"{where}: loss.kind {cfg.loss.kind!r} needs parameterization 'eps' "
                              f"(a v network is trained on the MSE of its own target: eps_mse)")
    if (kw.get("self_cond") or kw.get("global_context") or "parameterization" in kw) \
            and cfg.model.name != "egnn":
        raise ConfigError(f"{where}: self_cond, global_context and parameterization are options "
                          f"of the egnn model, not of {cfg.model.name!r}")


def load_config(path) -> TrainConfig:
    """Read and validate a YAML training config."""
    from engine.yaml_config import read_yaml

    raw = read_yaml(path)
    return config_from_dict(raw, source=str(path))


def config_to_dict(cfg: TrainConfig) -> dict:
    """The config as plain data (for checkpoints and logs); inverse of ``config_from_dict``."""
    return {name: dataclasses.asdict(getattr(cfg, name)) for name in _SECTIONS}


@overload
def resolve_path(cfg: TrainConfig, value: str) -> Path: ...
@overload
def resolve_path(cfg: TrainConfig, value: None) -> None: ...
def resolve_path(cfg: TrainConfig, value: str | None) -> Path | None:
    """A path from the config, relative to the config file's folder when not absolute."""
    if value is None:
        return None
    p = Path(value).expanduser()
    if not p.is_absolute() and cfg.source:
        candidate = Path(cfg.source).resolve().parent / p
        if candidate.exists() or not p.exists():
            return candidate
    return p
