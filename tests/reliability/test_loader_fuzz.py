"""Loader fuzzing beyond tests/engine/test_io_fuzz.py: format-aware generators for every
reader, many more inputs, and a time bound on every single read.

tests/engine/test_io_fuzz.py feeds random bytes and truncated/corrupted copies of a few
valid files. Here each reader gets three generators:

* ``records``: files assembled from *plausible* records of that format whose fields are
  drawn from edge cases (huge/negative counts, out-of-range bond indices, NaN/inf/1e308
  coordinates, unknown elements, deep SMILES nesting, overlapping atoms, dense atom
  clusters for XYZ bond perception, MODEL/ENDMDL imbalance, V3000 blocks, ...);
* ``spliced``: valid multi-record files from real molecules (RDKit's NCI set) with lines
  duplicated, dropped, swapped, cut or copied in from other formats;
* ``text``: random text over the format's own alphabet (digits, element symbols,
  keywords, separators).

Property for every input: ``read_molecules`` (both ``skip_invalid`` modes) and
``iter_molecules`` either return well-formed molecules or raise ``InputError`` naming the
file; nothing else escapes; every read finishes within ``FUZZ_READ_LIMIT_S`` seconds
(a read past ``FUZZ_HANG_S`` dumps all stacks via faulthandler and the pytest-timeout of
the module ends the run, so a hang cannot pass silently).

Size: ``FUZZ_EXAMPLES`` inputs per (reader, generator) pair; the default (25) is the CI
subset (6 readers x 3 generators x 25 = 450 inputs, well under a minute).
``FUZZ_EXAMPLES=600`` gives 10,800 inputs (the recorded big run, docs/reliability.md).
"""
from __future__ import annotations

import atexit
import faulthandler
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem, RDConfig
from rdkit.Chem import AllChem
from reliability_support import env_int, record

from engine.io import READ_FORMATS, InputError, iter_molecules, read_molecules

N_EXAMPLES = env_int("FUZZ_EXAMPLES", 25)
READ_LIMIT_S = float(env_int("FUZZ_READ_LIMIT_S", 10))
HANG_S = float(env_int("FUZZ_HANG_S", 60))

pytestmark = pytest.mark.timeout(max(600, N_EXAMPLES * 10), method="thread")

