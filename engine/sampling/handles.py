"""Model handles: what the app and ``engine.api`` pick to sample one structure with — a
trained network (an ``engine.models.denoiser.Denoiser``, the one model object) or the exact
harmonic-prior predictor — as an ε-predictor for one structure; the bundled checkpoints;
the choice of a model for a structure.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import EngineError
from engine.models.denoiser import Denoiser
from engine.process.params import ProcessParams
from engine.resources import resource_path
from engine.structures import Structure


@dataclass
class ModelHandle:
    """An ε-predictor the samplers can call: ``eps_fn(structure, process, S_t (N,3) tensor, t) -> ε̂``.

    ``kinds``: structure kinds it serves. ``lattice``: for lattice networks, what they were
    trained on (``{"system": "spin", "shape": (16, 16)}``); such a model serves lattices
    of that system and dimensionality, any size (:meth:`unsuitable`): the network is
    local (graph convolution + 2-hop attention) and sees grid coordinates scaled to
    [0, 1]; resources/models/lattice_spin.md gives its sample statistics on 12x12 to 32x32.
    """

    name: str
    eps_fn: Callable
    kinds: tuple = ("molecule", "lattice")
    denoiser: Denoiser | None = None        # the network and what it was trained with (None: no network)

    @property
    def is_network(self) -> bool:
        return self.denoiser is not None

    @property
    def path(self) -> str | None:
        return None if self.denoiser is None else str(self.denoiser.path)

    @property
    def params(self) -> ProcessParams | None:
        """The process the network was trained with (``None``: the structure's own)."""
        return None if self.denoiser is None else self.denoiser.params

    @property
    def coord_scale(self) -> float:
        """Å (molecules) or field units per model unit."""
        return 1.0 if self.denoiser is None else self.denoiser.coord_scale

    @property
    def lattice(self) -> dict | None:
        return None if self.denoiser is None else self.denoiser.lattice_data

    def unsuitable(self, structure: Structure) -> str | None:
        """``None`` when the model can sample ``structure``, else the reason why not."""
        if structure.kind not in self.kinds:
            return f"{self.name} is a {'/'.join(self.kinds)} model, not for a {structure.kind}"
        if structure.kind == "lattice" and self.lattice is not None:
            want_sys, want_shape = self.lattice["system"], tuple(self.lattice["shape"])
            if structure.system != want_sys or len(structure.grid_shape or ()) != len(want_shape):
                return (f"{self.name} is trained on {len(want_shape)}D {want_sys} lattices "
                        f"({'x'.join(map(str, want_shape))})")
        return None


def harmonic_prior_model(note: str = "") -> ModelHandle:
    """The exact ε-predictor when the data *are* harmonic-prior samples (no network).

    For a mode with eigenvalue ``a``, data variance ``1/a`` makes ``S_t`` stationary with
    variance ``1/a``, so ``E[ε | S_t] = σ(t) A S_t`` per mode, i.e.
    ``ε̂ = Σ(t)^{1/2} A S_t``. Sampling with it draws from the harmonic prior: shapes with
    the structure's connectivity but no chemistry (or physics). ``note`` is appended to
    the name (why no network is used).
    """

    def eps_fn(structure, process, S_t, t):
        AS = _apply_A(process, structure, S_t)
        return process.apply_sigma_sqrt(AS, t)

    name = "harmonic prior (no network)" if not note else f"harmonic prior (no network; {note})"
    return ModelHandle(name=name, eps_fn=eps_fn)


def _apply_A(process, structure: Structure, S):
    L = getattr(process, "_api_L", None)
    if L is None:
        coo = structure.laplacian.tocoo()
        L = torch.sparse_coo_tensor(torch.as_tensor(np.vstack([coo.row, coo.col])), coo.data,
                                    size=coo.shape, dtype=torch.float64,
                                    check_invariants=False).coalesce()
        process._api_L = L
    gamma = float(getattr(process, "gamma", 1.0))
    lam = float(getattr(process, "lam", 0.0))
    flat = S.reshape(-1, structure.n, 3) if S.dim() == 3 else S.unsqueeze(0)
    out = torch.stack([gamma * torch.sparse.mm(L.to(S.dtype), f) + lam * f for f in flat])
    return out.reshape(S.shape)


def bundled_model_paths() -> list[Path]:
    """The pretrained checkpoints that ship in ``resources/models`` (``*.pt``)."""
    folder = resource_path("models")
    return sorted(folder.glob("*.pt")) if folder.exists() else []


_BUNDLED: dict = {}


def default_models() -> dict[str, ModelHandle]:
    """The bundled pretrained model of each kind: ``{"molecule": ..., "lattice": ...}``
    (a kind without a usable checkpoint is missing from the dict). Loaded once per file
    version (path, size, mtime) and shared."""
    out: dict[str, ModelHandle] = {}
    for candidate in bundled_model_paths():
        st = candidate.stat()
        key = (str(candidate), st.st_size, st.st_mtime_ns)
        if key not in _BUNDLED:
            try:
                _BUNDLED[key] = load_model(candidate)
            except EngineError:
                _BUNDLED[key] = None
        handle = _BUNDLED[key]
        if handle is None:
            continue
        for kind in handle.kinds:
            out.setdefault(kind, handle)
    return out


def default_model(kind: str = "molecule") -> ModelHandle:
    """The bundled pretrained model for ``kind`` if one ships, else the harmonic prior."""
    return default_models().get(kind) or harmonic_prior_model()


def model_for(structure: Structure, models=None) -> ModelHandle:
    """The model to sample ``structure`` with: the first of ``models`` (one handle, a
    sequence, or a ``{kind: handle}`` dict) that suits it (:meth:`ModelHandle.unsuitable`),
    else the harmonic prior, named with the reason when a network of the structure's kind
    was passed but does not fit (e.g. "harmonic prior (no network; lattice
    (lattice_spin.pt) is trained on spin 16x16 lattices)")."""
    if models is None:
        candidates = []
    elif isinstance(models, ModelHandle):
        candidates = [models]
    elif isinstance(models, dict):
        candidates = [m for m in models.values() if m is not None]
    else:
        candidates = [m for m in models if m is not None]
    reasons = []
    for m in candidates:
        why = m.unsuitable(structure)
        if why is None:
            return m
        if m.is_network and structure.kind in m.kinds:
            reasons.append(why)
    return harmonic_prior_model(reasons[0] if reasons else "")


def load_model(path, device=None) -> ModelHandle:
    """Load a checkpoint written by ``engine.training`` (molecule or lattice network) as
    an ε-predictor.

    The handle's denoiser carries the process parameters and coordinate scale the network
    was trained with; a lattice handle also the system and grid shape of its training data
    (``handle.lattice``). Raises ``CheckpointError`` for a missing, corrupt or foreign file.
    """
    from engine.errors import CheckpointError
    from engine.models.denoiser import load_denoiser

    denoiser = load_denoiser(path, device if device is not None else "auto")
    if denoiser.kind == "lattice":
        return _lattice_handle(denoiser)
    if denoiser.kind != "molecule":
        raise CheckpointError(f"{path}: a {denoiser.kind} model; the app samples molecules and lattices only")
    graphs: dict = {}

    def eps_fn(structure, process, S_t, t):
        # (the molecule path with the model's own process is generate_conformers; this one
        # serves other process settings, through the same Denoiser.eps)
        key = id(structure)
        if key not in graphs:
            graphs.clear()
            graphs[key] = _graph_batch(structure).to(denoiser.device)
        return denoiser.eps(S_t, float(t), graphs[key], process)

    return ModelHandle(name=denoiser.title, eps_fn=eps_fn, kinds=("molecule",), denoiser=denoiser)


def _lattice_handle(denoiser: Denoiser) -> ModelHandle:
    """A handle for an ``engine.models.lattice_net.LatticeEpsNet`` checkpoint: the network
    sees the grid as ``LatticeGraph.from_shape(structure.grid_shape)``, as in training."""
    from engine.errors import CheckpointError
    from engine.models.lattice_net import LatticeGraph

    if not denoiser.lattice_data:      # (a lattice checkpoint without its data raises there)
        raise CheckpointError(f"{denoiser.path}: lattice checkpoint without its training data")
    graphs: dict = {}

    def eps_fn(structure, process, S_t, t):
        key = tuple(structure.grid_shape)
        if key not in graphs:
            graphs.clear()
            g = LatticeGraph.from_shape(key)
            graphs[key] = LatticeGraph(g.edge_index.to(denoiser.device), g.num_nodes,
                                       g.positions.to(denoiser.device))
        return denoiser.output(S_t.to(denoiser.device), float(t), graphs[key]).to(S_t.device)

    return ModelHandle(name=denoiser.title, eps_fn=eps_fn, kinds=("lattice",), denoiser=denoiser)


def _graph_batch(structure: Structure):
    """The network's graph argument for one molecule (a ``GraphBatch`` of one), built as
    the sampler and the training corpus build it (``generate.molecule_sample``)."""
    from engine.data.batching import collate
    from engine.sampling.generate import molecule_sample

    return collate([molecule_sample(structure.mol)])
