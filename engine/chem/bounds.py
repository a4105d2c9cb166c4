"""RDKit's distance bounds of a molecule (torch-free): the bounds the chemical energy is
built from (``engine.chem.energy``), that PoseBusters checks against, and that the quality
checks take a bond's expected length from (``engine.metrics.validity``)."""
from __future__ import annotations

import numpy as np

from engine.errors import InputError

__all__ = ["bounds_matrix", "rdkit_reason"]


def bounds_matrix(mol) -> np.ndarray:
    """``(N, N)`` bounds: upper bounds above the diagonal, lower bounds below (1-5 bounds,
    van der Waals scaling, triangle smoothing). Raises :class:`InputError` naming RDKit's
    reason when it cannot build them (e.g. metal complexes: "bad lower bound")."""
    import threading

    from rdkit.Chem import rdDistGeom

    from engine.rdlog import capture_rdkit_log, rdkit_logs_disabled

    # RDKit prints a stack trace for an invariant violation: silenced on the main thread by
    # switching the logs off (a global switch), on other threads by capturing that thread's
    # messages (worker threads may run beside a GUI thread's parse)
    quiet = rdkit_logs_disabled() if threading.current_thread() is threading.main_thread() \
        else capture_rdkit_log()
    try:
        with quiet:
            bm = rdDistGeom.GetMoleculeBoundsMatrix(mol, set15bounds=True, scaleVDW=True,
                                                    doTriangleSmoothing=True,
                                                    useMacrocycle14config=False)
    except Exception as exc:  # RDKit raises ValueError/RuntimeError for odd inputs
        raise InputError(f"RDKit cannot build distance bounds for this molecule: {rdkit_reason(exc)}") from None
    bm = np.asarray(bm, dtype=np.float64)
    if bm.shape != (mol.GetNumAtoms(),) * 2 or not np.all(np.isfinite(bm)):
        raise InputError("RDKit returned unusable distance bounds for this molecule")
    return bm


def rdkit_reason(exc: Exception) -> str:
    """The informative line of an RDKit exception (not its invariant-violation boilerplate)."""
    skip = ("Invariant Violation", "Violation occurred", "Failed Expression", "RDKIT:", "BOOST:", "****")
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(skip)]
    return (useful or lines or [type(exc).__name__])[0]