FUZZ = settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
WORKDIR = Path(tempfile.mkdtemp(prefix="gdapp-reliability-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)

ELEMENTS = ["C", "N", "O", "H", "S", "P", "F", "Cl", "Br", "I", "B", "Si", "Se", "Na", "Fe",
            "Xx", "Q", "D", "*", "c", "n", "CL", "Zz", "0", "6", "118", "119", ""]
NUMBERS = ["0", "1", "-1", "0.0", "1.5", "-1.54", "1e308", "-1e308", "1e-320", "nan", "NaN",
           "inf", "-inf", "1e5", "99999", "2147483648", "-0", "1.2.3", "", "*******", "1,5",
           "0x10", "١"]
COUNTS = ["0", "1", "2", "3", "5", "999", "99999", "-1", "-5", "2147483648", "1e3", "", "abc"]


def _nci_smiles(limit=400):
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out = []
    for line in path.read_text().splitlines()[:limit]:
        parts = line.split()
        if parts and Chem.MolFromSmiles(parts[0]) is not None:
            out.append(parts[0])
    return out


POOL = _nci_smiles()
SMILES_ALPHABET = sorted(set("".join(POOL[:100])) | set("%@/\\.+-#$:*[]()=0123456789"))


def _embedded_pool(n=6):
    mols = []
    for i, smi in enumerate(POOL[:40]):
        m = Chem.AddHs(Chem.MolFromSmiles(smi))
        if m.GetNumAtoms() > 40 or AllChem.EmbedMolecule(m, randomSeed=i) != 0:
            continue
        m.SetProp("_Name", f"nci-{i}")
        if Chem.MolFromMol2Block(_mol2_block(m), removeHs=False) is None:
            continue                    # keep molecules the simple MOL2 typing describes
        mols.append(m)
        if len(mols) == n:
            break
    return mols


def _valid_text(ext: str, mols) -> str:
    """A valid multi-record file of ``mols`` in format ``ext``."""
    if ext == ".smi":
        return "".join(f"{Chem.MolToSmiles(Chem.RemoveHs(m))} {m.GetProp('_Name')}\n" for m in mols)
    if ext in (".sdf", ".mol"):
        return "".join(Chem.MolToMolBlock(m) + "$$$$\n" for m in mols)
    if ext == ".pdb":
        return "".join(f"MODEL     {i + 1:>4}\n" + Chem.MolToPDBBlock(m).replace("END\n", "") + "ENDMDL\n"
                       for i, m in enumerate(mols)) + "END\n"
    if ext == ".xyz":
        return "".join(Chem.MolToXYZBlock(m) for m in mols)
    return "".join(_mol2_block(m) for m in mols)


def _mol2_block(m) -> str:
    m = Chem.Mol(m)
    Chem.Kekulize(m, clearAromaticFlags=True)
    conf = m.GetConformer()
    atoms = []
    hyb = {Chem.HybridizationType.SP: ".1", Chem.HybridizationType.SP2: ".2",
           Chem.HybridizationType.SP3: ".3"}
    for a in m.GetAtoms():
        p = conf.GetAtomPosition(a.GetIdx())
        t = a.GetSymbol() + (hyb.get(a.GetHybridization(), "") if a.GetSymbol() in ("C", "N", "O", "S") else "")
        atoms.append(f"{a.GetIdx() + 1:>7} {a.GetSymbol()}{a.GetIdx() + 1:<4} {p.x:10.4f} {p.y:10.4f} "
                     f"{p.z:10.4f} {t:<6} 1 LIG 0.0000")
    bonds = []
    for k, b in enumerate(m.GetBonds(), start=1):
        kind = {1.0: "1", 2.0: "2", 3.0: "3"}.get(b.GetBondTypeAsDouble(), "1")
        bonds.append(f"{k:>6} {b.GetBeginAtomIdx() + 1:>5} {b.GetEndAtomIdx() + 1:>5} {kind}")
    return ("@<TRIPOS>MOLECULE\n" + m.GetProp("_Name") + "\n"
            f"{m.GetNumAtoms()} {m.GetNumBonds()} 1 0 0\nSMALL\nNO_CHARGES\n\n"
            "@<TRIPOS>ATOM\n" + "\n".join(atoms) + "\n@<TRIPOS>BOND\n" + "\n".join(bonds) + "\n")


EMBEDDED = _embedded_pool()
VALID = {ext: _valid_text(ext, EMBEDDED) for ext in READ_FORMATS}
ALL_VALID_LINES = [line for text in VALID.values() for line in text.splitlines()]


# --------------------------------------------------------------------------- the check
class Tally:
    """Per-test counts written to the reliability stats."""

    def __init__(self):
        self.inputs = 0
        self.reads = 0
        self.input_errors = 0
        self.molecules = 0
        self.max_read_s = 0.0
        self.max_peak = 0.0
        self.worst = ""
        self.total_s = 0.0
        self.started = time.perf_counter()

    def save(self, ext, generator):
        record(max_input_peak_rss_mib=round(self.max_peak), worst_memory_input=self.worst[:80], reader=ext,
               generator=generator, inputs=self.inputs, reads=self.reads,
               input_errors=self.input_errors, molecules=self.molecules,
               max_read_s=round(self.max_read_s, 4), read_time_s=round(self.total_s, 2),
               wall_s=round(time.perf_counter() - self.started, 2))


def _timed(tally: Tally, fn):
    faulthandler.dump_traceback_later(HANG_S, exit=False, file=sys.stderr)
    start = time.perf_counter()
    try:
        return fn()
    finally:
        faulthandler.cancel_dump_traceback_later()
        dt = time.perf_counter() - start
        tally.reads += 1
        tally.total_s += dt
        tally.max_read_s = max(tally.max_read_s, dt)
        assert dt < READ_LIMIT_S, f"one read took {dt:.1f} s (limit {READ_LIMIT_S} s)"


def _reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def check_input(text: str | bytes, ext: str, tally: Tally):
    """The fuzz property (module docstring) for one input; records the process's peak RSS
    while reading it (VmHWM reset first). Not asserted: the process keeps memory the
    allocator does not hand back, so in-process peaks are not per-input figures; memory
    bounds are asserted in fresh processes in test_size_limits.py."""
    _reset_peak_rss()
    _check_input(text, ext, tally)
    peak = _peak_rss_mib()
    if peak > tally.max_peak:
        tally.max_peak = peak
        tally.worst = text[:200] if isinstance(text, str) else repr(text[:200])


def _check_input(text: str | bytes, ext: str, tally: Tally):
    path = WORKDIR / f"case{ext}"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    tally.inputs += 1
    for skip in (False, True):
        try:
            mols = _timed(tally, lambda skip=skip: read_molecules(path, skip_invalid=skip))
        except InputError as e:
            assert e.path == path and str(path) in str(e), str(e)
            tally.input_errors += 1
            continue
        assert isinstance(mols, list) and mols, "read_molecules returned an empty list"
        tally.molecules += len(mols)
        for m in mols:
            assert isinstance(m, Chem.Mol) and m.GetNumAtoms() > 0
            assert isinstance(m.GetIntProp("input_index"), int) and m.GetIntProp("input_index") >= 0
            assert m.HasProp("_Name")
            for conf in m.GetConformers():
                pos = conf.GetPositions()
                assert pos.shape == (m.GetNumAtoms(), 3) and np.isfinite(pos).all()

    def iterate():
        out = []
        try:
            for index, mol, message in iter_molecules(path):
                assert (mol is None) != (message is None)
                if message is not None:
                    assert str(path) in message and f"record {index}" in message, message
                out.append(index)
        except InputError as e:
            assert e.path == path
        return out

    indices = _timed(tally, iterate)
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


# --------------------------------------------------------------------------- generators
field = st.one_of(st.sampled_from(NUMBERS), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.integers(-10**6, 10**6).map(str))
coord = st.one_of(st.floats(-8, 8).map(lambda v: f"{v:.4f}"), st.sampled_from(NUMBERS))
element = st.sampled_from(ELEMENTS)
count = st.one_of(st.sampled_from(COUNTS), st.integers(0, 60).map(str))
junk_line = st.one_of(st.text(max_size=60), st.sampled_from(ALL_VALID_LINES))


@st.composite
def smi_records(draw):
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 7))
        if kind == 0:
            smi = draw(st.sampled_from(POOL))
        elif kind == 1:      # a pool SMILES with a few character edits
            smi = list(draw(st.sampled_from(POOL)))
            for _ in range(draw(st.integers(1, 4))):
                pos = draw(st.integers(0, len(smi)))
                op = draw(st.integers(0, 2))
                ch = draw(st.sampled_from(SMILES_ALPHABET))
                if op == 0:
                    smi.insert(pos, ch)
                elif smi:
                    pos = min(pos, len(smi) - 1)
                    if op == 1:
                        del smi[pos]
                    else:
                        smi[pos] = ch
            smi = "".join(smi)
        elif kind == 2:      # deep nesting / long chains / many rings
            n = draw(st.sampled_from([10, 100, 1000, 5000]))
            smi = draw(st.sampled_from(["C(" * n + "C" + ")" * n, "C" * n, "c1ccccc1" * (n // 10 + 1),
                                        "C1" + "C" * n + "1", "[C@@H](F)" * (n // 10 + 1), "C%99" * 3,
                                        "(" * n, "[" * n, "C" + "." * n + "C"]))
        elif kind == 3:
            smi = draw(st.text(alphabet=SMILES_ALPHABET, max_size=40))
        elif kind == 4:
            lines.append(draw(st.sampled_from(["", "   ", "# comment", "smiles name", "\t"])))
            continue
        elif kind == 5:      # bracket atoms with odd contents
            smi = "[" + draw(element) + draw(st.sampled_from(["", "H", "H9", "+", "-3", "+99", "@", "@@",
                                                             ":1", ":99999999999"])) + "]"
        elif kind == 6:
            smi = draw(junk_line).replace("\n", " ")
        else:
            smi = draw(st.sampled_from(POOL)) + "." + draw(st.sampled_from(POOL))
        name = draw(st.one_of(st.just(""), st.text(max_size=15).map(lambda s: " " + s.replace("\n", " "))))
        lines.append(smi + name)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


def _molfile_record(draw) -> str:
    n = draw(st.integers(0, 6))
    nb = draw(st.integers(0, 6))
    cl_atoms = draw(st.one_of(st.just(str(n)), count))
    cl_bonds = draw(st.one_of(st.just(str(nb)), count))
    version = draw(st.sampled_from(["V2000", "V2000", "V3000", "V9999", ""]))
    lines = [draw(st.text(max_size=20)).replace("\n", " "), "  fuzz", ""]
    lines.append(f"{cl_atoms:>3}{cl_bonds:>3}  0  0  0  0  0  0  0  0999 {version}")
    if version == "V3000":
        lines += ["M  V30 BEGIN CTAB", f"M  V30 COUNTS {draw(count)} {draw(count)} 0 0 0",
                  "M  V30 BEGIN ATOM"]
        for i in range(n):
            lines.append(f"M  V30 {i + 1} {draw(element)} {draw(coord)} {draw(coord)} {draw(coord)} 0")
        lines += ["M  V30 END ATOM", "M  V30 BEGIN BOND"]
        for i in range(nb):
            lines.append(f"M  V30 {i + 1} {draw(st.integers(0, 9))} {draw(st.integers(-1, n + 2))} "
                         f"{draw(st.integers(-1, n + 2))}")
        lines += ["M  V30 END BOND", "M  V30 END CTAB"]
    else:
        for _ in range(n):
            x, y, z = (draw(coord) for _ in range(3))
            lines.append(f"{x:>10}{y:>10}{z:>10} {draw(element):<3} 0{draw(st.integers(0, 7)):>3}  0  0  0  0")
        for _ in range(nb):
            lines.append(f"{draw(st.integers(-1, n + 2)):>3}{draw(st.integers(-1, n + 2)):>3}"
                         f"{draw(st.integers(0, 9)):>3}{draw(st.integers(0, 6)):>3}")
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(st.sampled_from([
                f"M  CHG  1 {draw(st.integers(-1, n + 2)):>3} {draw(st.integers(-20, 20)):>3}",
                f"M  ISO  1 {draw(st.integers(-1, n + 2)):>3} {draw(st.integers(-5, 999)):>3}",
                "M  RAD  1   1   9", "M  CHG 99", "A    1", "G    1  1"])))
    lines.append("M  END")
    for _ in range(draw(st.integers(0, 2))):
        lines += [f"> <{draw(st.text(max_size=8))}>", draw(st.text(max_size=30)), ""]
    if draw(st.integers(0, 4)):
        lines.append("$$$$")
    return "\n".join(lines) + "\n"


@st.composite
def sdf_records(draw):
    blocks = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 3)) == 0:
            blocks.append(Chem.MolToMolBlock(draw(st.sampled_from(EMBEDDED))) + "$$$$\n")
        else:
            blocks.append(_molfile_record(draw))
    return "".join(blocks)


