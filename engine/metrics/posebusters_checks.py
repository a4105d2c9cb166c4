"""PoseBusters' "mol" checks of one conformer in a child process (the app's Quality check).

Nearly all the time of the "mol" checks goes into one of them, the internal-energy check
(``energy_ratio``): PoseBusters embeds an ETKDGv3 ensemble of the molecule (50 conformers,
``useRandomCoords``, seed 42), UFF-optimises it (200 iterations) and compares the
conformer's UFF energy with the ensemble's mean (fail above 100x). On a 108-atom peptide
that is ~12 s of RDKit calls on two cores against ~0.5 s for every other check together.
So :func:`run_checks`

* runs in a **child process** that ``should_stop`` ends at once (SIGTERM, then SIGKILL):
  RDKit's embedding cannot be interrupted inside a thread, and a thread holding it kept the
  closing window waiting;
* sends the **other checks first** (``on_checks``), then the energy check;
* builds the reference ensemble from ``energy_conformers`` conformers (default
  :data:`ENERGY_CONFORMERS`; PoseBusters' own value, 50, reproduces its verdict and ratio
  exactly) and keeps it per molecule (InChI, as PoseBusters keys it) in this process
  (:data:`_ENSEMBLES`), so a second frame of the same molecule only pays the cheap part.

The energy check itself is PoseBusters' (``check_energy_ratio`` with the "mol" config's
threshold); only the ensemble size differs from the "mol" config, and the ensemble comes
from the cache when it is known. ``bench/quality_check.py`` measures the times and how far
the 10-conformer mean lies from the 50-conformer one (docs/app.md).
"""
from __future__ import annotations

import copy
import math
import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from pathlib import Path

from engine.errors import Cancelled

#: conformers of the internal-energy check's reference ensemble in the app (PoseBusters: 50)
ENERGY_CONFORMERS = 10
POLL_S = 0.05

#: (InChI, conformers) -> the ensemble's UFF energies, for the life of this process
_ENSEMBLES: dict[tuple[str, int], list[float]] = {}


def mol_config() -> dict:
    """The "mol" config of the installed PoseBusters (its YAML file, as ``PoseBusters("mol")``
    reads it)."""
    import posebusters
    from yaml import safe_load

    path = Path(posebusters.__file__).parent / "config" / "mol.yml"
    with open(path, encoding="utf-8") as fh:
        return safe_load(fh)


def split_config(config: dict) -> tuple[dict, dict]:
    """``(config without the energy_ratio modules, the energy_ratio parameters)``."""
    fast = copy.deepcopy(config)
    energy = [m for m in fast["modules"] if m.get("function") == "energy_ratio"]
    fast["modules"] = [m for m in fast["modules"] if m.get("function") != "energy_ratio"]
    params = dict(energy[-1].get("parameters", {})) if energy else {}
    return fast, params


def _context():
    # fork where it is safe and cheap (Linux; the corpus build does the same): the child
    # shares the imported RDKit and PoseBusters and starts in milliseconds
    return mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _plain(value):
    """A check's value as True / False / None (None: PoseBusters could not run it)."""
    if value is True or value is False:
        return value
    try:
        import numpy as np

        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, float) and math.isnan(value):
            return None
    except ImportError:       # pragma: no cover - numpy is always there
        pass
    return None


def _child(conn, mol_bytes: bytes, n_confs: int, known: dict, nice: int = 0) -> None:
    """The child process: the checks without the energy ratio, then the energy ratio."""
    try:
        if nice and hasattr(os, "nice"):
            os.nice(nice)
        from rdkit import Chem

        from engine.metrics.validity import _bust, _quiet

        mol = Chem.Mol(mol_bytes)
        fast, params = split_config(mol_config())
        table = _bust([mol], fast)
        conn.send(("checks", {str(col): _plain(table[col].iloc[0]) for col in table.columns}))
        with _quiet():
            energy = _energy_ratio(mol, n_confs, params, known, conn)
        conn.send(("energy", energy))
    except BaseException as err:  # noqa: BLE001 -- reported to the parent as a row
        try:
            conn.send(("error", f"{type(err).__name__}: {err}"))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()


