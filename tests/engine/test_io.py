"""engine.io: round trips per format, SMILES details, error cases, writers, trajectories."""
import logging
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdCIPLabeler

from engine.errors import InputError as ErrorsInputError
from engine.io import (
    READ_FORMATS,
    WRITE_FORMATS,
    InputError,
    iter_molecules,
    read_molecules,
    write_molecules,
    write_trajectory_pdb,
    write_trajectory_xyz,
)

DATA = Path(__file__).parent / "data"

# name, SMILES, expected CIP labels {atom index: label} and bond labels {(i, j): label}
L_ALANINE_ZWITTERION = ("L-alanine", "C[C@@H](C(=O)[O-])[NH3+]", {1: "S"}, {})
L_ALANINE = ("L-alanine-neutral", "C[C@@H](C(=O)O)N", {1: "S"}, {})
E_CROTONIC = ("(E)-but-2-enoic acid", "C/C=C/C(=O)O", {}, {(1, 2): "E"})
Z_CROTONIC = ("(Z)-but-2-enoic acid", "C/C=C\\C(=O)O", {}, {(1, 2): "Z"})
ACETATE = ("acetate", "CC(=O)[O-]", {}, {})
PYRIDINOL = ("3-hydroxypyridine", "Oc1cccnc1", {}, {})
TOLUENE = ("toluene", "Cc1ccccc1", {}, {})
R_LACTIC = ("(R)-lactic acid", "C[C@@H](O)C(=O)O", {1: "R"}, {})

ALL = [L_ALANINE_ZWITTERION, E_CROTONIC, Z_CROTONIC, ACETATE, PYRIDINOL, TOLUENE, R_LACTIC]
NEUTRAL = [L_ALANINE, E_CROTONIC, Z_CROTONIC, PYRIDINOL, TOLUENE, R_LACTIC]


def embed(case, n_confs=2, seed=11):
    name, smiles, _, _ = case
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    ids = AllChem.EmbedMultipleConfs(mol, n_confs, randomSeed=seed)
    assert len(ids) == n_confs
    mol.SetProp("_Name", name)
    return mol