@st.composite
def mol2_records(draw):
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 3)) == 0:
            parts.append(_mol2_block(draw(st.sampled_from(EMBEDDED))))
            continue
        n, nb = draw(st.integers(0, 6)), draw(st.integers(0, 6))
        lines = ["@<TRIPOS>MOLECULE", draw(st.text(max_size=12)).replace("\n", " "),
                 f"{draw(st.one_of(st.just(str(n)), count))} {draw(st.one_of(st.just(str(nb)), count))} 1",
                 draw(st.sampled_from(["SMALL", "PROTEIN", "", "BIOPOLYMER"])),
                 draw(st.sampled_from(["NO_CHARGES", "GASTEIGER", "USER_CHARGES", ""])), ""]
        if draw(st.booleans()):
            lines.append("@<TRIPOS>ATOM")
        for i in range(n):
            el = draw(element)
            typ = el + draw(st.sampled_from(["", ".3", ".2", ".1", ".ar", ".am", ".pl3", ".co2", ".cat", ".x"]))
            lines.append(f"{draw(st.sampled_from([str(i + 1), str(i + 1), '0', '-2', 'x']))} {el}{i} "
                         f"{draw(coord)} {draw(coord)} {draw(coord)} {typ} 1 LIG {draw(field)}")
        if draw(st.booleans()):
            lines.append("@<TRIPOS>BOND")
        for k in range(nb):
            lines.append(f"{k + 1} {draw(st.integers(-1, n + 2))} {draw(st.integers(-1, n + 2))} "
                         f"{draw(st.sampled_from(['1', '2', '3', 'ar', 'am', 'du', 'un', 'nc', '9', 'x']))}")
        if draw(st.booleans()):
            lines += ["@<TRIPOS>SUBSTRUCTURE", f"1 LIG 1 {draw(field)}"]
        parts.append("\n".join(lines) + "\n")
    return "".join(parts)


