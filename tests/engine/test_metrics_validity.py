"""PoseBusters "mol" pass rates and the quick geometry checks of the quality panel."""
import io
import json
import sys

import numpy as np
import pytest
import rdkit
from rdkit import Chem, RDLogger, rdBase

from engine.cli import main
from engine.errors import InputError
from engine.metrics.baselines import etkdg_conformers
from engine.metrics.validity import posebusters_pass, quick_checks
from engine.rdlog import rdkit_log_states, rdkit_logs_disabled


def squashed(mol, conf_id=0, factor=0.4):
    """A copy with one conformer whose coordinates are scaled by ``factor`` (atoms squashed)."""
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    conf = Chem.Conformer(mol.GetConformer(conf_id))
    pos = conf.GetPositions() * factor
    for i, p in enumerate(pos):
        conf.SetAtomPosition(i, p.tolist())
    out.AddConformer(conf, assignId=True)
    return out


@pytest.fixture(scope="module")
def good_mols():
    smiles = ["CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1Cl", "CN1CCC(CC1)Oc1ccncc1"]
    return [etkdg_conformers(Chem.MolFromSmiles(s), 4, seed=11, num_threads=1) for s in smiles]


def test_posebusters_pass_is_high_for_etkdg_mmff(good_mols):
    frac, table = posebusters_pass(good_mols)
    assert len(table) == 12                                  # every conformer is checked
    assert list(table["mol_index"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert list(table["conf_id"]) == [0, 1, 2, 3] * 3
    assert frac > 0.9
    assert frac == pytest.approx(table["pass"].mean())


def test_posebusters_fails_a_squashed_conformer(good_mols):
    broken = squashed(good_mols[0])
    frac, table = posebusters_pass([good_mols[0], broken])
    assert len(table) == 5
    assert not table["pass"].iloc[4]
    assert not table["bond_lengths"].iloc[4]
    assert table["pass"].iloc[:4].all()
    assert frac == pytest.approx(4 / 5)


def test_posebusters_in_two_processes_gives_the_same_table(good_mols):
    broken = squashed(good_mols[1])
    mols = [good_mols[0], broken, good_mols[2]]
    frac1, table1 = posebusters_pass(mols, workers=1)
    frac2, table2 = posebusters_pass(mols, workers=2)
    assert frac1 == pytest.approx(8 / 9) and frac2 == frac1
    assert table2["pass"].tolist() == table1["pass"].tolist()
    assert table2["mol_index"].tolist() == [0] * 4 + [1] + [2] * 4


def test_quick_checks_pass_for_a_good_conformer(good_mols):
    q = quick_checks(good_mols[2], conf_id=1)
    assert q["ok"]
    assert q["num_bond_outliers"] == 0 and q["num_clashes"] == 0
    assert q["max_bond_deviation"] < 0.25
    assert isinstance(q["mmff_energy"], float)


def test_quick_checks_expect_each_bond_at_its_ideal_length_for_its_order():
    """A sulfonamide's S=O, an aromatic C:C and a C-F of an MMFF minimum lie within a few
    per cent of what RDKit's bounds expect (covalent-radii sums, blind to bond order, put
    S=O 16 % short: the app showed a 15.5 % "max bond deviation" for a clean structure)."""
    mol = etkdg_conformers(Chem.MolFromSmiles("Cc1ccc(cc1)S(N)(=O)=O"), 1, seed=0)
    q = quick_checks(mol, 0)
    assert q["max_bond_deviation"] < 0.06
    # a metal complex RDKit cannot build bounds for still gets the covalent-radii check
    zn = Chem.AddHs(Chem.MolFromSmiles("C1C[N+]2=CC3=CC=CC=C3O[Zn]24OC5=CC=CC=C5C=[N+]14"))
    conf = Chem.Conformer(zn.GetNumAtoms())
    rng = np.random.default_rng(0)
    for k in range(zn.GetNumAtoms()):
        conf.SetAtomPosition(k, (rng.normal(size=3) * 3).tolist())
    zn.AddConformer(conf)
    assert quick_checks(zn)["num_bond_outliers"] > 0


def test_quick_checks_flag_squashed_bonds_and_clashes(good_mols):
    broken = squashed(good_mols[0], factor=0.5)
    q = quick_checks(broken)
    assert not q["ok"]
    assert q["num_bond_outliers"] == good_mols[0].GetNumBonds()   # every bond is ~half length
    assert q["num_clashes"] > 0
    # the squashed geometry is far higher in MMFF energy than the optimised one
    assert q["mmff_energy"] > quick_checks(good_mols[0], 0)["mmff_energy"] + 100


def test_quick_checks_find_the_pair_moved_together(good_mols):
    mol = Chem.Mol(good_mols[0])
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    dist = Chem.GetDistanceMatrix(mol)
    i, j = next((a, b) for a in heavy for b in heavy if dist[a, b] >= 5)
    conf = mol.GetConformer(0)
    pi = np.array(conf.GetAtomPosition(i))
    # put j 1.0 A from i (0.7 x vdW sum for C/N/O is >= 2.1 A)
    pj = pi + np.array([1.0, 0.0, 0.0])
    conf.SetAtomPosition(j, pj.tolist())
    q = quick_checks(mol, 0)
    assert (min(i, j), max(i, j)) in {(a, b) for a, b, _, _ in q["clashes"]}
    assert not q["ok"]


def test_mmff_energy_is_none_when_mmff_cannot_parametrise():
    mol = Chem.MolFromSmiles("[Xe]")
    conf = Chem.Conformer(1)
    mol.AddConformer(conf, assignId=True)
    assert quick_checks(mol, 0)["mmff_energy"] is None


def test_quick_checks_bad_input():
    with pytest.raises(InputError, match="no conformer"):
        quick_checks(Chem.MolFromSmiles("CCO"))
    mol = etkdg_conformers(Chem.MolFromSmiles("CCO"), 1, num_threads=1)
    with pytest.raises(InputError, match="id 5"):
        quick_checks(mol, 5)


def _closable_stderr():
    """A text stream like pytest's capsys buffer: ``flush`` raises once it is closed."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8")


def test_posebusters_still_passes_after_evaluate_ran_under_a_temporary_stderr(
        good_mols, tmp_path, monkeypatch):
    # regression: PoseBusters re-points rdkit.log_handler at the sys.stderr of the moment;
    # once that stream was closed (capsys at test end) every later InChI check failed
    ref, gen = tmp_path / "ref.sdf", tmp_path / "gen.sdf"
    for path, confs in ((ref, (0, 1)), (gen, (2, 3))):
        with Chem.SDWriter(str(path)) as w:
            for c in confs:
                w.write(good_mols[0], confId=c)
    temporary = _closable_stderr()
    monkeypatch.setattr(sys, "stderr", temporary)
    js = tmp_path / "out.json"
    assert main(["evaluate", "--ref", str(ref), "--gen", str(gen), "--json", str(js),
                 "--threshold", "0.5"]) == 0
    monkeypatch.undo()
    temporary.close()
    assert json.loads(js.read_text())["aggregate"]["posebusters_pass"] > 0.9

    frac, table = posebusters_pass([etkdg_conformers(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"), 2,
                                                     seed=3, num_threads=1)])
    assert table["inchi_convertible"].tolist() == [True, True]
    assert table["internal_energy"].tolist() == [True, True]
    assert frac == 1.0
    assert rdkit.log_handler.stream is not temporary


def test_posebusters_pass_leaves_rdkit_logging_state_as_it_found_it(good_mols, monkeypatch):
    temporary = _closable_stderr()
    monkeypatch.setattr(sys, "stderr", temporary)
    before_stream = rdkit.log_handler.stream
    RDLogger.DisableLog("rdApp.warning")
    try:
        before = rdkit_log_states()
        assert before["rdApp.warning"] is False and before["rdApp.error"] is True
        posebusters_pass(good_mols[1])
        assert rdkit_log_states() == before                  # not a blanket EnableLog("rdApp.*")
        assert rdkit.log_handler.stream is before_stream     # PoseBusters' re-pointing undone
    finally:
        RDLogger.EnableLog("rdApp.warning")


def test_rdkit_logs_disabled_silences_inside_and_repairs_a_closed_handler_stream(capfd):
    rdBase.LogToPythonLogger()                                # RDKit logs go through rdkit.log_handler
    closed = _closable_stderr()
    closed.close()
    saved = rdkit.log_handler.stream
    rdkit.log_handler.stream = closed
    try:
        with rdkit_logs_disabled():
            assert not any(rdkit_log_states().values())
            rdkit.log_handler.setStream(sys.stderr)          # would raise on the closed stream
        assert rdkit.log_handler.stream is not closed
        # the repaired handler writes to the current sys.stderr
        rdBase.LogWarningMsg("gdapp-repaired-handler-check")
        assert "gdapp-repaired-handler-check" in capfd.readouterr().err
    finally:
        rdkit.log_handler.stream = saved
