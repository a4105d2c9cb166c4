"""docs/quickstart.py runs end to end and its numbers make sense."""
import pathlib
import re
import subprocess
import sys

QUICKSTART = pathlib.Path(__file__).resolve().parents[2] / "docs" / "quickstart.py"


def test_quickstart_runs_end_to_end():
    result = subprocess.run([sys.executable, str(QUICKSTART)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert float(re.search(r"roundtrip error: (\S+)", out).group(1)) < 1e-9
    # rough modes lost their signal; their noise is small (1/a)
    assert float(re.search(r"rough / smooth mode power: (\S+)", out).group(1)) < 1.0
    assert float(re.search(r"lattice sample error: (\S+)", out).group(1)) < 1e-3
    m = re.search(r"(\d+) conformers; COV-R (\S+), AMR-R (\S+) Å", out)
    # paracetamol, the default path: after MMFF its few minima are those of the references
    assert int(m.group(1)) == 10 and float(m.group(2)) >= 0.8 and 0.0 <= float(m.group(3)) < 0.5