def _pdb_atom(draw, serial: int) -> str:
    rec = draw(st.sampled_from(["ATOM  ", "HETATM", "HETATM", "ATOM  "]))
    el = draw(element)
    name = (el + str(serial % 100))[:4]
    res = draw(st.sampled_from(["LIG", "ALA", "GLY", "HOH", "UNL", "XYZ", "   "]))
    ser = draw(st.sampled_from([serial, serial, serial, 0, -1, 99999, 100000]))
    x, y, z = (draw(coord) for _ in range(3))
    charge = draw(st.sampled_from(["  ", "  ", "1+", "2-", "9+", "x "]))
    chain = draw(st.sampled_from(["A", "B", " "]))
    resseq = draw(st.sampled_from(["1", "1", "2", "-999", "99999", "x"]))
    return (f"{rec}{ser:>5} {name:<4} {res:>3} {chain}{resseq:>4}    "
            f"{x[:8]:>8}{y[:8]:>8}{z[:8]:>8}  1.00  0.00          {el[:2]:>2}{charge}")


@st.composite
def pdb_records(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(f"COMPND    {draw(st.text(max_size=20))}".replace("\n", " "))
    serial = 1
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 3)) == 0:
            body = Chem.MolToPDBBlock(draw(st.sampled_from(EMBEDDED))).replace("END\n", "")
            lines += body.splitlines()
            continue
        model = draw(st.sampled_from(["MODEL", "MODEL", "", "ENDMDL", "MODEL        x"]))
        if model:
            lines.append(f"{model:<10}{draw(st.integers(-1, 3)):>4}" if model == "MODEL" else model)
        n = draw(st.integers(0, 8))
        first = serial
        for _ in range(n):
            lines.append(_pdb_atom(draw, serial))
            serial += 1
        for _ in range(draw(st.integers(0, 4))):
            a = draw(st.integers(first - 2, serial + 2))
            others = [draw(st.integers(first - 2, serial + 2)) for _ in range(draw(st.integers(0, 5)))]
            lines.append("CONECT" + "".join(f"{v:>5}" for v in [a] + others))
        if draw(st.integers(0, 3)):
            lines.append(draw(st.sampled_from(["ENDMDL", "TER", "END", "ENDMDL", "MASTER"])))
    if draw(st.booleans()):
        lines.append("END")
    return "\n".join(lines) + "\n"


