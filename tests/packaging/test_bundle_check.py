"""packaging/bundle_check.py (``gdapp --check-bundle`` in the packaged app), run in the
project environment: it passes with the checkout's resources and names what is missing."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("bundle_check",
                                                  ROOT / "packaging" / "bundle_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bundle_check = _load()


@pytest.mark.slow
def test_passes_with_the_checkout_resources(capsys, monkeypatch):
    monkeypatch.delenv("GDAPP_RESOURCES", raising=False)
    assert bundle_check.run() == 0
    out = capsys.readouterr().out
    assert "bundle check passed" in out
    assert "(CPU)" in out
    assert "sampled" in out and f"in {bundle_check.STEPS} steps" in out
    assert "corpus sources" in out
    assert "trained 3 steps" in out
    assert "what Start will do with small_test.yaml: corpus in" in out


def test_missing_model_is_named(tmp_path, capsys, monkeypatch):
    res = tmp_path / "resources"
    shutil.copytree(ROOT / "resources", res, ignore=shutil.ignore_patterns("*.pt"))
    monkeypatch.setenv("GDAPP_RESOURCES", str(res))
    assert bundle_check.run() == 1
    captured = capsys.readouterr()
    assert "ok: resources at" in captured.out
    assert "FAILED" in captured.err and "no bundled molecule network" in captured.err


def test_missing_demo_molecules_are_named(tmp_path, capsys, monkeypatch):
    res = tmp_path / "resources"
    shutil.copytree(ROOT / "resources", res, ignore=shutil.ignore_patterns("molecules"))
    monkeypatch.setenv("GDAPP_RESOURCES", str(res))
    assert bundle_check.run() == 1
    assert "demo molecule" in capsys.readouterr().err


def test_launcher_dispatches_check_bundle(monkeypatch):
    """``launcher.launch(["--check-bundle"])`` runs the checks instead of the GUI."""
    monkeypatch.syspath_prepend(str(ROOT / "packaging"))
    spec = importlib.util.spec_from_file_location("gdapp_launcher", ROOT / "packaging" / "launcher.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    calls = []
    monkeypatch.setitem(sys.modules, "bundle_check",
                        type(sys)("bundle_check"))
    sys.modules["bundle_check"].run = lambda: calls.append("check") or 7
    assert launcher.launch(["--check-bundle"]) == 7
    assert calls == ["check"]