def cip_labels(mol):
    """({atom: 'R'/'S'}, {(i, j): 'E'/'Z'}) from the new CIP labeler."""
    mol = Chem.Mol(mol)
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    rdCIPLabeler.AssignCIPLabels(mol)
    atoms = {a.GetIdx(): a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")}
    bonds = {}
    for b in mol.GetBonds():
        if b.HasProp("_CIPCode") and b.GetProp("_CIPCode") in ("E", "Z"):
            i, j = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
            bonds[(i, j)] = b.GetProp("_CIPCode")
    return atoms, bonds


def graph(mol):
    """Elements, formal charges and bonds (with orders), in atom order."""
    atoms = [(a.GetSymbol(), a.GetFormalCharge()) for a in mol.GetAtoms()]
    bonds = sorted(
        (min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
         str(b.GetBondType()))
        for b in mol.GetBonds()
    )
    return atoms, bonds


def coords(mol, conf_index=0):
    return mol.GetConformers()[conf_index].GetPositions()


def assert_stereo(mol, case):
    atoms, bonds = cip_labels(mol)
    assert atoms == case[2]
    assert bonds == case[3]


def test_input_error_is_the_engine_error_and_a_value_error():
    assert InputError is ErrorsInputError
    assert issubclass(InputError, ValueError)
    assert READ_FORMATS == (".smi", ".sdf", ".mol", ".mol2", ".pdb", ".xyz")
    assert WRITE_FORMATS == (".sdf", ".xyz", ".pdb")


def test_reference_molecules_have_the_expected_stereo():
    """The test molecules themselves carry the labels the round trips check."""
    for case in ALL + [L_ALANINE]:
        assert_stereo(embed(case), case)


# --------------------------------------------------------------------------- SDF
@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_sdf_roundtrip_keeps_graph_charges_stereo_coordinates_and_properties(tmp_path, case):
    mol = embed(case)
    mol.SetProp("comment", "made by test")
    mol.SetIntProp("answer", 42)
    path = tmp_path / "out.sdf"
    write_molecules(path, [mol])
    back = read_molecules(path)
    assert len(back) == 2  # one record per conformer
    for k, rec in enumerate(back):
        assert graph(rec) == graph(mol)
        np.testing.assert_allclose(coords(rec), coords(mol, k), atol=1e-4)
        assert_stereo(rec, case)
        assert rec.GetProp("_Name") == case[0]
        assert rec.GetProp("comment") == "made by test"
        assert int(rec.GetProp("answer")) == 42
        assert rec.GetIntProp("input_index") == k


def test_sdf_keeps_an_existing_input_index_and_mol_extension_reads_the_same(tmp_path):
    mols = []
    for i, case in enumerate([E_CROTONIC, TOLUENE]):
        m = embed(case, n_confs=1)
        m.SetIntProp("input_index", 7 + i)
        mols.append(m)
    write_molecules(tmp_path / "a.sdf", mols)
    back = read_molecules(tmp_path / "a.sdf")
    assert [m.GetIntProp("input_index") for m in back] == [7, 8]
    assert [m.GetIntProp("_record_index") for m in back] == [0, 1]
    (tmp_path / "b.mol").write_text(Chem.MolToMolBlock(mols[1]))
    (single,) = read_molecules(tmp_path / "b.mol")
    assert graph(single) == graph(mols[1])
    assert single.GetIntProp("input_index") == 0


# --------------------------------------------------------------------------- PDB
@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_pdb_roundtrip_models_become_conformers(tmp_path, case):
    mol = embed(case, n_confs=3)
    path = tmp_path / "out.pdb"
    write_molecules(path, mol)
    assert path.read_text().count("MODEL ") == 3
    (back,) = read_molecules(path)
    assert back.GetNumConformers() == 3
    assert back.GetProp("_Name") == case[0]
    # PDB carries elements, charges (cols 79-80) and bond orders (repeated CONECT)
    assert graph(back) == graph(mol)
    for k in range(3):  # coordinates are written with 3 decimals
        np.testing.assert_allclose(coords(back, k), coords(mol, k), atol=5.1e-4)
    assert_stereo(back, case)


def test_pdb_several_molecules_are_sequential_models(tmp_path):
    mols = [embed(L_ALANINE_ZWITTERION, 2), embed(PYRIDINOL, 1), embed(ACETATE, 2)]
    path = tmp_path / "many.pdb"
    write_molecules(path, mols)
    text = path.read_text()
    assert [line.split()[1] for line in text.splitlines() if line.startswith("MODEL")] == \
        ["1", "2", "3", "4", "5"]
    back = read_molecules(path)
    assert [m.GetNumConformers() for m in back] == [2, 1, 2]
    assert [m.GetProp("_Name") for m in back] == ["L-alanine", "3-hydroxypyridine", "acetate"]
    assert [m.GetIntProp("input_index") for m in back] == [0, 2, 3]  # first model of each
    for m, ref in zip(back, mols):
        assert graph(m) == graph(ref)


def test_pdb_conect_after_all_models_applies_to_each_model(tmp_path):
    """The usual layout of other tools: MODEL..ENDMDL blocks, then one CONECT block."""
    mol = embed(E_CROTONIC, n_confs=2)
    write_molecules(tmp_path / "ours.pdb", mol)
    lines = (tmp_path / "ours.pdb").read_text().splitlines()
    conect = [ln for ln in lines if ln.startswith("CONECT")]
    body = [ln for ln in lines if not ln.startswith(("CONECT", "END"))or ln.startswith("ENDMDL")]
    n_conect_per_model = len(conect) // 2
    text = "\n".join(body + conect[:n_conect_per_model] + ["END"]) + "\n"
    (tmp_path / "theirs.pdb").write_text(text)
    (back,) = read_molecules(tmp_path / "theirs.pdb")
    assert back.GetNumConformers() == 2
    assert graph(back) == graph(mol)
    assert_stereo(back, E_CROTONIC)


# --------------------------------------------------------------------------- XYZ
@pytest.mark.parametrize("case", NEUTRAL, ids=lambda c: c[0])
def test_xyz_roundtrip_perceives_the_same_bonds_and_stereo(tmp_path, case):
    mol = embed(case, n_confs=2)
    path = tmp_path / "out.xyz"
    write_molecules(path, mol)
    (back,) = read_molecules(path)
    assert back.GetNumConformers() == 2
    assert back.GetProp("_Name") == case[0]
    assert graph(back) == graph(mol)
    for k in range(2):
        np.testing.assert_allclose(coords(back, k), coords(mol, k), atol=1e-4)
    assert_stereo(back, case)


def test_xyz_zwitterion_recovered_with_total_charge_zero(tmp_path):
    mol = embed(L_ALANINE_ZWITTERION, n_confs=1)
    write_molecules(tmp_path / "z.xyz", mol)
    (back,) = read_molecules(tmp_path / "z.xyz")
    assert graph(back) == graph(mol)
    assert_stereo(back, L_ALANINE_ZWITTERION)


def test_xyz_charge_option_is_needed_for_an_anion(tmp_path):
    mol = embed(ACETATE, n_confs=1)
    path = tmp_path / "acetate.xyz"
    write_molecules(path, mol)
    with pytest.raises(InputError) as info:
        read_molecules(path)
    assert str(path) in str(info.value) and "record 0" in str(info.value)
    assert "charge 0" in str(info.value)
    (back,) = read_molecules(path, charge=-1)
    assert sum(a.GetFormalCharge() for a in back.GetAtoms()) == -1
    assert Chem.MolToSmiles(Chem.RemoveHs(back)) == Chem.MolToSmiles(Chem.MolFromSmiles("CC(=O)[O-]"))


def test_xyz_frames_merge_only_for_identical_atoms(tmp_path):
    a = embed(E_CROTONIC, n_confs=2)
    b = embed(TOLUENE, n_confs=1)
    path = tmp_path / "mix.xyz"
    write_molecules(path, [a, b])
    back = read_molecules(path)
    assert [m.GetNumConformers() for m in back] == [2, 1]
    assert [m.GetProp("_Name") for m in back] == ["(E)-but-2-enoic acid", "toluene"]
    assert [m.GetIntProp("input_index") for m in back] == [0, 2]
    lines = path.read_text().splitlines()
    assert lines[1] == "(E)-but-2-enoic acid conformer=0"
    assert lines[int(lines[0]) + 3] == "(E)-but-2-enoic acid conformer=1"


def test_xyz_accepts_atomic_numbers_and_lowercase_symbols(tmp_path):
    path = tmp_path / "w.xyz"
    path.write_text("3\nwater\n8 0.0 0.0 0.0\nh 0.9572 0.0 0.0\nH1 -0.2400 0.9266 0.0\n")
    (m,) = read_molecules(path)
    assert [a.GetSymbol() for a in m.GetAtoms()] == ["O", "H", "H"]
    assert m.GetNumBonds() == 2
    assert m.GetProp("_Name") == "water"


# --------------------------------------------------------------------------- MOL2
def _sybyl(atom):
    """SYBYL atom type for the small set of test molecules (not a general typer)."""
    sym, hyb, H = atom.GetSymbol(), atom.GetHybridization(), Chem.HybridizationType
    if sym == "H":
        return "H"
    if atom.GetIsAromatic():
        return f"{sym}.ar"
    if sym == "O":
        if atom.GetDegree() == 1:
            c = atom.GetNeighbors()[0]
            terminal_o = [n for n in c.GetNeighbors() if n.GetSymbol() == "O" and n.GetDegree() == 1]
            if len(terminal_o) == 2 and any(n.GetFormalCharge() == -1 for n in terminal_o):
                return "O.co2"
            if hyb == H.SP2:
                return "O.2"
        return "O.3"
    if sym == "N":
        if atom.GetFormalCharge() == 1 and hyb == H.SP3:
            return "N.4"
        return {H.SP: "N.1", H.SP2: "N.2"}.get(hyb, "N.3")
    if sym == "C":
        return {H.SP: "C.1", H.SP2: "C.2"}.get(hyb, "C.3")
    return sym


def mol2_text(mol, conf_index=0):
    """Tripos MOL2 text for ``mol`` (RDKit cannot write MOL2)."""
    conf = mol.GetConformers()[conf_index]
    name = mol.GetProp("_Name")
    out = ["@<TRIPOS>MOLECULE", name, f"{mol.GetNumAtoms()} {mol.GetNumBonds()} 1 0 0", "SMALL",
           "USER_CHARGES", "", "@<TRIPOS>ATOM"]
    for a in mol.GetAtoms():
        p = conf.GetAtomPosition(a.GetIdx())
        out.append(f"{a.GetIdx() + 1:7d} {a.GetSymbol()}{a.GetIdx() + 1:<6d} {p.x:10.4f} "
                   f"{p.y:10.4f} {p.z:10.4f} {_sybyl(a):<6s} 1 UNL1 {a.GetFormalCharge():8.4f}")
    out.append("@<TRIPOS>BOND")
    order = {Chem.BondType.SINGLE: "1", Chem.BondType.DOUBLE: "2", Chem.BondType.TRIPLE: "3",
             Chem.BondType.AROMATIC: "ar"}
    for k, b in enumerate(mol.GetBonds()):
        out.append(f"{k + 1:6d} {b.GetBeginAtomIdx() + 1:5d} {b.GetEndAtomIdx() + 1:5d} "
                   f"{order[b.GetBondType()]}")
    out += ["@<TRIPOS>SUBSTRUCTURE", "     1 UNL1        1 GROUP             0 ****  ****    0", ""]
    return "\n".join(out)


@pytest.mark.parametrize("case", ALL, ids=lambda c: c[0])
def test_mol2_read_keeps_graph_charges_coordinates_and_stereo(tmp_path, case):
    mol = embed(case, n_confs=1)
    path = tmp_path / "one.mol2"
    path.write_text(mol2_text(mol))
    (back,) = read_molecules(path)
    assert back.GetProp("_Name") == case[0]
    # MOL2 types both carboxylate O as O.co2, so which O carries the -1 is not recorded:
    # compare elements, connectivity and the (resonance-invariant) canonical SMILES.
    assert [a.GetSymbol() for a in back.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert [b[:2] for b in graph(back)[1]] == [b[:2] for b in graph(mol)[1]]
    assert Chem.MolToSmiles(back) == Chem.MolToSmiles(mol)
    np.testing.assert_allclose(coords(back), coords(mol), atol=1e-4)
    assert_stereo(back, case)


def test_mol2_multi_record_fixture():
    """tests/engine/data/io_two.mol2 was written by ``mol2_text`` (L-alanine, E-crotonic)."""
    back = read_molecules(DATA / "io_two.mol2")
    assert [m.GetProp("_Name") for m in back] == ["L-alanine", "(E)-but-2-enoic acid"]
    assert [m.GetIntProp("input_index") for m in back] == [0, 1]
    assert Chem.MolToSmiles(Chem.RemoveHs(back[0])) == Chem.CanonSmiles(L_ALANINE_ZWITTERION[1])
    assert_stereo(back[0], L_ALANINE_ZWITTERION)
    assert_stereo(back[1], E_CROTONIC)


# --------------------------------------------------------------------------- SMILES
def test_smiles_file_names_header_comments_no_conformer_no_hydrogens(tmp_path):
    path = tmp_path / "in.smi"
    path.write_text("SMILES name\n# a comment\n\nCCO ethanol\nC[C@@H](C(=O)[O-])[NH3+]\t L-alanine zwitterion \n"
                    "c1ccccc1\n")
    mols = read_molecules(path)
    assert [m.GetProp("_Name") for m in mols] == ["ethanol", "L-alanine zwitterion", ""]
    assert [m.GetIntProp("input_index") for m in mols] == [0, 1, 2]
    assert all(m.GetNumConformers() == 0 for m in mols)
    assert [m.GetNumAtoms() for m in mols] == [3, 6, 6]  # heavy atoms only
    assert cip_labels(mols[1])[0] == {1: "S"}
    assert [a.GetFormalCharge() for a in mols[1].GetAtoms() if a.GetFormalCharge()] == [-1, 1]


def test_smiles_bad_line_raises_with_line_and_rdkit_reason_and_prints_nothing(tmp_path, capfd):
    path = tmp_path / "bad.smi"
    path.write_text("CCO a\nC1CC broken\nc1ccccc1 b\n")
    with pytest.raises(InputError) as info:
        read_molecules(path)
    msg = str(info.value)
    assert str(path) in msg and "record 1" in msg and "line 2" in msg
    assert "unclosed ring" in msg  # RDKit's own reason, captured from its log
    assert info.value.record == 1 and info.value.line == 2
    out, err = capfd.readouterr()
    assert "unclosed ring" not in err and "unclosed ring" not in out


def test_skip_invalid_logs_a_warning_per_bad_record_and_returns_the_rest(tmp_path, caplog):
    path = tmp_path / "bad.smi"
    path.write_text("CCO a\nC1CC broken\nc1ccccc1 b\nXyz nonsense\nCN c\n")
    with caplog.at_level(logging.WARNING, logger="engine.io"):
        mols = read_molecules(path, skip_invalid=True)
    assert [m.GetProp("_Name") for m in mols] == ["a", "b", "c"]
    assert [m.GetIntProp("input_index") for m in mols] == [0, 2, 4]
    warnings = [r.getMessage() for r in caplog.records if r.name == "engine.io"]
    assert len(warnings) == 2
    assert "record 1, line 2" in warnings[0] and "record 3, line 4" in warnings[1]


def test_iter_molecules_reports_each_record_in_order(tmp_path):
    path = tmp_path / "mixed.smi"
    path.write_text("CCO a\nC(C broken\nCN c\n")
    items = list(iter_molecules(path))
    assert [i for i, _, _ in items] == [0, 1, 2]
    assert items[0][1].GetProp("_Name") == "a" and items[0][2] is None
    assert items[1][1] is None and "record 1" in items[1][2] and str(path) in items[1][2]
    assert items[2][1].GetProp("_Name") == "c" and items[2][2] is None


# --------------------------------------------------------------------------- file errors
def test_missing_file_is_an_input_error_and_value_error(tmp_path):
    path = tmp_path / "nope.sdf"
    with pytest.raises(ValueError) as info:
        read_molecules(path)
    assert isinstance(info.value, InputError)
    assert str(path) in str(info.value) and "not found" in str(info.value)
    with pytest.raises(InputError):
        iter_molecules(path)  # raised before iterating


def test_unknown_extension_lists_supported_formats(tmp_path):
    path = tmp_path / "x.cif"
    path.write_text("data_x\n")
    with pytest.raises(InputError) as info:
        read_molecules(path)
    for ext in READ_FORMATS:
        assert ext in str(info.value)
    with pytest.raises(InputError) as info:
        write_molecules(tmp_path / "x.mol2", [embed(TOLUENE, 1)])
    assert ".sdf .xyz .pdb" in str(info.value)


@pytest.mark.parametrize("ext", READ_FORMATS)
def test_empty_file_has_no_molecules(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_text("\n\n   \n")
    with pytest.raises(InputError, match="no molecules"):
        read_molecules(path)
    with pytest.raises(InputError, match="no molecules"):
        list(iter_molecules(path))


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "bin.sdf"
    path.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(InputError, match="not a text file"):
        read_molecules(path)


def _nan_file(tmp_path, ext):
    mol = embed(E_CROTONIC, n_confs=1)
    path = tmp_path / f"good{ext}"
    if ext == ".mol2":
        path.write_text(mol2_text(mol))
    else:
        write_molecules(path, mol)
    lines = path.read_text().splitlines()
    # put a NaN into the x coordinate of the first carbon
    for k, line in enumerate(lines):
        if ext == ".sdf" and line[31:33].strip() == "C":
            lines[k] = "       nan" + line[10:]
            break
        if ext == ".pdb" and line.startswith("HETATM"):
            lines[k] = line[:30] + "     nan" + line[38:]
            break
        if ext == ".xyz" and line.startswith("C "):
            lines[k] = "C nan 0.0 0.0"
            break
        if ext == ".mol2" and " C1 " in line:
            parts = line.split()
            parts[2] = "nan"
            lines[k] = " ".join(parts)
            break
    else:
        raise AssertionError("no line to corrupt")
    bad = tmp_path / f"bad{ext}"
    bad.write_text("\n".join(lines) + "\n")
    return bad


@pytest.mark.parametrize("ext", [".sdf", ".pdb", ".xyz", ".mol2"])
def test_nan_coordinates_are_an_input_error_naming_the_record(tmp_path, ext):
    bad = _nan_file(tmp_path, ext)
    with pytest.raises(InputError) as info:
        read_molecules(bad)
    assert str(bad) in str(info.value) and "record 0" in str(info.value)


def test_nan_in_xyz_names_line_and_reason(tmp_path):
    bad = _nan_file(tmp_path, ".xyz")
    with pytest.raises(InputError, match=r"record 0, line 3: invalid XYZ frame: non-finite \(NaN or inf\) coordinates"):
        read_molecules(bad)


# --------------------------------------------------------------------------- writers
@pytest.mark.parametrize("ext", WRITE_FORMATS)
def test_writer_rejects_molecule_without_conformer_naming_it(tmp_path, ext):
    good = embed(TOLUENE, 1)
    flat = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    flat.SetProp("_Name", "ethanol")
    path = tmp_path / f"out{ext}"
    with pytest.raises(InputError) as info:
        write_molecules(path, [good, flat])
    assert "molecule 1" in str(info.value) and "ethanol" in str(info.value)
    assert "no conformer" in str(info.value)
    assert not path.exists()  # nothing half-written


@pytest.mark.parametrize("ext", WRITE_FORMATS)
def test_writer_rejects_nan_coordinates(tmp_path, ext):
    mol = embed(TOLUENE, 1)
    mol.GetConformer().SetAtomPosition(3, (float("nan"), 0.0, 0.0))
    with pytest.raises(InputError, match="non-finite"):
        write_molecules(tmp_path / f"out{ext}", mol)


@pytest.mark.parametrize("ext", WRITE_FORMATS)
def test_every_conformer_of_every_molecule_is_written(tmp_path, ext):
    mols = [embed(E_CROTONIC, 3), embed(PYRIDINOL, 2)]
    path = tmp_path / f"all{ext}"
    write_molecules(path, mols)
    back = read_molecules(path)
    got = np.concatenate([np.stack([c.GetPositions() for c in m.GetConformers()]).reshape(-1, 3)
                          for m in back])
    want = np.concatenate([np.stack([c.GetPositions() for c in m.GetConformers()]).reshape(-1, 3)
                           for m in mols])
    assert got.shape == want.shape == (3 * 12 + 2 * 12, 3)  # C4H6O2 x3, C5H5NO x2
    np.testing.assert_allclose(got, want, atol=5.1e-4)


def test_trajectory_xyz_writes_frames_with_comments(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(4, 3, 3))
    path = tmp_path / "traj.xyz"
    write_trajectory_xyz(path, ["O", 1, "H"], frames, comments=[f"t={t}" for t in range(4)])
    lines = path.read_text().splitlines()
    assert len(lines) == 4 * 5
    assert lines[1] == "t=0" and lines[16] == "t=3"
    assert lines[2].split()[0] == "O" and lines[3].split()[0] == "H"
    got = np.array([[float(v) for v in lines[5 * t + 2 + i].split()[1:]] for t in range(4)
                    for i in range(3)]).reshape(4, 3, 3)
    np.testing.assert_allclose(got, frames, atol=1e-7)
    with pytest.raises(InputError, match="shape"):
        write_trajectory_xyz(path, ["O", "H", "H"], np.zeros((2, 3, 2)))
    with pytest.raises(InputError, match="2 symbols"):
        write_trajectory_xyz(path, ["O", "H"], frames)


def test_trajectory_pdb_is_one_model_per_frame(tmp_path):
    mol = embed(E_CROTONIC, 1)
    base = coords(mol)
    frames = np.stack([base + 0.1 * t for t in range(5)])
    path = tmp_path / "traj.pdb"
    write_trajectory_pdb(path, mol, frames)
    (back,) = read_molecules(path)
    assert back.GetNumConformers() == 5
    assert graph(back) == graph(mol)
    for t in range(5):
        np.testing.assert_allclose(coords(back, t), frames[t], atol=5.1e-4)
    with pytest.raises(InputError, match="atoms"):
        write_trajectory_pdb(path, mol, frames[:, :5])
    bad = frames.copy()
    bad[2, 0, 0] = np.inf
    with pytest.raises(InputError, match="frame 2"):
        write_trajectory_pdb(path, mol, bad)


def test_sdf_bad_record_names_record_and_file_line(tmp_path):
    mols = [embed(E_CROTONIC, 1), embed(TOLUENE, 1), embed(PYRIDINOL, 1)]
    path = tmp_path / "three.sdf"
    write_molecules(path, mols)
    lines = path.read_text().splitlines()
    start = [0] + [k + 1 for k, ln in enumerate(lines) if ln == "$$$$"][:-1]
    bad_line = start[1] + 5  # first atom line of record 1 (1-based: start + 5)
    lines[bad_line - 1] = "    0.0abc" + lines[bad_line - 1][10:]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_molecules(path)
    msg = str(info.value)
    assert f"record 1, line {start[1] + 1}" in msg
    assert f"Cannot process coordinates on line {bad_line} of the file" in msg
    good = read_molecules(path, skip_invalid=True)
    assert [m.GetProp("_Name") for m in good] == [E_CROTONIC[0], PYRIDINOL[0]]


def test_smiles_atom_count_matches_rdkit_on_real_smiles():
    """The size guard counts atoms without parsing; it must agree with RDKit's heavy-atom
    count (bracket atoms, two-letter halogens, aromatic atoms, charges, isotopes)."""
    from engine.data.sources import SOURCES, read_source
    from engine.io.readers import smiles_atom_count

    checked = 0
    for source in SOURCES:
        for _, smi in read_source(source)[:400]:
            mol = Chem.MolFromSmiles(smi)
            if mol is None:
                continue
            assert smiles_atom_count(smi) == mol.GetNumAtoms(), smi
            checked += 1
    assert checked > 1000


def test_oversized_smiles_is_refused_before_parsing_and_others_kept(tmp_path):
    from engine.io.readers import SMILES_MAX_ATOMS

    big = "C1" + "C" * SMILES_MAX_ATOMS + "C1"
    path = tmp_path / "big.smi"
    path.write_text(f"CCO ethanol\n{big} huge\nc1ccccc1 benzene\n")
    mols = read_molecules(path, skip_invalid=True)
    assert [m.GetProp("_Name") for m in mols] == ["ethanol", "benzene"]
    with pytest.raises(InputError, match=r"line 2: SMILES has 2,002 atoms .*; at most 2,000 "):
        read_molecules(path)
    from engine import api
    with pytest.raises(InputError, match="at most 2,000 per SMILES"):
        api.structure_from_smiles(big)
    # a name after the SMILES does not count towards the limit
    name = "x" * 10 + " " + "C" * 2000
    assert api.structure_from_smiles("CCO " + name).n == 9
