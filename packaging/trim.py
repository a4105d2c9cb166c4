"""What the packaged bundle leaves out (used by ``gdapp.spec``; see docs/packaging.md).

Two knobs:

* ``EXCLUDED_MODULES``: Python modules PyInstaller must not collect (test tools, Tk, the
  Qt modules the app never imports, VTK modules for file formats, parallel/VR/web
  rendering and charts). Leaving out a VTK Python module also drops the C++ libraries
  only it needs; libraries a kept module links to still come in through its dependencies.
* ``EXCLUDED_FILES``: bundle paths (fnmatch patterns on the destination, ``/``-separated)
  dropped after analysis: torch's C++ test binaries and tools, static libraries,
  headers, Qt platform plugins other than xcb/offscreen/minimal and Wayland/EGLFS support
  (the 3D view needs X11/XWayland, see ``packaging/linux/gdapp``).

* ``STRIP_GLOBS``: the large libraries whose symbol tables are stripped after the build
  (Linux; ``strip --strip-unneeded``). Not everything: stripping libraries that
  auditwheel/patchelf rewrote (``numpy.libs``, ``scipy.libs``: OpenBLAS) breaks them
  ("ELF load command address/offset not page-aligned"), so PyInstaller's own ``strip``
  option stays off.

Not trimmable: torch's Python modules (``torch.optim`` imports ``torch._dynamo``, which
imports ``torch._inductor``, ``sympy`` and ``torch.onnx``, so training in the app needs
them) and ``libtorch_cpu.so`` itself.
"""
from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

# VTK families left out: file formats, parallel/AMR/VR/web rendering, infovis, tests.
# Everything pyvista/pyvistaqt may touch for meshes, glyphs, picking, annotation, charts
# and screenshots is kept (importing pyvista.plotting loads vtkChartsCore,
# vtkPythonContext2D, vtkRenderingMatplotlib and vtkViewsContext2D, so those stay).
VTK_EXCLUDED_PREFIXES = (
    "vtkAcceleratorsVTKm", "vtkDomainsChemistry", "vtkFiltersAMR",
    "vtkFiltersCellGrid", "vtkFiltersParallel", "vtkGeovis", "vtkInfovis",
    "vtkIOAMR", "vtkIOAsynchronous", "vtkIOAvmesh", "vtkIOCGNSReader", "vtkIOCONVERGECFD",
    "vtkIOCellGrid", "vtkIOCesium3DTiles", "vtkIOChemistry", "vtkIOCityGML", "vtkIOERF",
    "vtkIOEnSight", "vtkIOEngys", "vtkIOExodus", "vtkIOExportGL2PS", "vtkIOExportPDF",
    "vtkIOFDS", "vtkIOFLUENTCFF", "vtkIOGeoJSON", "vtkIOH5Rage", "vtkIOH5part", "vtkIOHDF",
    "vtkIOIOSS", "vtkIOInfovis", "vtkIOLANLX3D", "vtkIOLSDyna", "vtkIOMINC", "vtkIOMotionFX",
    "vtkIONetCDF", "vtkIOOMF", "vtkIOOggTheora", "vtkIOPIO", "vtkIOParallel", "vtkIOSQL",
    "vtkIOSegY", "vtkIOTRUCHAS", "vtkIOTecplotTable", "vtkIOVPIC", "vtkIOVeraOut",
    "vtkIOVideo", "vtkIOXdmf2", "vtkRenderingCellGrid",
    "vtkRenderingGL2PSOpenGL2", "vtkRenderingLICOpenGL2",
    "vtkRenderingParallel", "vtkRenderingVR", "vtkRenderingVolumeAMR", "vtkRenderingVtkJS",
    "vtkRenderingWebXR", "vtkSerializationManager", "vtkTesting", "vtkViewsInfovis",
    "vtkWeb",
)


def vtk_excluded_modules(vtk_dir: Path | None = None) -> list[str]:
    """``vtkmodules.<name>`` for every installed VTK extension module in the excluded families."""
    if vtk_dir is None:
        import vtkmodules

        vtk_dir = Path(vtkmodules.__file__).parent
    names = sorted({p.name.split(".")[0] for p in Path(vtk_dir).glob("vtk*.*")
                    if p.suffix in (".so", ".pyd") or ".cpython-" in p.name})
    return [f"vtkmodules.{n}" for n in names if n.startswith(VTK_EXCLUDED_PREFIXES)]


