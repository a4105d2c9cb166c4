"""``python -m engine baseline`` and ``python -m engine evaluate`` end to end."""
import json
import subprocess
import sys

import pytest
from rdkit import Chem

from engine.cli import main

K = 3
SMILES = [("CC(=O)Nc1ccc(O)cc1", "paracetamol"),
          ("C1CC(", "broken"),
          ("CCCCOc1ccccc1C(=O)O", "butoxybenzoic")]


def write_smi(path, rows):
    path.write_text("".join(f"{s} {n}\n" for s, n in rows))
    return path


def records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    """Baseline output of the two valid molecules for two seeds."""
    d = tmp_path_factory.mktemp("baseline")
    smi = write_smi(d / "in.smi", [SMILES[0], SMILES[2]])
    outs = []
    for seed in (1, 2):
        out = d / f"seed{seed}.sdf"
        assert main(["baseline", str(smi), "--out", str(out), "--num-confs", str(K),
                     "--seed", str(seed), "--threads", "1"]) == 0
        outs.append(out)
    return outs


def test_baseline_writes_k_records_per_valid_molecule_and_reports_invalid(tmp_path, capsys):
    smi = write_smi(tmp_path / "mols.smi", SMILES)
    out = tmp_path / "out.sdf"
    code = main(["baseline", str(smi), "--out", str(out), "--num-confs", str(K), "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 3                                    # some failed, the others written
    mols = records(out)
    assert len(mols) == 2 * K
    assert [m.GetIntProp("input_index") for m in mols] == [0] * K + [2] * K
    assert [m.GetProp("_Name") for m in mols] == ["paracetamol"] * K + ["butoxybenzoic"] * K
    # all atoms including hydrogens, and the K conformers of a molecule differ
    assert mols[0].GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(SMILES[0][0])).GetNumAtoms()
    assert any(a.GetAtomicNum() == 1 for a in mols[0].GetAtoms())
    assert abs(mols[0].GetConformer().GetPositions() - mols[1].GetConformer().GetPositions()).max() > 0.01
    assert "molecule 1:" in err and "C1CC(" in err
    assert "molecule 0:" not in err and "molecule 2:" not in err


def test_baseline_exit_codes_all_ok_and_nothing_written(tmp_path, capsys):
    good = write_smi(tmp_path / "good.smi", [SMILES[0]])
    assert main(["baseline", str(good), "--out", str(tmp_path / "a.sdf"), "-k", "1",
                 "--threads", "1"]) == 0
    bad = write_smi(tmp_path / "bad.smi", [SMILES[1]])
    assert main(["baseline", str(bad), "--out", str(tmp_path / "b.sdf"), "-k", "1"]) == 2
    assert main(["baseline", str(tmp_path / "missing.smi"), "--out", str(tmp_path / "c.sdf"),
                 "-k", "1"]) == 2
    err = capsys.readouterr().err
    assert "missing.smi" in err


def test_baseline_reads_sdf_input_and_keeps_order(tmp_path, baseline_runs):
    # feed the first baseline output back in: 2*K records -> 2*K molecules
    out = tmp_path / "again.sdf"
    assert main(["baseline", str(baseline_runs[0]), "--out", str(out), "-k", "2",
                 "--no-mmff", "--threads", "1"]) == 0
    mols = records(out)
    assert [m.GetIntProp("input_index") for m in mols] == [i for i in range(2 * K) for _ in range(2)]
    assert mols[0].GetProp("_Name") == "paracetamol"


def test_evaluate_reference_against_itself_is_perfect(tmp_path, baseline_runs, capsys):
    js = tmp_path / "self.json"
    assert main(["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(baseline_runs[0]),
                 "--json", str(js), "--no-posebusters"]) == 0
    result = json.loads(js.read_text())
    assert result["grouping"] == "input_index"
    assert [m["key"] for m in result["molecules"]] == [0, 1]
    for m in result["molecules"]:
        assert m["cov_r"] == 1.0 and m["cov_p"] == 1.0
        assert m["amr_r"] == pytest.approx(0.0, abs=1e-5)
        assert m["amr_p"] == pytest.approx(0.0, abs=1e-5)
        assert m["n_ref"] == K and m["n_gen"] == K
    assert result["aggregate"]["mean"]["cov_r"] == 1.0
    assert result["aggregate"]["posebusters_pass"] is None
    assert "COV-R" in capsys.readouterr().out


def test_evaluate_two_seeds_gives_sane_numbers_and_posebusters(tmp_path, baseline_runs, capsys):
    js = tmp_path / "seeds.json"
    assert main(["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(baseline_runs[1]),
                 "--json", str(js), "--threshold", "0.5"]) == 0
    result = json.loads(js.read_text())
    assert result["threshold"] == 0.5
    agg = result["aggregate"]
    assert agg["num_molecules"] == 2 and agg["num_gen_conformers"] == 2 * K
    for m in result["molecules"]:
        assert 0.0 <= m["cov_r"] <= 1.0 and 0.0 <= m["cov_p"] <= 1.0
        assert 0.0 <= m["amr_r"] < 3.0 and 0.0 <= m["amr_p"] < 3.0
        assert m["posebusters_pass"] > 0.9
    # the flexible butoxy chain: different seeds give different conformers
    flexible = result["molecules"][1]
    assert flexible["name"] == "butoxybenzoic" and flexible["amr_r"] > 0.05
    for key in ("cov_r", "amr_r", "cov_p", "amr_p"):
        vals = [m[key] for m in result["molecules"]]
        assert agg["mean"][key] == pytest.approx(sum(vals) / 2)
    assert agg["posebusters_pass"] > 0.9
    out = capsys.readouterr().out
    assert "mean" in out and "median" in out and "PoseBusters" in out


def test_evaluate_in_two_processes_matches_one(tmp_path, baseline_runs):
    results = []
    for workers in ("1", "2"):
        js = tmp_path / f"w{workers}.json"
        assert main(["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(baseline_runs[1]),
                     "--json", str(js), "--no-posebusters", "--workers", workers]) == 0
        results.append(json.loads(js.read_text()))
    for a, b in zip(results[0]["molecules"], results[1]["molecules"]):
        assert a["key"] == b["key"]
        for key in ("cov_r", "amr_r", "cov_p", "amr_p"):
            assert a[key] == pytest.approx(b[key], abs=1e-9)


def test_evaluate_reports_unmatched_molecules(tmp_path, baseline_runs, capsys):
    gen_only_first = tmp_path / "partial.sdf"
    w = Chem.SDWriter(str(gen_only_first))
    for m in records(baseline_runs[1]):
        if m.GetIntProp("input_index") == 0:
            w.write(m)
    w.close()
    js = tmp_path / "partial.json"
    assert main(["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(gen_only_first),
                 "--json", str(js), "--no-posebusters"]) == 0
    result = json.loads(js.read_text())
    assert [m["key"] for m in result["molecules"]] == [0]
    assert result["only_in_ref"] == [1]
    assert "molecule 1: in the reference only" in capsys.readouterr().err


def test_evaluate_groups_by_smiles_without_input_index(tmp_path, baseline_runs):
    stripped = []
    for i, src in enumerate(baseline_runs):
        dst = tmp_path / f"noidx{i}.sdf"
        w = Chem.SDWriter(str(dst))
        for m in records(src):
            m.ClearProp("input_index")
            w.write(m)
        w.close()
        stripped.append(dst)
    js = tmp_path / "smiles.json"
    assert main(["evaluate", "--ref", str(stripped[0]), "--gen", str(stripped[1]),
                 "--json", str(js), "--no-posebusters"]) == 0
    result = json.loads(js.read_text())
    assert result["grouping"] == "smiles"
    assert sorted(m["key"] for m in result["molecules"]) == sorted(
        [Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[0][0])),
         Chem.MolToSmiles(Chem.MolFromSmiles(SMILES[2][0]))])


