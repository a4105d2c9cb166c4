"""Deterministic shard files: a zip of ``.npy`` arrays plus ``meta.json``.

Every zip entry gets a fixed timestamp and the arrays are written with
``numpy.lib.format``, so the same records give byte-identical files (``numpy.savez``
stamps the current time). Files are written to a temporary name and renamed into place,
so a shard on disk is always complete. ``numpy.load`` also reads them.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import InputError

__all__ = ["write_shard", "read_shard", "pack_records", "write_json_atomic", "corpus_info"]

_EPOCH = (1980, 1, 1, 0, 0, 0)
_ARRAYS = ("atomic_numbers", "bonds", "bond_orders", "features", "positions", "energies")


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=6)


def write_json_atomic(path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def pack_records(records: list[dict]) -> tuple[dict, dict[str, np.ndarray]]:
    """Meta (JSON-able, records in index order) and concatenated arrays of the "ok"
    records with ``*_ptr`` offsets: ``atom_ptr``, ``bond_ptr``, ``pos_ptr`` (rows of
    ``positions`` ``(sum C_m N_m, 3)``), ``conf_ptr``."""
    records = sorted(records, key=lambda r: r["index"])
    meta: list = []
    ok: list = []
    for r in records:
        m = {k: r[k] for k in ("index", "source_smiles", "smiles", "status")}
        if r["status"] == "ok":
            m.update(force_field=r["force_field"], num_atoms=int(len(r["atomic_numbers"])),
                     num_confs=int(len(r["positions"])), row=len(ok))
            ok.append(r)
        else:
            m["reason"] = r["reason"]
        meta.append(m)

    def cat(name, dtype, shape):
        parts = [np.asarray(r[name], dtype=dtype).reshape(shape) for r in ok]
        return np.concatenate(parts) if parts else np.zeros((0,) + shape[1:], dtype)

    def ptr(counts):
        p = np.zeros(len(counts) + 1, dtype=np.int64)
        p[1:] = np.cumsum(counts)
        return p

    nf = ok[0]["features"].shape[1] if ok else 0
    arrays = {
        "atomic_numbers": cat("atomic_numbers", np.int8, (-1,)),
        "bonds": cat("bonds", np.int32, (-1, 2)),
        "bond_orders": cat("bond_orders", np.float32, (-1,)),
        "features": cat("features", np.int8, (-1, nf)),
        "positions": cat("positions", np.float32, (-1, 3)),
        "energies": cat("energies", np.float64, (-1,)),
        "atom_ptr": ptr([len(r["atomic_numbers"]) for r in ok]),
        "bond_ptr": ptr([len(r["bonds"]) for r in ok]),
        "pos_ptr": ptr([r["positions"].shape[0] * r["positions"].shape[1] for r in ok]),
        "conf_ptr": ptr([len(r["positions"]) for r in ok]),
    }
    return {"records": meta}, arrays


def write_shard(path, records: list[dict]) -> None:
    """Write records (see ``engine.data.targets.make_conformers``) atomically."""
    path = Path(path)
    meta, arrays = pack_records(records)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _entry(zf, "meta.json", json.dumps(meta, sort_keys=True).encode())
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            _entry(zf, f"{name}.npy", buf.getvalue())
    os.replace(tmp, path)


def read_shard(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a shard written by ``write_shard``."""
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
        arrays = {}
        for name in zf.namelist():
            if name.endswith(".npy"):
                arrays[name[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                             allow_pickle=False)
    return meta, arrays


def corpus_info(cache_dir) -> dict:
    """The manifest of a complete corpus plus its size on disk (bytes)."""
    d = Path(cache_dir)
    path = d / "corpus.json"
    if not path.is_file():
        what = "an unfinished corpus (build again to resume)" if (d / "build.json").is_file() \
            else "not a corpus directory"
        raise InputError(f"{d}: no corpus.json, {what}")
    info = json.loads(path.read_text(encoding="utf-8"))
    info["size_bytes"] = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    return info
