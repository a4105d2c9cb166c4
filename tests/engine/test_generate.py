"""Molecule generation with a (tiny, freshly trained) network and the ``sample`` command."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from test_training_support import build_tiny_corpus, small_config

from engine.chem.stereo import stereo_ok
from engine.cli import main as cli_main
from engine.errors import InputError
from engine.models.denoiser import load_denoiser
from engine.sampling.generate import GenerationReport, generate_conformers
from engine.training.trainer import Trainer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    corpus = build_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")
    out = tmp_path_factory.mktemp("run")
    Trainer(small_config(corpus, **{"optim.total_steps": 40}), out).run()
    return out / "checkpoint.pt"


def test_generate_conformers_for_several_molecules(checkpoint):
    model = load_denoiser(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ["CCO", "c1ccccc1C(=O)O", "C[C@H](N)C(=O)O"]]
    mols.insert(1, ValueError("bad SMILES on line 2"))
    report = GenerationReport()
    out = generate_conformers(mols, 4, model, steps=8, seed=3, report=report)
    assert isinstance(out[1], ValueError)
    for res, smi in zip([out[0], out[2], out[3]], ["CCO", "c1ccccc1C(=O)O", "C[C@H](N)C(=O)O"]):
        assert isinstance(res, Chem.Mol)
        assert res.GetNumConformers() == 4
        assert res.GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(smi)).GetNumAtoms()  # Hs added
        for conf in res.GetConformers():
            xyz = conf.GetPositions()
            assert np.all(np.isfinite(xyz))
            assert np.abs(xyz.mean(0)).max() < 1e-4  # centred
    assert report.molecules == 3 and report.conformers == 12 and report.failed == 1
    # stereo: every kept conformer is right, or counted as kept-with-wrong-stereo
    alanine = out[3]
    wrong = sum(not stereo_ok(alanine, c.GetPositions()) for c in alanine.GetConformers())
    assert wrong <= report.stereo_unfixed


def test_generation_is_seeded(checkpoint):
    model = load_denoiser(checkpoint, "cpu")
    mol = Chem.MolFromSmiles("CC(C)CO")
    a = generate_conformers([mol], 2, model, steps=5, seed=7, stereo="ignore")[0]
    b = generate_conformers([mol], 2, model, steps=5, seed=7, stereo="ignore")[0]
    c = generate_conformers([mol], 2, model, steps=5, seed=8, stereo="ignore")[0]
    assert np.array_equal(a.GetConformer(0).GetPositions(), b.GetConformer(0).GetPositions())
    assert not np.array_equal(a.GetConformer(0).GetPositions(), c.GetConformer(0).GetPositions())


def test_sample_command_writes_the_output_contract(checkpoint, tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nC1CC1N(\nc1ccncc1 pyridine\nCC(=O)Nc1ccc(O)cc1 paracetamol\n")
    out = tmp_path / "out.sdf"
    code = cli_main(["sample", str(smi), "--out", str(out), "--num-confs", "3", "--steps", "6",
                     "--checkpoint", str(checkpoint), "--device", "cpu", "--sampler", "heun", "--chunk", "2"])
    err = capsys.readouterr().err
    assert code == 3  # some molecules failed, the others were written
    assert "molecule 1:" in err
    records = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert [r.GetIntProp("input_index") for r in records] == [0] * 3 + [2] * 3 + [3] * 3
    assert [r.GetProp("_Name") for r in records[::3]] == ["ethanol", "pyridine", "paracetamol"]
    assert records[0].GetNumAtoms() == 9 and records[-1].GetNumAtoms() == 20  # with hydrogens


def test_sample_command_refuses_bad_arguments(checkpoint, tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO\n")
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(checkpoint), "--sampler", "nope"]) == 2
    assert "unknown sampler" in capsys.readouterr().err
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(checkpoint), "--threads", "-1"]) == 2
    assert "--threads must be >= 0" in capsys.readouterr().err
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(checkpoint), "--expansion", "0"]) == 2
    assert "--expansion must be a finite number > 0" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    assert cli_main(["sample", str(smi), "--out", str(tmp_path / "o.sdf"), "--num-confs", "1",
                     "--checkpoint", str(corrupt)]) == 2
    assert "corrupt.pt" in capsys.readouterr().err


def test_chunks_respect_structure_and_atom_budgets():
    from engine.sampling.generate import _chunks

    items = list(range(7))
    atoms = [10, 10, 10, 50, 10, 10, 200]
    assert list(_chunks(items, atoms, 3, None)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(_chunks(items, atoms, 10, 60)) == [[0, 1, 2], [3, 4], [5], [6]]
    assert [x for c in _chunks(items, atoms, 2, 25) for x in c] == items   # nothing lost


def test_cpu_batches_are_cut_by_atoms(checkpoint, monkeypatch):
    import engine.sampling.generate as G

    model = load_denoiser(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles("CCCCO")] * 6                # 15 atoms with hydrogens
    report = GenerationReport()
    generate_conformers(mols, 2, model, steps=2, seed=0, stereo="ignore", report=report)
    assert report.batches == 1                              # 12 structures, 180 atoms
    monkeypatch.setattr(G, "CPU_CHUNK_ATOMS", 50)
    report = GenerationReport()
    out = generate_conformers(mols, 2, model, steps=2, seed=0, stereo="ignore", report=report)
    assert report.batches == 4 and all(m.GetNumConformers() == 2 for m in out)   # 3 structures each


def test_several_cpu_batches_are_polished_together_with_the_same_result(checkpoint, monkeypatch):
    """The network runs per CPU batch, the polish per group of batches; the polish is per
    molecule, so grouping changes the cost, not the conformers (float32 noise only)."""
    import engine.sampling.generate as G

    model = load_denoiser(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ("CCCCO", "c1ccccc1C(=O)O", "CC(=O)NC")]
    calls = []
    import engine.sampling.stages as stages

    real = stages.polish

    def counting(energy, coords, steps, fixed=None, **kw):
        calls.append(len(coords))
        return real(energy, coords, steps, fixed=fixed, **kw)

    monkeypatch.setattr(stages, "polish", counting)
    monkeypatch.setattr(G, "CPU_CHUNK_ATOMS", 40)
    report = GenerationReport()
    grouped = generate_conformers(mols, 2, model, steps=2, seed=1, stereo="ignore", polish=30, report=report)
    assert report.batches > 1 and len(calls) == 1                 # one polish for every batch
    monkeypatch.setattr(G, "POLISH_GROUP_ATOMS", 40)
    calls.clear()
    alone = generate_conformers(mols, 2, model, steps=2, seed=1, stereo="ignore", polish=30)
    assert len(calls) == report.batches                           # one polish per batch
    for a, b in zip(grouped, alone):
        for c in range(2):
            diff = np.abs(a.GetConformer(c).GetPositions() - b.GetConformer(c).GetPositions()).max()
            assert diff < 1e-3, diff


def _mmff_energy(mol, conf_id):
    from rdkit.Chem import AllChem

    props = AllChem.MMFFGetMoleculeProperties(mol)
    return AllChem.MMFFGetMoleculeForceField(mol, props, confId=conf_id).CalcEnergy()


def test_the_mmff_stage_lowers_the_energy_and_records_it(checkpoint):
    """``relax`` (on by default) minimises every conformer with MMFF94 after the polish and
    keeps the final energy on the conformer; with ``relax=0`` the polished conformers stay."""
    from engine.defaults import DEFAULT_RELAX_STEPS
    from engine.sampling.generate import ENERGY_PROP

    assert DEFAULT_RELAX_STEPS > 0
    model = load_denoiser(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ("CC(=O)Nc1ccc(O)cc1", "CCCCOC")]
    polished = generate_conformers(mols, 3, model, steps=4, seed=5, relax=0)
    relaxed = generate_conformers(mols, 3, model, steps=4, seed=5)
    for p, r in zip(polished, relaxed):
        for c in range(3):
            assert not p.GetConformer(c).HasProp(ENERGY_PROP)
            stored = r.GetConformer(c).GetDoubleProp(ENERGY_PROP)
            assert abs(stored - _mmff_energy(r, c)) < 1e-3            # the energy of what is written
            assert stored < _mmff_energy(p, c) - 1.0                   # and lower than the polished one


def test_mmff_spread_over_threads_gives_what_one_call_per_molecule_gives(checkpoint, monkeypatch):
    """``_minimise_molecules`` runs the molecules on several threads, one RDKit thread
    each; the result is the same as one call per molecule on one thread, and a molecule
    whose minimisation raises is returned as its exception while the others are relaxed."""
    import threading

    import engine.sampling.relax as R

    model = load_denoiser(checkpoint, "cpu")
    mols = generate_conformers([Chem.MolFromSmiles(s) for s in ("CC(=O)Nc1ccc(O)cc1", "CCCCOC", "c1ccccc1CCN",
                                                                "CCO")], 3, model, steps=4, seed=4, relax=0)
    jobs = [(m, [c.GetPositions() for c in m.GetConformers()]) for m in mols]
    real = R.relax_conformers
    seen: set = set()

    def spy(mol, max_iters, **kw):
        seen.add((threading.get_ident(), kw.get("num_threads")))
        if mol.GetNumAtoms() == 9:                                     # ethanol
            raise RuntimeError("no parameters for atom 3")
        return real(mol, max_iters, **kw)

    monkeypatch.setattr(R, "relax_conformers", spy)
    spread = R.minimise_molecules(jobs, 500, None, 2)
    assert {n for _, n in seen} == {1}                                 # one RDKit thread per molecule
    assert threading.get_ident() not in {t for t, _ in seen}           # on the pool's threads
    single = R.minimise_molecules(jobs, 500, None, 1)
    assert isinstance(spread[3], RuntimeError) and isinstance(single[3], RuntimeError)
    for a, b, (_, start) in zip(spread[:3], single[:3], jobs):
        assert a[0] == b[0] == "mmff"
        for (xa, ea), (xb, eb), x0 in zip(a[1], b[1], start):
            np.testing.assert_array_equal(xa, xb)
            assert ea == eb
            assert np.abs(xa - (x0 - x0.mean(0))).max() > 1e-3          # minimised, not returned as given


def test_a_cis_amide_is_turned_trans_when_that_lowers_the_mmff_energy(checkpoint):
    """After MMFF94 a conformer with a cis secondary amide gets it turned trans and
    minimised again (lower energy: kept, counted); a trans one is left alone."""
    from rdkit.Chem import AllChem

    import engine.sampling.relax as R
    from engine.chem.conformers import cis_amides, mol_with_conformers, secondary_amides, turn_amide

    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)NCc1ccccc1"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    trans = mol.GetConformer().GetPositions()
    (amide,) = secondary_amides(mol)
    _, [(cis, cis_energy)] = R.minimise(mol, [turn_amide(amide, trans)], 2000, None, 1)
    _, [(trans, trans_energy)] = R.minimise(mol, [trans], 2000, None, 1)
    assert cis_amides([amide], cis) == [0] and trans_energy < cis_energy           # MMFF keeps a cis minimum
    from engine.sampling.generate import _Prepared
    prepared = [_Prepared(mol, None, None, posed=False)]
    rows = [(0, 0, cis, cis_energy, cis), (0, 1, trans, trans_energy, trans)]
    report = GenerationReport()
    R.turn_cis_amides(prepared, rows, 500, report, {})
    assert report.amides_turned == 1
    assert cis_amides([amide], rows[0][2]) == [] and rows[0][3] < cis_energy - 1.0
    assert abs(rows[0][3] - _mmff_energy(mol_with_conformers(mol, [rows[0][2]]), 0)) < 1e-3  # of what is kept
    assert rows[1][2] is trans and rows[1][3] == trans_energy
    np.testing.assert_array_equal(rows[0][4], cis)                                # the polished fallback stays


def test_the_mmff_stage_holds_fixed_atoms(checkpoint):
    model = load_denoiser(checkpoint, "cpu")
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))
    idx = np.array([4, 5, 6, 7, 8, 9])                                 # the ring
    rng = np.random.default_rng(0)
    ring = np.array([[np.cos(a), np.sin(a), 0.0] for a in np.arange(6) * np.pi / 3]) * 1.39
    ring += rng.normal(scale=0.05, size=ring.shape)                    # not a minimum: MMFF would move it
    (out,) = generate_conformers([mol], 2, model, steps=4, seed=2, fixed=(idx, ring))
    for conf in out.GetConformers():
        assert np.abs(conf.GetPositions()[idx] - ring).max() < 1e-6      # float32 sampling; MMFF: 0


def test_a_molecule_the_force_field_cannot_treat_keeps_its_polish_and_is_reported(checkpoint, monkeypatch):
    import engine.sampling.generate as G
    import engine.sampling.relax as R

    real = R.relax_conformers

    def failing(mol, max_iters, **kw):
        if mol.GetNumAtoms() == 9:                                     # ethanol
            raise RuntimeError("no parameters for atom 3")
        return real(mol, max_iters, **kw)

    monkeypatch.setattr(R, "relax_conformers", failing)
    model = load_denoiser(checkpoint, "cpu")
    mols = [Chem.MolFromSmiles(s) for s in ("CC(=O)Nc1ccc(O)cc1", "CCO")]
    report = GenerationReport()
    out = generate_conformers(mols, 2, model, steps=4, seed=1, report=report)
    assert list(report.warnings) == [1] and "no parameters for atom 3" in report.warnings[1]
    assert [m.GetNumConformers() for m in out] == [2, 2]
    assert out[0].GetConformer(0).HasProp(G.ENERGY_PROP) and not out[1].GetConformer(0).HasProp(G.ENERGY_PROP)


def test_a_conformer_mmff_inverted_is_written_as_polished(checkpoint, monkeypatch):
    """The stereo check sees the relaxed conformer; when the minimisation inverted one
    centre (simulated: two substituents swap places), the polished conformer is written
    instead, without an MMFF energy, and counted."""
    import engine.sampling.generate as G
    import engine.sampling.relax as R
    from engine.chem.stereo import stereo_report

    smi = "C[C@H](O)[C@@H](N)CC"
    real = R.relax_conformers

    def inverting(mol, max_iters, **kw):
        used, energies = real(mol, max_iters, **kw)
        h = next(n.GetIdx() for n in mol.GetAtomWithIdx(1).GetNeighbors() if n.GetAtomicNum() == 1)
        for conf in mol.GetConformers():
            xyz = conf.GetPositions()
            xyz[[2, h]] = xyz[[h, 2]]                      # O and H of centre 1 swap places
            for k, p in enumerate(xyz):
                conf.SetAtomPosition(k, p.tolist())
        return used, energies

    model = load_denoiser(checkpoint, "cpu")
    polished = generate_conformers([Chem.MolFromSmiles(smi)], 2, model, steps=4, seed=6, relax=0)[0]
    monkeypatch.setattr(R, "relax_conformers", inverting)
    report = GenerationReport()
    (out,) = generate_conformers([Chem.MolFromSmiles(smi)], 2, model, steps=4, seed=6, report=report)
    assert report.relax_undone == 2 and report.stereo_resampled == 0
    for c in range(2):
        conf = out.GetConformer(c)
        assert stereo_report(out, conf.GetPositions())["centres_wrong"] == 0
        assert conf.GetBoolProp(G.STEREO_PROP)                         # the check's verdict, kept
        assert not conf.HasProp(G.ENERGY_PROP)
        assert np.abs(conf.GetPositions() - polished.GetConformer(c).GetPositions()).max() < 1e-9


def test_centres_mmff_inverted_are_flipped_back_and_minimised_again(checkpoint, monkeypatch):
    """When MMFF leaves a centre inverted (simulated cleanly on the first minimisation),
    the centre is flipped back and minimised again: the written conformer is relaxed, has
    the right stereo and its MMFF energy."""
    import engine.sampling.generate as G
    import engine.sampling.relax as R
    from engine.chem.stereo import flip_centres

    real, calls = R.relax_conformers, []

    def inverting_once(mol, max_iters, **kw):
        used, energies = real(mol, max_iters, **kw)
        calls.append(mol.GetNumConformers())
        if len(calls) == 1:
            for conf in mol.GetConformers():
                flipped = flip_centres(mol, conf.GetPositions(), [1])
                for k, p in enumerate(flipped):
                    conf.SetAtomPosition(k, p.tolist())
        return used, energies

    monkeypatch.setattr(R, "relax_conformers", inverting_once)
    model = load_denoiser(checkpoint, "cpu")
    report = GenerationReport()
    (out,) = generate_conformers([Chem.MolFromSmiles("C[C@H](O)[C@@H](N)CC")], 2, model, steps=4,
                                 seed=6, report=report)
    # both conformers flipped back and minimised again in one call
    assert report.relax_flipped == 2 and report.relax_undone == 0 and calls == [2, 2]
    for conf in out.GetConformers():
        assert stereo_ok(out, conf.GetPositions()) and conf.GetBoolProp(G.STEREO_PROP)
        assert abs(conf.GetDoubleProp(G.ENERGY_PROP) - _mmff_energy(out, conf.GetId())) < 1e-3


def test_the_expansion_is_spread_over_the_steps(checkpoint):
    """``expansion`` is the factor of the whole run (``F ** (1 / steps)`` per estimate): with
    many steps it does not compound into an explosion (per step, 3.4 ** 12 would), and it
    makes the raw samples larger."""
    model = load_denoiser(checkpoint)
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")

    def radius(expansion, steps):
        (out,) = generate_conformers([mol], 4, model, steps=steps, seed=1, expansion=expansion,
                                     polish=0, relax=0, guidance=0, stereo="ignore")
        x = np.stack([c.GetPositions() for c in out.GetConformers()])
        assert np.isfinite(x).all()
        return float(np.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum(-1).mean()))

    plain = radius(1.0, 12)
    assert radius(3.4, 12) < 3.4 * plain
    assert radius(3.4, 2) > 1.2 * radius(1.0, 2)
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(InputError, match="expansion"):
            generate_conformers([mol], 1, model, expansion=bad)


def test_mirror_image_helpers():
    """A mirror image keeps every distance and the centroid and turns every torsion's sign;
    the RMSD matrix is RDKit's symmetry-aware one; MaxMin starts with the first item and
    then takes the farthest."""
    from rdkit.Chem import AllChem, rdMolAlign, rdMolTransforms

    from engine.chem.conformers import (
        best_rmsd_matrix,
        diverse_subset,
        has_specified_chirality,
        mirror_image,
        mol_with_conformers,
    )

    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCOc1ccccc1"))
    AllChem.EmbedMultipleConfs(mol, 3, randomSeed=4)
    x = [c.GetPositions() for c in mol.GetConformers()]
    m = mirror_image(x[0])
    dist = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
    assert np.allclose(dist(m), dist(x[0])) and np.allclose(m.mean(0), x[0].mean(0))
    both = mol_with_conformers(mol, [x[0], m])
    t0, t1 = (rdMolTransforms.GetDihedralDeg(c, 0, 1, 2, 3) for c in both.GetConformers())
    assert abs(t0 + t1) < 1e-6 and abs(t0) > 1
    d = best_rmsd_matrix(mol, x + [m])
    heavy = Chem.RemoveHs(mol_with_conformers(mol, [x[0], x[2]]))
    assert d.shape == (4, 4) and np.allclose(d, d.T) and np.allclose(np.diag(d), 0)
    assert abs(d[0, 2] - rdMolAlign.GetBestRMS(Chem.Mol(heavy, confId=1), Chem.Mol(heavy, confId=0))) < 1e-6
    line = np.abs(np.subtract.outer([0.0, 1.0, 2.0, 10.0, 9.0], [0.0, 1.0, 2.0, 10.0, 9.0]))
    assert diverse_subset(line, 3) == [0, 3, 2] and diverse_subset(line, 9) == [0, 1, 2, 3, 4]
    assert not has_specified_chirality(mol)
    assert has_specified_chirality(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    assert not has_specified_chirality(Chem.MolFromSmiles("C/C=C/C"))


def test_conformers_are_the_most_diverse_of_the_samples_and_their_mirror_images(checkpoint):
    """For a molecule without chirality tags the K conformers written are chosen from
    ceil(0.8 K) samples and their mirror images (same energy), the first sample first, and
    together they are at least as spread as K samples; a molecule with tags, one
    conformer or fixed atoms get K samples, unchanged."""
    from engine.chem.conformers import best_rmsd_matrix, mirror_image
    from engine.sampling import generate as G

    model = load_denoiser(checkpoint, "cpu")
    mol = Chem.MolFromSmiles("CCCOc1ccc(C/C=C/C)cc1")
    report = GenerationReport()
    assert G.mirror_sample_count(6) == 5
    (first5,) = generate_conformers([mol], 5, model, steps=3, seed=5, relax=50, mirror_images=False)
    (plain,) = generate_conformers([mol], 6, model, steps=3, seed=5, relax=50, mirror_images=False)
    (mixed,) = generate_conformers([mol], 6, model, steps=3, seed=5, relax=50, report=report)
    assert mixed.GetNumConformers() == report.conformers == 6
    samples = [c.GetPositions() for c in first5.GetConformers()]
    images = [mirror_image(x) for x in samples]
    energy = {round(c.GetDoubleProp(G.ENERGY_PROP), 4) for c in first5.GetConformers()}
    used_images = 0
    for conf in mixed.GetConformers():
        x = conf.GetPositions()
        from_sample = any(np.allclose(x, s, atol=1e-6) for s in samples)
        from_image = any(np.allclose(x, s, atol=1e-6) for s in images)
        assert from_sample or from_image
        used_images += from_image and not from_sample
        assert round(conf.GetDoubleProp(G.ENERGY_PROP), 4) in energy
        assert stereo_ok(mixed, x)      # E/Z kept by the reflection
    assert used_images == report.mirror_images >= 1
    assert np.allclose(mixed.GetConformer(0).GetPositions(), samples[0])

    def spread(m):
        d = best_rmsd_matrix(m, [c.GetPositions() for c in m.GetConformers()])
        return (d + np.eye(len(d)) * 1e9).min(1).mean()
    assert spread(mixed) >= spread(plain) - 1e-9

    for other, k, kw in [(Chem.MolFromSmiles("C[C@H](N)Cc1ccccc1"), 4, {}),
                         (mol, 1, {}), (mol, 3, {"fixed": ([0], np.zeros((1, 3)))})]:
        a = generate_conformers([other], k, model, steps=3, seed=2, relax=0, **kw)[0]
        b = generate_conformers([other], k, model, steps=3, seed=2, relax=0, mirror_images=False, **kw)[0]
        assert np.array_equal(np.stack([c.GetPositions() for c in a.GetConformers()]),
                              np.stack([c.GetPositions() for c in b.GetConformers()]))


def test_mirror_sample_count():
    from engine.sampling.generate import mirror_sample_count

    assert [mirror_sample_count(k) for k in (1, 2, 3, 4, 5, 6, 10, 20)] == [1, 2, 3, 4, 4, 5, 8, 16]


def test_a_flat_molecule_still_gets_every_conformer_asked_for(checkpoint):
    """Naphthalene's mirror images are its samples (flat): with fewer samples than
    conformers asked for, images fill the rest rather than leaving the file short."""
    model = load_denoiser(checkpoint, "cpu")
    report = GenerationReport()
    (mol,) = generate_conformers([Chem.MolFromSmiles("c1ccc2ccccc2c1")], 5, model, steps=2, seed=1,
                                 relax=50, report=report)
    assert mol.GetNumConformers() == 5 and report.mirror_images == 1


def test_sample_command_writes_the_mirror_image_setting(checkpoint, tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCOc1ccccc1\n")
    for flag, value in [([], "1"), (["--no-mirror-images"], "0")]:
        out = tmp_path / f"o{len(flag)}.sdf"
        assert cli_main(["sample", str(smi), "--out", str(out), "--num-confs", "2", "--steps", "2",
                         "--checkpoint", str(checkpoint), "--quiet", *flag]) == 0
        rec = next(iter(Chem.SDMolSupplier(str(out), removeHs=False)))
        assert rec.GetProp("gdapp_mirror_images") == value


def test_mirror_images_of_a_deuterated_molecule():
    """Hydrogen isotopes are left out of the diversity RMSD like every other hydrogen (RDKit's
    RemoveHs keeps a deuterium, which made the heavy-atom coordinates not fit)."""
    from rdkit.Chem import AllChem

    from engine.chem.conformers import best_rmsd_matrix

    mol = Chem.AddHs(Chem.MolFromSmiles("CCC([2H])([2H])Oc1ccccc1"))
    AllChem.EmbedMultipleConfs(mol, 3, randomSeed=1)
    d = best_rmsd_matrix(mol, [c.GetPositions() for c in mol.GetConformers()])
    assert d.shape == (3, 3) and np.isfinite(d).all() and d[0, 1] > 0


def _spy_network(**options):
    """An untrained molecule network with ``options`` that records every call's input,
    self-conditioning input and output."""
    import torch

    from engine.chem.features import ATOM_FEATURE_DIM
    from engine.models.egnn import EGNNEpsNet

    class Spy(EGNNEpsNet):
        def __init__(self):
            super().__init__(feature_dim=ATOM_FEATURE_DIM, hidden=16, layers=2, **options)
            self.calls = []

        def forward(self, x, t, graph, self_cond=None):
            out = super().forward(x, t, graph, self_cond=self_cond)
            self.calls.append((x.clone(), None if self_cond is None else self_cond.clone(), out.clone()))
            return out

    torch.manual_seed(0)
    net = Spy().eval()
    for layer in net.layers:         # non-trivial outputs
        torch.nn.init.normal_(layer.coord_out.weight, std=0.3)
    return net


def _generation_model(net):
    import torch

    from engine.models.denoiser import Denoiser

    config = {"process": {"gamma": 4.0, "lam": 0.5, "schedule": "cosine", "coord_scale": 1.5},
              "model": {"name": "egnn", "kwargs": {}}}
    return Denoiser(net, config, torch.device("cpu"))


def test_sampling_feeds_a_self_conditioning_network_its_own_estimate_at_the_same_step(monkeypatch):
    """Every sampler step calls a self-conditioning network twice at the same input: first
    with zeros, then with the raw Ŝ₀ of that first call (``s0_from_output`` of the input and
    the centred output, before any hook moved it), as training and validation make it; a v
    network's output is turned into ε̂ for the sampler."""
    import torch

    import engine.models.outputs as outputs

    net = _spy_network(self_cond=True, parameterization="v")
    made = []
    real = outputs.s0_from_output

    floors = set()

    def spy(kind, process, St, t, out, phi_floor=None):
        s0 = real(kind, process, St, t, out, phi_floor)
        made.append((kind, St.clone(), out.clone(), s0.clone()))
        floors.add(process.phi_floor)
        return s0

    monkeypatch.setattr(outputs, "s0_from_output", spy)
    hooked = []
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    out = generate_conformers([mol], 1, _generation_model(net), steps=4, seed=1, guidance=0, polish=0,
                              relax=0, expansion=2.0, mirror_images=False, stereo="ignore",
                              on_frame=lambda f: f.s0_hat is not None and hooked.append(
                                  torch.as_tensor(f.s0_hat, dtype=torch.float32) / 1.5))
    assert isinstance(out[0], Chem.Mol)
    assert len(net.calls) == 8 and len(made) == 4          # two calls a step, one estimate fed back
    for k in range(4):
        (x0, sc0, out0), (x1, sc1, _) = net.calls[2 * k], net.calls[2 * k + 1]
        kind, St, o, s0 = made[k]
        assert kind == "v"
        assert torch.equal(sc0, torch.zeros_like(x0))    # first call: no estimate yet
        assert torch.equal(x1, x0) and torch.equal(St, x0)   # the second at the same S_t
        assert torch.allclose(o, out0 - out0.mean(0), atol=1e-6)
        assert torch.equal(sc1, s0)                      # ... given the first call's raw Ŝ₀
        assert not torch.allclose(s0, hooked[k], atol=1e-3)   # ... not the expanded one
    # a v network's estimate is re-derived by the sampler under the round-off guard only
    from engine.defaults import V_SAMPLING_PHI_FLOOR
    assert floors == {V_SAMPLING_PHI_FLOOR}


