"""Run notebooks/quickstart.ipynb on the CPU and save the figure of its cell tagged
``docs-figure`` (the frames of the reverse run) as the PNG the docs show.

    .venv/bin/python tools/docs/notebook_figure.py [OUT.png]   # default docs/screenshots/notebook_frames.png

The notebook itself stays as committed (without outputs).
"""
from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
OUT = ROOT / "docs" / "screenshots" / "notebook_frames.png"


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    print(f"notebook ran in {time.monotonic() - start:.1f} s")
    for cell in nb.cells:
        if "docs-figure" in cell.metadata.get("tags", []):
            for output in cell.outputs:
                png = output.get("data", {}).get("image/png")
                if png:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(base64.b64decode(png))
                    print(f"wrote {out}")
                    return 0
    print("no figure in the cell tagged docs-figure", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
