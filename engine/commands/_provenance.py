"""Provenance written on every conformer record of ``sample`` and ``baseline`` (SDF properties).

Everything that decides how a conformer was made: the model file and the first 16 hex
digits of its sha256, then every field of the command's settings dataclass as
``gdapp_<field>`` (sampler, steps, seed, stereo, relax, ... — a field added to the
settings appears in the output without touching this module), the engine version, and the
per-conformer results that were computed (``gdapp_energy_mmff`` after ``--relax``,
``gdapp_stereo_ok`` when stereo was checked; any conformer property named ``gdapp_*`` set
by the sampler is copied too).
"""
from __future__ import annotations

import dataclasses
import hashlib
from functools import lru_cache
from pathlib import Path

PREFIX = "gdapp_"
SHA_DIGITS = 16


@lru_cache(maxsize=8)
def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def engine_version() -> str:
    try:
        from importlib.metadata import version

        return version("gdapp")
    except Exception:  # noqa: BLE001 - running from a checkout without metadata
        return "unknown"


def model_provenance(path) -> dict:
    path = Path(path)
    return {f"{PREFIX}model": path.name, f"{PREFIX}model_sha256": file_sha256(str(path.resolve()))[:SHA_DIGITS]}


def settings_provenance(settings) -> dict:
    """``gdapp_<field>`` for every field of a settings dataclass (None as an empty string)."""
    out = {}
    for key, value in dataclasses.asdict(settings).items():
        if isinstance(value, (list, tuple, dict)):
            value = repr(value)
        out[f"{PREFIX}{key}"] = "" if value is None else value
    out[f"{PREFIX}version"] = engine_version()
    return out


def set_props(obj, props: dict) -> None:
    """Typed RDKit properties on a Mol or a Conformer."""
    for key, value in props.items():
        if isinstance(value, bool):
            obj.SetBoolProp(key, value)
        elif isinstance(value, int):
            obj.SetIntProp(key, value)
        elif isinstance(value, float):
            obj.SetProp(key, format(value, ".10g"))   # SetDoubleProp writes 3.9666000000000001
        else:
            obj.SetProp(key, str(value))


def conformer_results(mol, *, energy: bool, stereo: bool) -> None:
    """Per-conformer ``gdapp_energy_mmff`` (kcal/mol, when ``energy`` and MMFF has
    parameters) and ``gdapp_stereo_ok`` (when ``stereo``) as conformer properties; each is
    kept where ``generate_conformers`` already set it on every conformer (its MMFF stage
    and stereo check)."""
    if energy and not all(c.HasProp(f"{PREFIX}energy_mmff") for c in mol.GetConformers()):
        from rdkit.Chem import rdForceFieldHelpers as FF

        params = FF.MMFFGetMoleculeProperties(mol)
        if params is not None:
            for conf in mol.GetConformers():
                ff = FF.MMFFGetMoleculeForceField(mol, params, confId=conf.GetId())
                if ff is not None:
                    conf.SetDoubleProp(f"{PREFIX}energy_mmff", round(float(ff.CalcEnergy()), 4))  # kcal/mol
    if stereo and not all(c.HasProp(f"{PREFIX}stereo_ok") for c in mol.GetConformers()):
        from engine.chem.stereo import stereo_ok

        for conf in mol.GetConformers():
            conf.SetBoolProp(f"{PREFIX}stereo_ok", bool(stereo_ok(mol, conf.GetPositions())))


def conformer_props(conf) -> dict:
    """The ``gdapp_*`` properties of one conformer."""
    return {k: v for k, v in conf.GetPropsAsDict(includePrivate=False, includeComputed=False).items()
            if k.startswith(PREFIX)}