def test_a_network_without_self_cond_is_called_as_before():
    net = _spy_network()
    generate_conformers([Chem.MolFromSmiles("CCO")], 2, _generation_model(net), steps=3, seed=0,
                        guidance=0, polish=0, relax=0, stereo="ignore")
    assert net.calls and all(sc is None for _, sc, _ in net.calls)


def test_bad_input_is_reported_by_index_with_a_self_conditioning_network():
    net = _spy_network(self_cond=True, parameterization="v", global_context=True)
    report = GenerationReport()
    mols = [Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("CC.O"), Chem.MolFromSmiles("c1ccncc1")]
    out = generate_conformers(mols, 2, _generation_model(net), steps=3, seed=0, report=report,
                              relax=0, stereo="ignore")
    assert set(report.errors) == {1} and "disconnected" in report.errors[1]
    assert isinstance(out[1], Exception)
    assert all(isinstance(out[i], Chem.Mol) and out[i].GetNumConformers() == 2 for i in (0, 2))


def test_the_handle_path_feeds_a_self_conditioning_network_its_own_estimate(monkeypatch):
    """``load_model``'s ε-function (a molecule under other process settings) calls a
    self-conditioning network twice at the same input, zeros first, then the first call's Ŝ₀."""
    import torch

    import engine.models.denoiser as denoiser_module
    from engine import api
    from engine.models.outputs import s0_from_output
    from engine.sampling.handles import load_model

    net = _spy_network(self_cond=True, parameterization="v")
    monkeypatch.setattr(denoiser_module, "load_denoiser", lambda path, device: _generation_model(net))
    handle = load_model("spy.pt")
    structure = api.structure_from_smiles("CC(=O)Nc1ccc(O)cc1", seed=0)
    process = api.make_process(structure, api.ProcessParams(gamma=4.0, lam=0.5, schedule="cosine"))
    S_t = torch.randn(structure.n, 3, generator=torch.Generator().manual_seed(3), dtype=process.dtype)
    eps = handle.eps_fn(structure, process, S_t, 0.4)
    assert eps.shape == S_t.shape and torch.isfinite(eps).all()
    assert len(net.calls) == 2
    (x0, sc0, out0), (x1, sc1, _) = net.calls
    assert torch.equal(sc0, torch.zeros_like(x0)) and torch.equal(x1, x0)
    first = (out0 - out0.mean(0)).to(process.dtype)
    expected = s0_from_output("v", process, S_t, 0.4, first).float()
    assert torch.allclose(sc1, expected, atol=1e-5)
