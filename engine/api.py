"""The engine's facade for the desktop app and scripts: one import, every name below.

``from engine import api`` is light (numpy-free even: nothing is imported until a name is
used); each name lives in the package that owns it and is loaded on first use:

| what                                      | home                                   |
|-------------------------------------------|----------------------------------------|
| structures, loading, selection, export    | :mod:`engine.structures`               |
| lattice systems                           | :mod:`engine.lattices`                 |
| process parameters                        | :mod:`engine.process.params`           |
| model handles                             | :mod:`engine.sampling.handles`          |
| forward / reverse trajectories, guidance  | :mod:`engine.sampling.trajectories`    |
| quality checks, the ETKDG baseline        | :mod:`engine.metrics.quality`          |
| training jobs                             | :mod:`engine.training.launch`            |
| errors, cancellation                      | :mod:`engine.errors`                   |

Everything returns plain numpy arrays and dataclasses. Long calls take ``callback``
(streamed per-step results) and ``should_stop`` (a no-argument predicate polled between
steps; when it returns True the call raises :class:`Cancelled`). Shapes: ``N`` nodes
(atoms or lattice sites), ``K`` frames, ``(N, 3)`` per structure. The contracts are in
docs/math.md and docs/architecture.md.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "engine.errors": ["Cancelled", "EngineError", "InputError", "GraphError"],
    "engine.defaults": ["DEFAULT_ENERGY_GUIDANCE", "DEFAULT_SAMPLER", "DEFAULT_STEPS", "SAMPLING_PHI_FLOOR",
                        "STAGE_FRAMES"],
    "engine.resources": ["resource_path"],
    "engine.devices": ["device_info"],
    "engine.structures": [
        "Structure", "DEMO_MOLECULE", "demo_molecule_path", "readable_suffixes", "writable_suffixes",
        "load_structures",
        "structure_from_mol", "structure_from_smiles", "select_smarts", "dynamic_bonds",
        "export_structures", "export_trajectory"],
    "engine.lattices": ["LatticeSystemInfo", "LATTICE_MAX_SITES", "lattice_systems", "lattice_system_info",
                        "build_lattice"],
    "engine.process.params": ["ProcessParams", "make_process"],
    "engine.sampling.handles": ["ModelHandle", "load_model", "default_model", "default_models", "model_for",
                               "harmonic_prior_model", "bundled_model_paths"],
    "engine.sampling.trajectories": ["Trajectory", "Guidance", "forward_trajectory", "reverse_trajectory",
                                     "default_guidance", "default_steps", "default_sampler", "sampler_names",
                                     "run_settings"],
    "engine.sampling.settings": ["SamplingSettings", "WATCH_SETTINGS"],
    "engine.commands._provenance": ["settings_provenance"],
    "engine.sampling.frames": ["StageFrame"],
    "engine.metrics.quality": ["QualityRow", "QUALITY_PENDING", "quality_report", "etkdg_conformer",
                               "heavy_atom_rmsd", "lattice_frame_quality"],
    "engine.training.launch": ["DEFAULT_TRAINING_CONFIG", "TrainingConfigInfo", "TrainingPlan", "training_configs",
                             "training_config_info", "training_plan", "build_training_corpus", "train"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Cancelled", "Structure", "ProcessParams", "Guidance", "Trajectory", "ModelHandle",
    "DEMO_MOLECULE", "demo_molecule_path", "readable_suffixes", "writable_suffixes", "device_info",
    "load_structures", "structure_from_mol", "structure_from_smiles", "lattice_systems",
    "LatticeSystemInfo", "lattice_system_info", "build_lattice", "make_process",
    "forward_trajectory", "reverse_trajectory", "default_guidance", "default_steps", "default_sampler",
    "run_settings", "SamplingSettings", "WATCH_SETTINGS", "StageFrame", "STAGE_FRAMES", "settings_provenance",
    "DEFAULT_ENERGY_GUIDANCE", "sampler_names",
    "load_model", "default_model", "harmonic_prior_model",
    "etkdg_conformer", "heavy_atom_rmsd", "quality_report", "QUALITY_PENDING", "select_smarts",
    "export_structures", "export_trajectory", "dynamic_bonds", "resource_path",
    "EngineError", "InputError", "GraphError",
    "training_configs", "TrainingConfigInfo", "training_config_info",
    "DEFAULT_TRAINING_CONFIG", "TrainingPlan", "training_plan", "build_training_corpus", "train",
]


def __getattr__(name: str):
    """Load ``name`` from the module that owns it (PEP 562) and keep it here, so later
    lookups (and ``monkeypatch.setattr(api, name, ...)``) see a plain module attribute."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME_OF))


if TYPE_CHECKING:   # the same names, for type checkers and editors
    from engine.commands._provenance import settings_provenance
    from engine.defaults import DEFAULT_ENERGY_GUIDANCE, STAGE_FRAMES
    from engine.devices import device_info
    from engine.errors import Cancelled, EngineError, GraphError, InputError
    from engine.lattices import (
        LatticeSystemInfo,
        build_lattice,
        lattice_system_info,
        lattice_systems,
    )
    from engine.metrics.quality import (
        QUALITY_PENDING,
        etkdg_conformer,
        heavy_atom_rmsd,
        quality_report,
    )
    from engine.process.params import ProcessParams, make_process
    from engine.resources import resource_path
    from engine.sampling.frames import StageFrame
    from engine.sampling.handles import (
        ModelHandle,
        default_model,
        harmonic_prior_model,
        load_model,
    )
    from engine.sampling.settings import WATCH_SETTINGS, SamplingSettings
    from engine.sampling.trajectories import (
        Guidance,
        Trajectory,
        default_guidance,
        default_sampler,
        default_steps,
        forward_trajectory,
        reverse_trajectory,
        run_settings,
        sampler_names,
    )
    from engine.structures import (
        DEMO_MOLECULE,
        Structure,
        demo_molecule_path,
        dynamic_bonds,
        export_structures,
        export_trajectory,
        load_structures,
        readable_suffixes,
        select_smarts,
        structure_from_mol,
        structure_from_smiles,
        writable_suffixes,
    )
    from engine.training.launch import (
        DEFAULT_TRAINING_CONFIG,
        TrainingConfigInfo,
        TrainingPlan,
        build_training_corpus,
        train,
        training_config_info,
        training_configs,
        training_plan,
    )
