"""packaging/trim.py: what the bundle leaves out must be what the app never uses."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("trim", ROOT / "packaging" / "trim.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


trim = _load()


def test_file_patterns_drop_test_binaries_and_keep_what_runs():
    dropped = ["torch/test/Dict_test", "torch/bin/protoc", "torch/lib/libtorchbind_test.so",
               "torch/include/ATen/ATen.h", "numpy/_core/lib/libnpymath.a",
               "PySide6/Qt/plugins/platforms/libqwayland-egl.so",
               "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
               "PySide6/Qt/lib/libQt6WaylandClient.so.6"]
    kept = ["torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "torch/lib/libgomp.so.1",
            "torch/_C.cpython-311.so",
            "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/xcbglintegrations/"
            "libqxcb-glx-integration.so", "PySide6/Qt/lib/libQt6XcbQpa.so.6",
            "rdkit/Data/Pains/test_data/wehi_mols.csv", "rdkit/Data/BaseFeatures.fdef",
            "resources/models/molecule_egnn.pt", "vtkmodules/libvtkRenderingOpenGL2.so",
            "imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2"]
    for d in dropped:
        assert trim.is_excluded(d), d
    for k in kept:
        assert not trim.is_excluded(k), k
    toc = [(d, "/src/" + d, "BINARY") for d in dropped + kept]
    assert [e[0] for e in trim.filter_toc(toc)] == kept
    assert trim.is_excluded("torch\\test\\Dict_test")  # Windows separators


def test_vtk_exclusions_follow_the_installed_modules(tmp_path):
    for name in ["vtkIOExodus.cpython-311-x86_64-linux-gnu.so", "vtkRenderingVR.pyd",
                 "vtkRenderingCore.cpython-311-x86_64-linux-gnu.so", "vtkCommonCore.pyd",
                 "vtkIOXML.cpython-311-darwin.so", "vtkWebCore.cpython-311-darwin.so",
                 "libvtkIOExodus.so", "vtkIOExodus.pyi"]:
        (tmp_path / name).write_text("")
    got = trim.vtk_excluded_modules(tmp_path)
    assert got == ["vtkmodules.vtkIOExodus", "vtkmodules.vtkRenderingVR", "vtkmodules.vtkWebCore"]


def test_the_app_does_not_import_excluded_modules():
    """Importing the app's modules (main window, viewer, pyvista plotting, pyvistaqt,
    training and quality code) must not pull in anything the bundle leaves out."""
    code = (
        "import json, sys, torch\n"
        "import gdapp.app, gdapp.views.main_window, gdapp.export, engine.api\n"
        "import pyvista, pyvista.plotting, pyvistaqt\n"
        "import engine.training.trainer, engine.metrics.validity, posebusters\n"
        "m = torch.nn.Linear(2, 2); o = torch.optim.Adam(m.parameters())\n"
        "m(torch.ones(1, 2)).sum().backward(); o.step(); o.zero_grad()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    excluded = [e for e in trim.excluded_modules() if e not in trim.IMPORTED_ONLY_IF_INSTALLED]
    assert any(e.startswith("vtkmodules.") for e in excluded)
    hits = sorted(m for m in loaded for e in excluded if m == e or m.startswith(e + "."))
    assert hits == [], f"the app imports modules the bundle leaves out: {hits}"


def test_a_self_test_run_does_not_load_excluded_modules(tmp_path):
    """The real app run (demo, reverse sampling, animation, screenshot) under X: nothing
    it loads at run time (lazy VTK/pyvista imports included) is left out of the bundle."""
    if not os.environ.get("DISPLAY"):
        import pytest

        pytest.fail("needs an X display: run under xvfb-run (tools/run-tests.sh does)",
                    pytrace=False)
    code = (
        "import json, sys, torch\n"
        "from gdapp.app import run\n"
        f"rc = run(self_test={str(tmp_path / 'out')!r})\n"
        "print(json.dumps([rc, sorted(sys.modules)]))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=400, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    rc, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0, out.stderr[-2000:]
    assert "vtkmodules.vtkRenderingOpenGL2" in loaded
    excluded = [e for e in trim.excluded_modules() if e not in trim.IMPORTED_ONLY_IF_INSTALLED]
    hits = sorted(m for m in loaded for e in excluded if m == e or m.startswith(e + "."))
    assert hits == [], f"the app loads modules the bundle leaves out: {hits}"
