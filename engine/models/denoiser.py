"""The one model object: a trained network with what it was trained with.

A :class:`Denoiser` owns the network and everything needed to use it, read once from its
checkpoint's config: the structure kind it serves, the diffusion process it was trained
with (:attr:`Denoiser.params`, the one place the process settings and their defaults are
read), the coordinate scale, what the network's output means (ε or v,
``engine.models.outputs``) and whether it takes an estimate Ŝ₀ as input (self-conditioning).
Its :meth:`Denoiser.eps` is the one ε-function every sampler path calls (a batch of
molecules in ``engine.sampling.stages``, one molecule or one lattice in
``engine.sampling.handles``); :meth:`Denoiser.eps_model` wraps it for a sampling run,
feeding a self-conditioning network its own estimate at the same step. This is the
preconditioning wrapper in EDM's manner: whatever the network predicts, the samplers see
ε̂ and the process the checkpoint names.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import CheckpointError
from engine.process.params import ProcessParams

__all__ = ["Denoiser", "load_denoiser", "default_checkpoint"]


def default_checkpoint() -> Path:
    """The pretrained molecule model that ships in ``resources/models``."""
    from engine.resources import resource_path

    return resource_path("models", "molecule_egnn.pt")


@dataclass
class Denoiser:
    """``network`` (eval mode, on ``device``) and its checkpoint's ``config``; ``name`` the
    file's name, ``path`` the file."""

    network: torch.nn.Module
    config: dict
    device: torch.device
    name: str = "model"
    path: Path | None = None

    # -------------------------------------------------------------- what it was trained with
    @property
    def kind(self) -> str:
        """``molecule`` or ``lattice``: the structures it serves."""
        return str(getattr(self.network, "kind", "molecule"))

    @property
    def process_config(self) -> dict:
        return dict(self.config.get("process") or {})

    @property
    def params(self) -> ProcessParams:
        """The diffusion process it was trained with (missing keys: the defaults of the
        training config; a lattice network's λ defaults to 0.1, a molecule's to 0)."""
        p = self.process_config
        return ProcessParams(gamma=float(p.get("gamma", 1.0)),
                             lam=float(p.get("lam", 0.1 if self.kind == "lattice" else 0.0)),
                             schedule=str(p.get("schedule", "linear")),
                             beta_min=float(p.get("beta_min", 0.1)), beta_max=float(p.get("beta_max", 20.0)),
                             cosine_s=float(p.get("cosine_s", 0.008)),
                             cosine_end=float(p.get("cosine_end", 10.0)))

    @property
    def lam(self) -> float:
        """``λ`` of ``A = γL + λI`` (0: the centre-of-mass-free prior)."""
        return float(self.params.lam or 0.0)      # params always holds one (see params)

    @property
    def coord_scale(self) -> float:
        """Å (or field units) per model unit."""
        return float(self.process_config.get("coord_scale", 1.0))

    def schedule(self):
        from engine.process.schedules import schedule_from_config

        return schedule_from_config(self.params)

    @property
    def parameterization(self) -> str:
        from engine.models.outputs import parameterization

        return parameterization(self.network)

    @property
    def self_cond(self) -> bool:
        from engine.models.outputs import uses_self_cond

        return uses_self_cond(self.network)

    @property
    def title(self) -> str:
        """``egnn (molecule_egnn.pt)``: the architecture and the file, as the app names it."""
        arch = (self.config.get("model") or {}).get("name", "model")
        return f"{arch} ({self.name})"

    @property
    def lattice_data(self) -> dict | None:
        """For a lattice network, what it was trained on (``{"system", "shape"}``)."""
        if self.kind != "lattice":
            return None
        data = dict((self.config.get("data") or {}).get("lattice") or {})
        if "kind" not in data or "shape" not in data:
            raise CheckpointError(f"{self.path}: lattice checkpoint without data.lattice kind/shape")
        return {"system": str(data["kind"]), "shape": tuple(int(s) for s in data["shape"])}

    # -------------------------------------------------------------- using it
    def batch_process(self, laplacians, dtype=torch.float32):
        """The ``GraphBatchDiffusion`` of a batch of molecules under its process, centred,
        with the ``Φ⁻¹`` guard its output needs (``engine.defaults``)."""
        from engine.defaults import SAMPLING_PHI_FLOOR, V_SAMPLING_PHI_FLOOR
        from engine.process import GraphBatchDiffusion

        p = self.params
        floor = SAMPLING_PHI_FLOOR if self.parameterization == "eps" else V_SAMPLING_PHI_FLOOR
        return GraphBatchDiffusion(laplacians, gamma=p.gamma, lam=self.lam, schedule=self.schedule(), dtype=dtype,
                                   device=self.device, center=True, phi_floor=floor)

    @torch.no_grad()
    def output(self, x, t, graph, self_cond=None) -> torch.Tensor:
        """The network's raw output at ``(x, t)`` in ``x``'s dtype and on ``x``'s device (the
        one forward pass every path makes): ``t`` a float (one structure) or
        ``(num_graphs,)``; ``graph`` its graph argument (a prepared molecule batch or a
        lattice graph, on the model's device); ``self_cond`` the estimate Ŝ₀ fed to a
        self-conditioning network (zeros when ``None``)."""
        if self.kind == "lattice":
            return self.network(x.float(), float(t), graph).to(x.dtype)
        xd = x.to(self.device).float()
        if not isinstance(t, torch.Tensor):
            t = torch.full((1,), float(t), dtype=torch.float32, device=self.device)
        extra = {}
        if self.self_cond:
            sc = torch.zeros_like(xd) if self_cond is None else self_cond.to(self.device).float()
            extra["self_cond"] = sc
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                            enabled=self.device.type == "cuda"):
            out = self.network(xd, t, graph, **extra)
        return out.float().to(device=x.device, dtype=x.dtype)

    def to_eps(self, process, x, t, out) -> torch.Tensor:
        """ε̂ from the (centred) output at ``(x, t)`` (``engine.models.outputs``)."""
        from engine.models.outputs import eps_from_output

        kind = self.parameterization
        return out if kind == "eps" else eps_from_output(kind, process, x, t, out)

    def eps(self, x, t, graph, process) -> torch.Tensor:
        """ε̂ of a batch of molecules (``t`` of shape ``(num_graphs,)``) or of one molecule
        (``t`` a float) at ``(x, t)`` (model units; the output centred per molecule with
        ``process``). A self-conditioning network is called twice, as training
        and validation call it: first with a zero input, then with that call's raw Ŝ₀ at the
        same ``(x, t)``."""
        from engine.models.outputs import s0_from_output

        self_cond = None
        if self.self_cond:
            first = process._centered(self.output(x, t, graph))
            self_cond = s0_from_output(self.parameterization, process, x, t, first)
        out = process._centered(self.output(x, t, graph, self_cond))
        return self.to_eps(process, x, t, out)

    def eps_model(self, process, graph, num_graphs: int) -> Callable:
        """``eps_model(x, t)`` for a sampling run of a batch (``engine.sampling.samplers``):
        ``t`` spread over the graphs, the output centred (:meth:`eps`).

        A self-conditioning network is fed its own estimate at the same ``(S_t, t)`` — two
        forward passes a step — not the previous step's estimate (Chen et al.'s cheaper
        recipe): with the previous step's, the shipped-recipe network trained to 8,000 steps
        kept 45 % of bonds within 10 % at 10 steps, with its own same-step estimate 94 %
        (resources/models/molecule_egnn.md)."""

        def eps_model(x, t):
            tt = torch.full((num_graphs,), float(t), dtype=torch.float32, device=self.device)
            return self.eps(x, tt, graph, process)

        return eps_model


def load_denoiser(path=None, device="auto") -> Denoiser:
    """The denoiser a checkpoint holds (default: the bundled molecule model), on ``device``
    (``auto``: CUDA when usable). :class:`~engine.errors.CheckpointError` for a missing,
    corrupt or foreign file."""
    from engine.devices import resolve_device
    from engine.models.checkpoint import read_network

    path = Path(path) if path is not None else default_checkpoint()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    network, config = read_network(path, device=dev)
    return Denoiser(network, config, dev, name=path.name, path=path)
