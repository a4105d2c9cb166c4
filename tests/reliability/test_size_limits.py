"""Size limits: a 20,000-atom PDB (one chain; a box of waters) and a 10^6-site lattice.

Each check runs in a fresh interpreter so its peak resident set size (``ru_maxrss``) is
its own; the numbers go to the reliability stats (docs/reliability.md). The engine must
pick a backend that fits (Chebyshev for a large molecule graph, DCT for a lattice) or
refuse with a clear error before allocating (dense path forced, multi-fragment PDB,
too many atoms for the batched sampler).
"""
from __future__ import annotations

import pytest
from reliability_support import polyethylene_pdb, record, run_snippet, water_box_pdb

pytestmark = pytest.mark.timeout(600)

RSS_LIMIT_MIB = 2500     # the machine has 23 GiB; a dense 20,000-node path would need > 9 GiB


def test_20000_atom_chain_runs_on_the_chebyshev_backend(tmp_path):
    """H-(CH2)6667-H (20,003 atoms, one molecule): read, build the structure, noise it
    (auto backend = Chebyshev, memory O(nnz)); forcing the dense path is refused."""
    path = tmp_path / "polyethylene.pdb"
    atoms = polyethylene_pdb(path, 6667)
    out = run_snippet(f"""
        import time, torch
        torch.set_num_threads(1)
        from engine import api
        from engine.errors import GraphError
        from engine.io import read_molecules
        from engine.process import GraphDiffusion
        base = _peak_mib()
        t = time.perf_counter(); mols = read_molecules({str(path)!r}); read_s = time.perf_counter() - t
        t = time.perf_counter(); s = api.load_structures({str(path)!r})[0]; load_s = time.perf_counter() - t
        proc = api.make_process(s)
        t = time.perf_counter(); traj = api.forward_trajectory(s, num_frames=4); fwd_s = time.perf_counter() - t
        try:
            GraphDiffusion(s.laplacian, backend="dense")
            dense = "accepted"
        except GraphError as e:
            dense = str(e)
        print(json.dumps(dict(atoms=mols[0].GetNumAtoms(), n=s.n, backend=proc.backend_name,
                              finite=bool(torch.isfinite(torch.as_tensor(traj.frames)).all()),
                              moved=float(abs(traj.frames[-1] - traj.frames[0]).max()),
                              dense=dense, read_s=read_s, load_s=load_s, forward_s=fwd_s,
                              base_mib=base, peak_mib=_peak_mib())))
    """)
    record(atoms=out["atoms"], backend=out["backend"], read_s=round(out["read_s"], 2),
           load_structure_s=round(out["load_s"], 2), forward_4_frames_s=round(out["forward_s"], 2),
           baseline_rss_mib=round(out["base_mib"]), peak_rss_mib=round(out["peak_mib"]),
           dense_forced=out["dense"][:120])
    assert out["atoms"] == out["n"] == atoms == 20003
    assert out["backend"] == "chebyshev"
    assert out["finite"] and out["moved"] > 0.1
    assert "too large for the dense path" in out["dense"] and "chebyshev" in out["dense"]
    assert out["peak_mib"] < RSS_LIMIT_MIB


def test_20000_atom_water_box_is_refused_with_a_clear_message(tmp_path):
    """6,667 waters in one PDB model read as one 20,001-atom multi-fragment molecule; the
    app's structure builder refuses it naming the fragments (nothing big is allocated)."""
    path = tmp_path / "waterbox.pdb"
    atoms = water_box_pdb(path, 6667)
    out = run_snippet(f"""
        import time
        from engine import api
        from engine.errors import EngineError
        from engine.io import read_molecules
        t = time.perf_counter(); mols = read_molecules({str(path)!r}); read_s = time.perf_counter() - t
        from rdkit import Chem
        frags = len(Chem.GetMolFrags(mols[0]))
        try:
            api.load_structures({str(path)!r})
            error = None
        except EngineError as e:
            error = type(e).__name__ + ": " + str(e)
        print(json.dumps(dict(molecules=len(mols), atoms=mols[0].GetNumAtoms(), frags=frags,
                              error=error, read_s=read_s, peak_mib=_peak_mib())))
    """)
    record(atoms=out["atoms"], fragments=out["frags"], read_s=round(out["read_s"], 2),
           peak_rss_mib=round(out["peak_mib"]), error=out["error"])
    assert out["molecules"] == 1 and out["atoms"] == atoms == 20001 and out["frags"] == 6667
    assert out["error"] is not None and "waterbox.pdb" in out["error"]
    assert "disconnected" in out["error"] and "6667" in out["error"] and "fragment" in out["error"]
    assert out["peak_mib"] < RSS_LIMIT_MIB