BASE_EXCLUDED_MODULES = [
    # test tools and interactive shells (pulled in by torch.testing._internal and friends)
    "pytest", "_pytest", "hypothesis", "expecttest", "pluggy", "IPython", "ipykernel",
    "jupyter_client", "notebook", "sphinx", "docutils", "pip",
    # the guardrails (test extra): pyvista's mypy plugin imports mypy when find_spec sees it,
    # and a half-collected mypy (its mypyc modules) stopped the bundle at start-up
    "mypy", "mypyc", "importlinter", "grimp",
    # Tk (matplotlib's TkAgg backend is never used: pyvista only uses its colormaps)
    "tkinter", "_tkinter", "matplotlib.backends.backend_tkagg", "matplotlib.backends._backend_tk",
    # Qt modules the app does not import (it uses QtCore/Gui/Widgets/OpenGL(Widgets)/Svg/Test)
    "PySide6.QtNetwork", "PySide6.QtDBus", "PySide6.QtQml", "PySide6.QtQuick",
    "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2", "PySide6.QtQuickTest",
    "PySide6.QtSql", "PySide6.QtXml", "PySide6.QtHelp", "PySide6.QtDesigner",
    "PySide6.QtUiTools", "PySide6.QtPrintSupport", "PySide6.QtConcurrent",
    # torch extras without their dependencies installed
    "torch.utils.tensorboard", "tensorboard",
]


# Left out although the app's libraries import them when they are installed: pyvista's
# typing plugin does `if importlib.util.find_spec("mypy"): from mypy... import ...`; in
# the bundle find_spec finds nothing and pyvista goes on without it (smoke.sh checks).
IMPORTED_ONLY_IF_INSTALLED = ["mypy", "mypyc"]


def excluded_modules() -> list[str]:
    return BASE_EXCLUDED_MODULES + vtk_excluded_modules()


EXCLUDED_FILES = [
    # torch: C++ unit tests, protoc and test binaries (not torch_shm_manager, see
    # KEPT_FILES), test-only libraries, headers, cmake
    "torch/test/*", "torch/bin/*", "torch/include/*", "torch/share/*",
    "torch/lib/libtorchbind_test.so", "torch/lib/libjitbackend_test.so",
    "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    # static libraries and C/C++ headers anywhere
    "*.a", "*.lib", "*.h", "*.hpp", "*.cuh",
    # Qt: only the xcb (plus offscreen/minimal) platforms; no Wayland/EGLFS/VNC/linuxfb/evdev
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so", "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqwayland*.so",
    "PySide6/Qt/plugins/wayland-*", "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/plugins/generic/*", "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/tls/*", "PySide6/Qt/lib/libQt6Wayland*", "PySide6/Qt/lib/libQt6Wl*",
    "PySide6/Qt/lib/libQt6EglFS*", "PySide6/Qt/lib/libQt6EglFs*",
    # Qt translations of tools we do not ship
    "PySide6/Qt/translations/assistant_*", "PySide6/Qt/translations/designer_*",
    "PySide6/Qt/translations/linguist_*",
]


# Exceptions to EXCLUDED_FILES: `import torch` looks for torch/bin/torch_shm_manager.
KEPT_FILES = ["torch/bin/torch_shm_manager"]


def is_excluded(dest: str) -> bool:
    """Whether the bundle path ``dest`` matches ``EXCLUDED_FILES`` (and not ``KEPT_FILES``)."""
    d = str(dest).replace("\\", "/")
    if any(fnmatch.fnmatch(d, pat) for pat in KEPT_FILES):
        return False
    return any(fnmatch.fnmatch(d, pat) for pat in EXCLUDED_FILES)


def filter_toc(toc):
    """Drop TOC entries ``(dest_name, src, typecode)`` whose dest matches EXCLUDED_FILES."""
    return [entry for entry in toc if not is_excluded(entry[0])]


STRIP_GLOBS = ["torch/lib/libtorch_cpu.so", "torch/lib/libtorch_python.so",
               "torch/lib/libc10.so", "vtkmodules/*.so"]


def strip_bundle(internal_dir) -> int:
    """Strip the symbol tables of the ``STRIP_GLOBS`` libraries under ``internal_dir``
    (the bundle's ``_internal``); returns the bytes saved (0 where ``strip`` is missing or
    not on Linux)."""
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return 0
    root = Path(internal_dir)
    files = sorted({p for g in STRIP_GLOBS for p in root.glob(g) if p.is_file() and not p.is_symlink()})
    before = sum(p.stat().st_size for p in files)
    for chunk in range(0, len(files), 100):
        subprocess.run([strip, "--strip-unneeded", *map(str, files[chunk:chunk + 100])], check=True)
    return before - sum(p.stat().st_size for p in files)
