"""Where the corpus cache goes (issue 27): ``<checkout>/.cache/corpus`` when running from the
checkout; in the packaged app (PyInstaller sets ``sys.frozen`` and ``sys._MEIPASS``) and an
installed wheel, the user's cache directory (``$XDG_CACHE_HOME/gdapp/corpus``, default
``~/.cache/gdapp/corpus``), never the current directory."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import api
from engine import resources as res

ROOT = Path(__file__).resolve().parents[2]


def _plan_dir(config="small_test.yaml") -> Path:
    return api.training_plan(api.resource_path("configs", config), measure=False).corpus_dir


def test_from_the_checkout_the_corpus_cache_stays_in_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GDAPP_CACHE_DIR", raising=False)
    assert not res.is_frozen() and res.checkout_root() == ROOT
    assert _plan_dir().parent == ROOT / ".cache" / "corpus"


def test_the_packaged_app_caches_under_the_users_cache_directory(monkeypatch, tmp_path):
    from engine.data import corpus, filters

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(ROOT), raising=False)   # its resources/ are found
    # the bundle holds bytecode only: the filter cache's key read filters.py and raised
    monkeypatch.setattr(filters, "__file__", str(tmp_path / "_internal" / "engine" / "data" / "filters.py"))
    monkeypatch.setattr(corpus, "_CHECKED", {})            # filter again: the disk cache is written
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GDAPP_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert res.is_frozen() and res.checkout_root() is None
    folder = _plan_dir()
    assert folder.parent == tmp_path / "xdg" / "gdapp" / "corpus", folder
    assert list((tmp_path / "xdg" / "gdapp" / "corpus" / "filtered").glob("*.json"))  # checked SMILES
    assert not (tmp_path / ".cache").exists()                       # not the current directory
    # without XDG_CACHE_HOME: ~/.cache/gdapp
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _plan_dir().parent == tmp_path / "home" / ".cache" / "gdapp" / "corpus"
    # GDAPP_CACHE_DIR overrides both; an absolute cache_dir in a config is kept
    monkeypatch.setenv("GDAPP_CACHE_DIR", str(tmp_path / "mine"))
    assert _plan_dir().parent == tmp_path / "mine" / "corpus"
    assert res.cache_path(tmp_path / "abs") == tmp_path / "abs"


def test_an_installed_wheel_does_not_write_into_the_current_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(res, "checkout_root", lambda: None)
    monkeypatch.setenv("GDAPP_CACHE_DIR", str(tmp_path / "cache"))
    assert res.cache_path(".cache/corpus") == tmp_path / "cache" / "corpus"
    assert res.cache_path("corpora/x") == tmp_path / "cache" / "corpora" / "x"