def test_million_site_lattice_uses_dct_and_fits_in_memory():
    """A 100x100x100 lattice: auto backend DCT (exact), noise and reconstruction in about a
    GiB; Chebyshev works too (O(nnz)); dense is refused before its N x N allocation; the app's
    lattice builder refuses it for the viewer (max 200,000 sites)."""
    out = run_snippet("""
        import time, torch
        torch.set_num_threads(1)
        from engine import api
        from engine.errors import EngineError, GraphError
        from engine.graphs import grid_laplacian
        from engine.process import GraphDiffusion, LinearSchedule
        base = _peak_mib()
        L = grid_laplacian((100, 100, 100))
        t = time.perf_counter()
        p = GraphDiffusion(L, gamma=1.0, lam=0.1, schedule=LinearSchedule(0.1, 20.0))
        S0 = torch.randn(1_000_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        St, eps = p.noise(S0, 0.5)
        err = float((p.s0_from_eps(St, 0.5, eps) - S0).abs().max())
        dct_s = time.perf_counter() - t
        dct_peak = _peak_mib()
        try:
            GraphDiffusion(L, backend="dense"); dense = "accepted"
        except GraphError as e:
            dense = str(e)
        after_dense = _peak_mib()
        t = time.perf_counter()
        pc = GraphDiffusion(L, gamma=1.0, lam=0.1, schedule=LinearSchedule(0.1, 20.0), backend="chebyshev")
        y = pc.apply_phi(S0, 0.05)
        yd = p.apply_phi(S0, 0.05)
        cheb_err = float((y - yd).abs().max())
        cheb_s = time.perf_counter() - t
        try:
            api.build_lattice((100, 100, 100)); app = "accepted"
        except EngineError as e:
            app = str(e)
        print(json.dumps(dict(backend=p.backend_name, finite=bool(torch.isfinite(St).all()), err=err,
                              dense=dense, app=app, cheb_err=cheb_err, dct_s=dct_s, cheb_s=cheb_s,
                              base_mib=base, dct_peak_mib=dct_peak, after_dense_mib=after_dense,
                              peak_mib=_peak_mib())))
    """)
    record(sites=1_000_000, backend=out["backend"], reconstruction_error=out["err"],
           dct_noise_and_reconstruct_s=round(out["dct_s"], 2), chebyshev_phi_s=round(out["cheb_s"], 2),
           chebyshev_vs_dct_max_abs=out["cheb_err"], baseline_rss_mib=round(out["base_mib"]),
           dct_peak_rss_mib=round(out["dct_peak_mib"]), peak_rss_mib=round(out["peak_mib"]),
           dense_forced=out["dense"][:120], app_lattice=out["app"][:120])
    assert out["backend"] == "dct" and out["finite"] and out["err"] < 1e-6
    assert out["cheb_err"] < 1e-6
    assert "too large for the dense path" in out["dense"]
    # refused before the N x N allocation (only a copy of the sparse L, ~90 MiB, is made)
    assert out["after_dense_mib"] - out["dct_peak_mib"] < 200
    assert "too large" in out["app"] and "200000" in out["app"]
    assert out["peak_mib"] < RSS_LIMIT_MIB


def test_sample_reports_a_20000_atom_molecule_and_writes_the_others(tmp_path):
    """Regression: one 20,003-atom molecule in ``engine sample`` input used to abort the
    whole run (GraphError for its batch, exit 2, nothing written)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from engine.io import read_molecules, write_molecules

    polyethylene_pdb(tmp_path / "pe.pdb", 6667)
    big = read_molecules(tmp_path / "pe.pdb")[0]
    ethanol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(ethanol, randomSeed=1)
    ethanol.SetProp("_Name", "ethanol")
    smi = tmp_path / "in.sdf"          # SMILES that large are refused by size when read
    write_molecules(smi, [big, ethanol])
    sdf = tmp_path / "out.sdf"
    out = run_snippet(f"""
        import contextlib, io
        from engine.cli import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(["sample", {str(smi)!r}, "--out", {str(sdf)!r}, "--num-confs", "1", "--steps", "2"])
        print(json.dumps(dict(rc=rc, stderr=err.getvalue(), peak_mib=_peak_mib())))
    """)
    written = [m for m in Chem.SDMolSupplier(str(sdf), removeHs=False) if m is not None]
    record(exit_code=out["rc"], peak_rss_mib=round(out["peak_mib"]),
           report=[line for line in out["stderr"].splitlines() if line.startswith("molecule ")])
    assert out["rc"] == 3, out["stderr"]
    assert "molecule 0: molecule has 20003 atoms" in out["stderr"]
    assert [(m.GetProp("_Name"), m.GetIntProp("input_index")) for m in written] == [("ethanol", 1)]
    assert out["peak_mib"] < RSS_LIMIT_MIB
