"""engine.io under garbage: random bytes, truncated and corrupted valid files.

The property: reading never raises anything but ``InputError`` (carrying the file path),
and whatever it returns is a list of well-formed molecules. A bad record inside a
multi-record SDF / SMILES / XYZ file is reported by index while the good ones are kept.
"""
import atexit
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem

from engine.io import READ_FORMATS, InputError, iter_molecules, read_molecules, write_molecules

pytestmark = pytest.mark.timeout(300)  # a hanging RDKit call fails the test instead of CI

DATA = Path(__file__).parent / "data"
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

SMILES = [("CC(=O)O", "acetic-acid"), ("c1ccncc1O", "pyridinol"), ("C[C@@H](C(=O)[O-])[NH3+]", "ala")]
WORKDIR = Path(tempfile.mkdtemp(prefix="gdapp-io-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)


def _embedded():
    mols = []
    for smi, name in SMILES:
        m = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(m, randomSeed=3)
        m.SetProp("_Name", name)
        mols.append(m)
    return mols


def _valid_files():
    """One valid multi-record file per readable format (bytes)."""
    mols = _embedded()
    out = {".smi": ("smiles name\n" + "".join(f"{s} {n}\n" for s, n in SMILES)).encode()}
    for ext in (".sdf", ".pdb", ".xyz"):
        path = WORKDIR / f"seed{ext}"
        write_molecules(path, mols[:2] if ext == ".xyz" else mols)  # xyz: neutral ones
        out[ext] = path.read_bytes()
    out[".mol"] = Chem.MolToMolBlock(mols[0]).encode()
    out[".mol2"] = (DATA / "io_two.mol2").read_bytes()
    return out


VALID = _valid_files()


def _check_read(data: bytes, ext: str):
    """Write ``data`` and read it both ways; only InputError (with the path) may escape."""
    path = WORKDIR / f"case{ext}"
    path.write_bytes(data)
    for skip in (False, True):
        try:
            mols = read_molecules(path, skip_invalid=skip)
        except InputError as e:
            assert e.path == path and str(path) in str(e)
            continue
        assert mols, "read_molecules returned an empty list"
        for m in mols:
            assert isinstance(m, Chem.Mol) and m.GetNumAtoms() > 0
            assert isinstance(m.GetIntProp("input_index"), int)
            assert m.HasProp("_Name")
            for conf in m.GetConformers():
                assert np.isfinite(conf.GetPositions()).all()
    try:
        for index, mol, message in iter_molecules(path):
            assert (mol is None) != (message is None)
            if message is not None:
                assert str(path) in message and f"record {index}" in message
    except InputError as e:
        assert e.path == path


def test_seed_files_are_valid():
    for ext, data in VALID.items():
        path = WORKDIR / f"valid{ext}"
        path.write_bytes(data)
        expected = {".smi": 3, ".sdf": 3, ".pdb": 3, ".xyz": 2, ".mol": 1, ".mol2": 2}[ext]
        assert len(read_molecules(path)) == expected, ext


@pytest.mark.parametrize("ext", READ_FORMATS)
@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_raise_only_input_error(ext, data):
    _check_read(data, ext)


@pytest.mark.parametrize("ext", READ_FORMATS)
@FUZZ
@given(cut=st.floats(0.0, 1.0))
def test_truncated_valid_files_raise_only_input_error(ext, cut):
    data = VALID[ext]
    _check_read(data[: int(cut * len(data))], ext)


@st.composite
def corruptions(draw, data: bytes):
    """Random byte flips and deleted lines applied to ``data``."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(buf) - 1))
        buf[pos] = draw(st.sampled_from(
            [ord(c) for c in "0123456789.-+ eE\nCNOHXx$@#nai"] + [draw(st.integers(1, 255))]))
    lines = bytes(buf).split(b"\n")
    for _ in range(draw(st.integers(0, 3))):
        if len(lines) > 1:
            del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


@pytest.mark.parametrize("ext", READ_FORMATS)
@FUZZ
@given(data=st.data())
def test_corrupted_valid_files_raise_only_input_error(ext, data):
    _check_read(data.draw(corruptions(VALID[ext])), ext)


# --------------------------------------------------------------------------- bad record
def _sdf_records():
    return [Chem.MolToMolBlock(m) + "$$$$\n" for m in _embedded()]


def _bad_sdf(kind, good: str) -> str:
    lines = good.splitlines()
    if kind == 0:    # counts line garbage
        lines[3] = "garbage counts line"
    elif kind == 1:  # unknown element
        lines[4] = lines[4][:31] + "Qq " + lines[4][34:]
    elif kind == 2:  # coordinate not a number
        lines[4] = "    abc.de" + lines[4][10:]
    elif kind == 3:  # five bonds on a carbon: valence error on sanitisation
        n_atoms, n_bonds = int(lines[3][:3]), int(lines[3][3:6])
        extra = [f"  1{j:3d}  1  0" for j in range(2, 7) if j <= n_atoms]
        lines[3] = f"{n_atoms:3d}{n_bonds + len(extra):3d}" + lines[3][6:]
        end = 4 + n_atoms + n_bonds
        lines[end:end] = extra
    else:            # atom block cut short
        lines = lines[:6] + ["M  END", "$$$$"]
    return "\n".join(lines) + "\n"


def _bad_smiles(kind):
    return ["C1CC", "c1cccc1", "[N](C)(C)(C)(C)C", "Xy", "C(C"][kind]


def _xyz_frames():
    mols = [Chem.AddHs(Chem.MolFromSmiles(s)) for s in ("CCO", "c1ccccc1", "CC(=O)O")]
    frames = []
    for name, m in zip(("ethanol", "benzene", "acetic acid"), mols):
        AllChem.EmbedMolecule(m, randomSeed=5)
        rows = [f"{a.GetSymbol()} {x:.6f} {y:.6f} {z:.6f}"
                for a, (x, y, z) in zip(m.GetAtoms(), m.GetConformer().GetPositions())]
        frames.append([str(m.GetNumAtoms()), name] + rows)
    return frames


def _bad_xyz(kind, frame):
    frame = list(frame)
    if kind == 0:
        frame[2] = "Qq 0.0 0.0 0.0"
    elif kind == 1:
        frame[3] = frame[3].split()[0] + " 1.0 two 3.0"
    elif kind == 2:
        frame[3] = frame[3].split()[0] + " nan 0.0 0.0"
    elif kind == 3:
        frame[0] = "three"        # count line destroyed: the reader resynchronises
    else:
        frame[2] = "C 0.0 0.0"    # too few columns
    return frame


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _check_bad_record(path: Path, bad: int, names):
    with pytest.raises(InputError) as info:
        read_molecules(path)
    assert info.value.record == bad and str(path) in str(info.value)
    handler = _Capture()
    logger = logging.getLogger("engine.io")
    logger.addHandler(handler)
    try:
        mols = read_molecules(path, skip_invalid=True)
    finally:
        logger.removeHandler(handler)
    good = [i for i in range(3) if i != bad]
    assert [m.GetProp("_Name") for m in mols] == [names[i] for i in good]
    assert [m.GetIntProp("input_index") for m in mols] == good
    assert len(handler.messages) == 1
    assert f"record {bad}" in handler.messages[0] and str(path) in handler.messages[0]


@FUZZ
@given(bad=st.integers(0, 2), kind=st.integers(0, 4))
def test_bad_sdf_record_is_reported_and_the_others_kept(bad, kind):
    records = _sdf_records()
    records[bad] = _bad_sdf(kind, records[bad])
    path = WORKDIR / "multi.sdf"
    path.write_text("".join(records))
    _check_bad_record(path, bad, [n for _, n in SMILES])


@FUZZ
@given(bad=st.integers(0, 2), kind=st.integers(0, 4),
       name=st.text(st.characters(whitelist_categories=("L", "N", "P")), max_size=20))
def test_bad_smiles_line_is_reported_and_the_others_kept(bad, kind, name):
    lines = [f"{s} {n}" for s, n in SMILES]
    lines[bad] = f"{_bad_smiles(kind)} {name}"
    path = WORKDIR / "multi.smi"
    path.write_text("\n".join(lines) + "\n")
    names = [n for _, n in SMILES]
    names[bad] = name
    _check_bad_record(path, bad, names)


@FUZZ
@given(bad=st.integers(0, 2), kind=st.integers(0, 4))
def test_bad_xyz_frame_is_reported_and_the_others_kept(bad, kind):
    frames = _xyz_frames()
    frames[bad] = _bad_xyz(kind, frames[bad])
    path = WORKDIR / "multi.xyz"
    path.write_text("\n".join("\n".join(f) for f in frames) + "\n")
    _check_bad_record(path, bad, ["ethanol", "benzene", "acetic acid"])
