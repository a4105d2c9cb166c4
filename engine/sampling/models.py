"""Model handles: an ε-predictor the samplers call for one structure (a trained molecule or
lattice network, or the exact harmonic-prior predictor), the bundled checkpoints and the
choice of a model for a structure.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.devices import resolve_device
from engine.errors import EngineError
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
    path: str | None = None
    kinds: tuple = ("molecule", "lattice")
    params: ProcessParams | None = None   # the process the model was trained with
    coord_scale: float = 1.0                   # Å (molecules) or field units per model unit
    lattice: dict | None = None
    generation: Any = None                  # engine.sampling.generate.GenerationModel (molecules)

    @property
    def is_network(self) -> bool:
        return self.path is not None

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
    import torch

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

    The handle carries the process parameters and coordinate scale the network was
    trained with; a lattice handle also the system and grid shape of its training data
    (``handle.lattice``). Raises ``CheckpointError`` for a missing, corrupt or foreign file.
    """
    import torch

    from engine.errors import CheckpointError
    from engine.models.checkpoint import read_network

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    device = torch.device(device) if device is not None else resolve_device()
    net, config = read_network(path, device=device)
    kind = getattr(net, "kind", "molecule")
    proc = dict(config.get("process") or {})
    default_lam = 0.1 if kind == "lattice" else 0.0
    params = ProcessParams(gamma=float(proc.get("gamma", 1.0)),
                           lam=float(proc.get("lam", default_lam)),
                           schedule=str(proc.get("schedule", "linear")),
                           beta_min=float(proc.get("beta_min", 0.1)),
                           beta_max=float(proc.get("beta_max", 20.0)),
                           cosine_s=float(proc.get("cosine_s", 0.008)),
                           cosine_end=float(proc.get("cosine_end", 10.0)))
    model_cfg = config.get("model") or {}
    name = f"{model_cfg.get('name', 'model')} ({path.name})"
    scale = float(proc.get("coord_scale", 1.0))
    if kind == "lattice":
        return _lattice_handle(path, net, config, params, name, scale, device)
    if kind != "molecule":
        raise CheckpointError(f"{path}: a {kind} model; the app samples molecules and "
                              f"lattices only")
    from engine.sampling.generate import GenerationModel

    generation = GenerationModel(net, config, device, name=path.name)
    graphs: dict = {}

    from engine.models.outputs import eps_from_output, parameterization

    kind = parameterization(net)

    def eps_fn(structure, process, S_t, t):
        # (the molecule path with the model's own process is generate_conformers; this one,
        # for other process settings, is stateless: a self-conditioning network gets its
        # "no estimate yet" input, zeros, at every call)
        key = id(structure)
        if key not in graphs:
            graphs.clear()
            graphs[key] = _graph_batch(structure).to(device)
        x = S_t.to(device=device, dtype=torch.float32)
        tt = torch.full((1,), float(t), dtype=torch.float32, device=device)
        with torch.no_grad():
            out = net(x, tt, graphs[key]).to(dtype=S_t.dtype, device=S_t.device)
        out = out - out.mean(0, keepdim=True)
        if kind == "eps":
            return out
        eps = eps_from_output(kind, process, S_t, float(t), out)
        return eps - eps.mean(0, keepdim=True)

    return ModelHandle(name=name, eps_fn=eps_fn, path=str(path), kinds=("molecule",),
                       params=params, coord_scale=scale, generation=generation)


def _lattice_handle(path, net, config, params, name, scale, device) -> ModelHandle:
    """A handle for an ``engine.models.lattice_net.LatticeEpsNet`` checkpoint: the network
    sees the grid as ``LatticeGraph.from_shape(structure.grid_shape)``, as in training."""
    import torch

    from engine.errors import CheckpointError
    from engine.models.lattice_net import LatticeGraph

    data = dict((config.get("data") or {}).get("lattice") or {})
    if "kind" not in data or "shape" not in data:
        raise CheckpointError(f"{path}: lattice checkpoint without data.lattice kind/shape")
    trained = {"system": str(data["kind"]), "shape": tuple(int(s) for s in data["shape"])}
    graphs: dict = {}

    def eps_fn(structure, process, S_t, t):
        key = tuple(structure.grid_shape)
        if key not in graphs:
            graphs.clear()
            g = LatticeGraph.from_shape(key)
            graphs[key] = LatticeGraph(g.edge_index.to(device), g.num_nodes, g.positions.to(device))
        x = S_t.to(device=device, dtype=torch.float32)
        with torch.no_grad():
            eps = net(x, float(t), graphs[key])
        return eps.to(dtype=S_t.dtype, device=S_t.device)

    return ModelHandle(name=name, eps_fn=eps_fn, path=str(path), kinds=("lattice",),
                       params=params, coord_scale=scale, lattice=trained)


def _graph_batch(structure: Structure):
    """The network's graph argument for one molecule (a ``GraphBatch`` of one), built as
    the sampler and the training corpus build it (``generate.molecule_sample``)."""
    from engine.data.batching import collate
    from engine.sampling.generate import molecule_sample

    return collate([molecule_sample(structure.mol)])