def test_evaluate_missing_file_is_a_usage_error(tmp_path, baseline_runs, capsys):
    assert main(["evaluate", "--ref", str(tmp_path / "nope.sdf"), "--gen",
                 str(baseline_runs[0]), "--no-posebusters"]) == 2
    assert "nope.sdf" in capsys.readouterr().err


def test_help_documents_exit_codes():
    for cmd in ("baseline", "evaluate"):
        out = subprocess.run([sys.executable, "-m", "engine", cmd, "--help"],
                             capture_output=True, text=True, check=True).stdout
        assert "exit codes" in out
    out = subprocess.run([sys.executable, "-m", "engine", "baseline", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "input_index" in out and "--num-confs" in out


def test_evaluate_reports_a_molecule_whose_records_disagree(tmp_path, baseline_runs, capsys):
    gen = tmp_path / "foreign.sdf"
    w = Chem.SDWriter(str(gen))
    for m in records(baseline_runs[1]):
        w.write(m)
    intruder = records(baseline_runs[1])[0]            # paracetamol labelled as molecule 1
    intruder.SetIntProp("input_index", 1)
    w.write(intruder)
    w.close()
    js = tmp_path / "foreign.json"
    assert main(["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(gen),
                 "--json", str(js), "--no-posebusters"]) == 0
    result = json.loads(js.read_text())
    assert [m["key"] for m in result["molecules"]] == [0]
    assert [e["key"] for e in result["errors"]] == [1]
    assert "molecule 1:" in capsys.readouterr().err


def test_commands_report_an_unwritable_output_the_same_way(tmp_path, baseline_runs, capsys):
    smi = write_smi(tmp_path / "in.smi", [SMILES[0]])
    missing = tmp_path / "no such folder"
    runs = [
        (missing / "b.sdf", ["baseline", str(smi), "--out", str(missing / "b.sdf"), "-k", "1", "--threads", "1"]),
        (missing / "m.sdf", ["merge", str(missing / "m.sdf"), str(baseline_runs[0])]),
        (missing / "e.json", ["evaluate", "--ref", str(baseline_runs[0]), "--gen", str(baseline_runs[1]),
                              "--no-posebusters", "--json", str(missing / "e.json")]),
    ]
    for path, argv in runs:
        assert main(argv) == 2, argv[0]
        err = capsys.readouterr().err
        assert f"error: cannot write {path}: No such file or directory" in err, (argv[0], err)
        assert "Traceback" not in err
    assert not missing.exists()


def test_a_full_disk_leaves_the_output_as_it_was(tmp_path, capsys, monkeypatch):
    import errno

    from engine.commands import _output

    class FullDisk:
        """A file that takes the first write and then reports a full disk."""

        def __init__(self, fh):
            self.fh, self.writes = fh, 0

        def write(self, data):
            self.writes += 1
            if self.writes > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def flush(self):
            self.fh.flush()

        def close(self):
            self.fh.close()

    monkeypatch.setattr(_output, "open", lambda *a, **k: FullDisk(open(*a, **k)), raising=False)
    smi = write_smi(tmp_path / "in.smi", [SMILES[0], SMILES[2]])
    out = tmp_path / "out.sdf"
    out.write_text("an earlier run\n")
    assert main(["baseline", str(smi), "--out", str(out), "-k", "1", "--threads", "1", "--quiet"]) == 2
    assert f"error: cannot write {out}: No space left on device" in capsys.readouterr().err
    assert out.read_text() == "an earlier run\n"                       # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.smi", "out.sdf"]   # no temporary file left