@st.composite
def xyz_records(draw):
    frames = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            frames.append(Chem.MolToXYZBlock(draw(st.sampled_from(EMBEDDED))))
            continue
        if kind == 1:    # dense clusters: bond perception and bond-order search under stress
            n = draw(st.integers(2, 60))
            el = draw(st.sampled_from(["C", "N", "O", "H", "S", "P", "B"]))
            box = draw(st.sampled_from([0.5, 1.5, 3.0, 6.0]))
            pts = np.random.default_rng(draw(st.integers(0, 2**31))).uniform(-box, box, (n, 3))
            body = [f"{el if draw(st.integers(0, 3)) else draw(element) or 'C'} "
                    f"{p[0]:.4f} {p[1]:.4f} {p[2]:.4f}" for p in pts]
            frames.append(f"{n}\ncluster\n" + "\n".join(body) + "\n")
            continue
        if kind == 2:    # a long chain (hundreds of atoms, all bonds found)
            n = draw(st.sampled_from([50, 200, 400]))
            body = [f"C {1.3 * i:.4f} {0.8 * (i % 2):.4f} 0.0" for i in range(n)]
            frames.append(f"{n}\nchain\n" + "\n".join(body) + "\n")
            continue
        n = draw(st.integers(0, 6))
        head = draw(st.one_of(st.just(str(n)), count))
        body = [f"{draw(element)} {draw(coord)} {draw(coord)} {draw(coord)}"
                + draw(st.sampled_from(["", "", " 0.0", " extra words"])) for _ in range(n)]
        frames.append(f"{head}\n{draw(st.text(max_size=20)).replace(chr(10), ' ')}\n" + "\n".join(body) + "\n")
    return "".join(frames)


RECORD_STRATEGIES = {".smi": smi_records(), ".sdf": sdf_records(), ".mol": sdf_records(),
                     ".mol2": mol2_records(), ".pdb": pdb_records(), ".xyz": xyz_records()}


