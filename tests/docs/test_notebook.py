"""notebooks/quickstart.ipynb: it runs on the CPU in under two minutes and shows a figure for
each step of the tour, and it is committed without outputs (the pre-commit hook nbstripout)."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
BUDGET_S = 120          # the promise: a student's CPU runs it in under two minutes
NBSTRIPOUT = Path(sys.executable).with_name("nbstripout")


def test_the_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} was committed with outputs: run nbstripout on it"
        assert cell.execution_count is None, f"code cell {i} was committed with an execution count"
    # the same check as the pre-commit hook (.pre-commit-config.yaml): nbstripout would change nothing
    verify = subprocess.run([str(NBSTRIPOUT), "--verify", str(NOTEBOOK)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_nbstripout_check_fails_on_a_notebook_with_outputs(tmp_path):
    """The check above can fail: a notebook with an output does not pass it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    cell.execution_count = 1
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, dirty)
    verify = subprocess.run([str(NBSTRIPOUT), "--verify", str(dirty)], capture_output=True, text=True)
    assert verify.returncode != 0


@pytest.mark.slow
def test_the_notebook_runs_on_the_cpu_in_under_two_minutes(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")          # the CPU, whatever the machine has
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=BUDGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    start = time.monotonic()
    client.execute()                                        # raises CellExecutionError on any error
    elapsed = time.monotonic() - start
    assert elapsed < BUDGET_S, f"the notebook took {elapsed:.0f} s (budget {BUDGET_S} s)"

    code = [c for c in nb.cells if c.cell_type == "code"]
    figures = [c for c in code if any("image/png" in o.get("data", {}) for o in c.outputs)]
    # the Laplacian, the mode energies, the frames, the ETKDG comparison, the λ_A sweep
    assert len(figures) >= 5, f"{len(figures)} figures"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    assert re.search(r"\d+ frames, t = \[", text)            # the reverse run, however many frames
    assert "ETKDG + MMFF  RMSD to the input" in text
    assert text.count("lambda_A =") >= 3
    # the figure the docs show (docs/screenshots/notebook_frames.png) comes from this cell
    tagged = [c for c in code if "docs-figure" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] in figures