def _energy_ratio(mol, n_confs: int, params: dict, known: dict, conn) -> dict:
    """PoseBusters' ``check_energy_ratio`` with an ensemble of ``n_confs`` conformers, taken
    from ``known`` when this molecule's is there (new ones are sent to the parent)."""
    import posebusters.modules.energy_ratio as er
    from rdkit import Chem

    original = er.get_energies
    state = {"cached": True, "inchi": None}

    def get_energies(inchi, n=n_confs, num_threads=0):
        state["inchi"] = inchi
        energies = known.get((inchi, int(n)))
        if energies is None:
            state["cached"] = False
            energies = list(original(inchi, n, num_threads))
            conn.send(("ensemble", (inchi, int(n), energies)))
        return energies

    er.get_energies = get_energies  # type: ignore[assignment]  # check_energy_ratio looks it up here
    try:
        res = er.check_energy_ratio(
            Chem.Mol(mol), threshold_energy_ratio=float(params.get("threshold_energy_ratio", 7.0)),
            ensemble_number_conformations=int(n_confs))["results"]
    finally:
        er.get_energies = original
    ratio = res.get("energy_ratio")
    return {"passes": _plain(res.get("energy_ratio_passes")),
            "ratio": None if ratio is None or not math.isfinite(ratio) else float(ratio),
            "threshold": float(params.get("threshold_energy_ratio", 7.0)),
            "conformers": int(n_confs), "inchi": state["inchi"],
            "cached": state["cached"] and state["inchi"] is not None}


def run_checks(mol, *, energy_conformers: int | None = None,
               on_checks: Callable[[dict], None] | None = None,
               should_stop: Callable[[], bool] | None = None, nice: int = 0) -> dict:
    """PoseBusters' "mol" checks of ``mol``'s conformer (one conformer) in a child process.

    ``on_checks(checks)`` gets the checks other than the energy ratio as soon as they are
    done (``{column: True | False | None}``, None = could not run). Returns ``{"checks":
    …, "energy": {"passes", "ratio", "threshold", "conformers", "inchi", "cached"}}``.
    ``should_stop()`` is polled every 50 ms; when it turns True the child is ended at once
    and :class:`Cancelled` is raised. A child that fails raises ``RuntimeError`` with its
    reason. ``nice``: the child's niceness increment (the app gives its event loop the
    first call on the cores)."""
    import posebusters  # noqa: F401  (imported once here, so a forked child has it)
    from rdkit import Chem

    n_confs = int(energy_conformers or ENERGY_CONFORMERS)
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    exact = Chem.PropertyPickleOptions.CoordsAsDouble | Chem.PropertyPickleOptions.AllProps
    known = {k: v for k, v in list(_ENSEMBLES.items()) if k[1] == n_confs}
    proc = ctx.Process(target=_child, args=(send, mol.ToBinary(exact), n_confs, known, int(nice)),
                       name="gdapp-posebusters", daemon=True)
    proc.start()
    send.close()
    checks = None
    try:
        while True:
            if should_stop is not None and should_stop():
                raise Cancelled("quality check cancelled")
            if not receive.poll(POLL_S):
                if not proc.is_alive() and not receive.poll(0):
                    raise RuntimeError(f"the PoseBusters process ended (exit code {proc.exitcode})")
                continue
            try:
                kind, payload = receive.recv()
            except EOFError:
                raise RuntimeError(f"the PoseBusters process ended (exit code {proc.exitcode})") from None
            if kind == "checks":
                checks = payload
                if on_checks is not None:
                    on_checks(dict(checks))
            elif kind == "ensemble":
                inchi, n, energies = payload
                _ENSEMBLES[(inchi, n)] = energies
            elif kind == "energy":
                return {"checks": checks or {}, "energy": payload}
            else:
                raise RuntimeError(str(payload))
    finally:
        stop_process(proc)
        receive.close()


def stop_process(proc, grace_s: float = 0.5) -> None:
    """End ``proc`` now (SIGTERM, SIGKILL after ``grace_s``) and reap it."""
    if proc.is_alive():
        proc.terminate()
        proc.join(grace_s)
        if proc.is_alive() and hasattr(proc, "kill"):
            proc.kill()
    proc.join()


def known_ensembles() -> dict:
    """A copy of the ensembles kept in this process (tests, the benchmark)."""
    return dict(_ENSEMBLES)


def forget_ensembles() -> None:
    _ENSEMBLES.clear()