@st.composite
def spliced(draw, ext):
    """A valid file with whole-line edits (dup, drop, swap, cut, foreign line) and a cut end."""
    mols = draw(st.lists(st.sampled_from(EMBEDDED), min_size=1, max_size=3))
    lines = _valid_text(ext, mols).splitlines()
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.integers(0, 5))
        if op == 0:
            lines.insert(i, lines[i])
        elif op == 1:
            del lines[i]
        elif op == 2:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == 4:
            lines.insert(i, draw(st.sampled_from(ALL_VALID_LINES)))
        else:
            lines[i] = lines[i].replace(draw(st.sampled_from(list("0123456789. CNOH"))),
                                        draw(st.sampled_from(["", "9", "-", "x", " ", "nan", "\t"])), 1)
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 3)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


ALPHABETS = {
    ".smi": SMILES_ALPHABET + [" ", "\n", "#"],
    ".sdf": list("0123456789. -+\nCNOHM$V") + ["  END", "$$$$", "V2000", "> <", "M  CHG"],
    ".mol": list("0123456789. -+\nCNOHM") + ["  END", "V2000", "V3000"],
    ".mol2": list("0123456789. -\nCNOH") + ["@<TRIPOS>MOLECULE\n", "@<TRIPOS>ATOM\n", "@<TRIPOS>BOND\n",
                                            " C.ar ", " ar ", " 1 "],
    ".pdb": list("0123456789. -\nCNOH") + ["ATOM  ", "HETATM", "CONECT", "MODEL", "ENDMDL\n", "END\n"],
    ".xyz": list("0123456789. -\ne") + ["C", "H", "O", "N", "\n3\n", "nan"],
}


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("ext", READ_FORMATS)
def test_fuzz_structured_records(ext):
    """Format-aware records with edge-case fields: only InputError, every read bounded."""
    tally = Tally()

    @FUZZ
    @given(text=RECORD_STRATEGIES[ext])
    def run(text):
        check_input(text, ext, tally)

    run()
    tally.save(ext, "records")
    assert tally.inputs >= N_EXAMPLES * 0.9


@pytest.mark.parametrize("ext", READ_FORMATS)
def test_fuzz_spliced_valid_files(ext):
    """Valid NCI molecules with lines duplicated/dropped/swapped/cut/foreign: only InputError."""
    tally = Tally()

    @FUZZ
    @given(text=spliced(ext))
    def run(text):
        check_input(text, ext, tally)

    run()
    tally.save(ext, "spliced")
    assert tally.inputs >= N_EXAMPLES * 0.9


@pytest.mark.parametrize("ext", READ_FORMATS)
def test_fuzz_format_alphabet_text(ext):
    """Random text over the format's own tokens (and raw bytes): only InputError."""
    tally = Tally()
    tokens = st.lists(st.sampled_from(ALPHABETS[ext]), max_size=400).map("".join)

    @FUZZ
    @given(data=st.one_of(tokens, tokens.map(lambda s: s.encode() + b"\xff\xfe\x80"),
                          st.binary(max_size=2000)))
    def run(data):
        check_input(data, ext, tally)

    run()
    tally.save(ext, "text")
    assert tally.inputs >= N_EXAMPLES * 0.9


def test_valid_seed_files_read_back():
    """The generators' valid building blocks really are valid (else the fuzz would only
    ever exercise error paths)."""
    for ext, text in VALID.items():
        path = WORKDIR / f"valid{ext}"
        path.write_text(text)
        mols = read_molecules(path)
        assert len(mols) == len(EMBEDDED), (ext, len(mols))
        assert [m.GetNumAtoms() for m in mols] == [
            (Chem.RemoveHs(e) if ext == ".smi" else e).GetNumAtoms() for e in EMBEDDED], ext


@pytest.mark.parametrize("count", ["-5", "2147483648", "4294967295", "1e3", "7"])
def test_mol2_absurd_atom_count_is_refused_fast(count):
    """Regression (found by this fuzz run): RDKit's MOL2 parser reserved memory for the
    announced atom count, so '-5' allocated ~16 GB and took ~55 s. Now an InputError
    naming the counts line comes back at once."""
    path = WORKDIR / "counts.mol2"
    path.write_text(f"@<TRIPOS>MOLECULE\nx\n{count} 0 1\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n"
                    "1 C1 0.0 0.0 0.0 C.3 1 LIG 0.0\n")
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"line 3: invalid MOL2 record: .*(atom count|announces)"):
        read_molecules(path)
    assert time.perf_counter() - start < 1.0
