"""Issue 14: the install is locked: tools/setup.sh and packaging/build.sh install with the
constraints in requirements/lock.txt, and the tested environment is exactly the lock."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"


def _lockfile():
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "tools" / "lockfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pip_installs(script: Path) -> list[str]:
    """The `pip install` command lines of a shell script (continuations joined)."""
    text = script.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if "-m pip install" in line and not line.strip().startswith("#")]


def test_setup_installs_every_package_from_the_lock():
    text = (ROOT / "tools" / "setup.sh").read_text()
    assert re.search(r"lock=\(-c requirements/lock\.txt\)", text)
    installs = [c for c in _pip_installs(ROOT / "tools" / "setup.sh") if "--upgrade pip" not in c]
    assert len(installs) == 2                                   # torch, then the project
    for command in installs:
        assert '"${lock[@]}"' in command, command               # the constraints go on each
    for command in _pip_installs(ROOT / "packaging" / "build.sh"):
        assert "-c requirements/lock.txt" in command, command
    assert "lockfile.py check" in (ROOT / "packaging" / "build.sh").read_text()


def test_the_tested_environment_is_exactly_the_lock():
    lf = _lockfile()
    pins = lf.read_lock(LOCK)
    have = lf.installed()
    assert {"torch", "rdkit", "numpy", "pyside6-essentials", "pytest"} <= set(pins)
    for name, version in have.items():                          # every installed distribution ...
        assert name in pins, f"{name}=={version} is installed but not locked"
        assert lf.public(version) == pins[name], f"{name}: {version} installed, {pins[name]} locked"
    assert set(pins) <= set(have)                                # ... and nothing locked is missing
    # the command setup.sh and build.sh run agrees
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "lockfile.py"), "check", str(LOCK)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_lock_check_names_a_drifted_package(tmp_path):
    lf = _lockfile()
    pins = lf.read_lock(LOCK)
    drifted = dict(pins, numpy="0.0.1")
    drifted.pop("tqdm")
    bad = tmp_path / "lock.txt"
    bad.write_text("".join(f"{n}=={v}\n" for n, v in drifted.items()) + "notinstalled==1.0\n")
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "lockfile.py"), "check", str(bad)],
                           capture_output=True, text=True)
    assert check.returncode == 1
    assert "numpy: installed" in check.stderr and "locked 0.0.1" in check.stderr
    assert "tqdm==" in check.stderr and "not in the lock" in check.stderr
    assert "notinstalled==1.0 is locked but not installed" in check.stderr
    relaxed = subprocess.run([sys.executable, str(ROOT / "tools" / "lockfile.py"), "check", "--allow-extra",
                              str(bad)], capture_output=True, text=True)
    assert "not in the lock" not in relaxed.stderr and "numpy: installed" in relaxed.stderr
    partial = subprocess.run([sys.executable, str(ROOT / "tools" / "lockfile.py"), "check", "--allow-missing",
                              str(bad)], capture_output=True, text=True)
    assert partial.returncode == 1 and "numpy: installed" in partial.stderr
    assert "not installed" not in partial.stderr and "not in the lock" in partial.stderr
    # only absent locked packages (an install without the test tools): accepted
    fewer = tmp_path / "more.txt"
    fewer.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()) + "notinstalled==1.0\n")
    assert subprocess.run([sys.executable, str(ROOT / "tools" / "lockfile.py"), "check", "--allow-missing",
                           str(fewer)], capture_output=True, text=True).returncode == 0


def test_build_sh_keeps_the_packaging_tools_out_of_the_venv():
    """Issue 27: build.sh installed PyInstaller into .venv, and the test above then failed
    ("pyinstaller==… is installed but not locked"). The tools are pinned in
    requirements/pack.txt and go into build/pack-tools, put on PYTHONPATH for PyInstaller's
    runs only."""
    text = (ROOT / "packaging" / "build.sh").read_text()
    installs = _pip_installs(ROOT / "packaging" / "build.sh")
    assert installs, "build.sh installs the packaging tools"
    for command in installs:
        assert '--target "$TOOLS"' in command and "--no-deps" in command, command
        assert "-r requirements/pack.txt" in command, command
    assert "TOOLS=${GDAPP_PACK_TOOLS:-$ROOT/build/pack-tools}" in text
    assert 'env PYTHONPATH="$PACKPATH" $NICE "$PY" -m PyInstaller' in text
    # the bundle's version record is written without the tools on the path
    versions = next(line for line in text.splitlines() if "lockfile.py versions" in line)
    assert "PACKPATH" not in versions and "export PYTHONPATH" not in text
    # every tool pinned to one version, none of them in the app's lock
    lf = _lockfile()
    pack = lf.read_lock(ROOT / "requirements" / "pack.txt")
    assert {"pyinstaller", "pyinstaller-hooks-contrib", "altgraph"} == set(pack)
    assert not set(pack) & set(lf.read_lock(LOCK))
