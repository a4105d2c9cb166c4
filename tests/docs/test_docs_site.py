"""The documentation site (mkdocs.yml, tools/docs.sh): it builds in strict mode, its index links
the README, the mathematics, the app guide and the API reference, the API pages are generated
from the docstrings of the modules they name, and a broken docstring cross-reference — a
Sphinx role naming nothing, or a Markdown reference to an object the site does not render —
fails the strict build (as it fails .ci/run)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")
# what the site needs besides docs/ (mkdocs.yml's hooks, watch list and handler paths)
SITE_INPUTS = ["mkdocs.yml", "docs", "engine", "tools/docs", "README.md", "notebooks",
               "resources/models/molecule_egnn.md"]


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run([str(MKDOCS), "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def hrefs(page: Path) -> set[str]:
    return set(re.findall(r'href="([^"#]+)', page.read_text()))


def test_the_index_links_the_readme_the_mathematics_the_app_guide_and_the_api(site):
    links = hrefs(site / "index.html")
    assert {"readme.html", "math.html", "app.html", "api/index.html"} <= links
    readme = (site / "readme.html").read_text()
    assert "graph-structured diffusion of 3D structures" in readme
    # the README's repository links (docs/math.md) point at the site's pages
    assert {"math.html", "app.html", "container.html"} <= hrefs(site / "readme.html")
    assert "../readme.html" not in (site / "math.html").read_text()     # ../README.md rewritten
    assert "readme.html" in hrefs(site / "math.html")
    # the notebook's figure is shown, and the notebook can be downloaded
    assert 'src="screenshots/notebook_frames.png"' in (site / "notebook.html").read_text()
    assert (site / "screenshots" / "notebook_frames.png").is_file()
    assert (site / "notebooks" / "quickstart.ipynb").is_file()
    # the container page and the sharded-sampling page link each other
    assert "sharded_sampling.html" in hrefs(site / "container.html")
    assert "container.html" in hrefs(site / "sharded_sampling.html")


@pytest.mark.parametrize("module, names", [
    ("engine.api", ["reverse_trajectory", "forward_trajectory", "Guidance", "Trajectory", "Structure",
                    "load_structures", "etkdg_conformer", "heavy_atom_rmsd", "Cancelled"]),
    ("engine.process", ["GraphDiffusion", "GraphDiffusion.noise", "GraphDiffusion.s0_from_eps",
                        "GraphDiffusion.posterior", "GraphBatchDiffusion", "LinearSchedule",
                        "CosineSchedule"]),
    ("engine.sampling.samplers", ["SAMPLERS", "sample_ancestral", "sample_ddim", "sample_heun", "time_grid",
                                  "get_sampler"]),
    ("engine.sampling.guidance", ["RegularizerGuidance", "EnergyGuidance", "FixedAtoms", "compose"]),
    ("engine.io", ["read_molecules", "write_molecules", "iter_molecules", "InputError"]),
    ("engine.graphs", ["grid_laplacian", "laplacian_from_edges"]),
])
def test_each_api_page_documents_its_modules_names(site, module, names):
    import importlib

    page = (site / "api" / f"{module}.html").read_text()
    anchors = set(re.findall(r'id="([\w.]+)"', page))
    for name in names:
        assert f"{module}.{name}" in anchors, f"{module}.{name} is not on its API page"
    # the text comes from the docstring in the code
    doc = importlib.import_module(module).__doc__.strip().splitlines()[0]
    first_words = re.sub(r"[`*]", "", doc).split(":")[0].split("(")[0].strip()[:30]
    assert first_words and first_words in re.sub(r"<[^>]+>", "", page).replace("&#39;", "'")


def _copy_of_the_site_inputs(dest: Path) -> Path:
    for name in SITE_INPUTS:
        src = ROOT / name
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest / "mkdocs.yml"


@pytest.mark.parametrize("reference, complaint", [
    (":func:`engine.io.read_molecule`", "names 'engine.io.read_molecule', which does not exist"),
    ("[read_molecules][engine.io.read_molecule]", "Could not find cross-reference target 'engine.io.read_molecule'"),
])
def test_a_broken_docstring_reference_fails_the_strict_build(tmp_path, reference, complaint):
    config = _copy_of_the_site_inputs(tmp_path / "repo")
    graphs = tmp_path / "repo" / "engine" / "graphs.py"
    text = graphs.read_text()
    assert text.startswith('"""')
    graphs.write_text(f'"""See {reference}. ' + text[3:])
    result = build(config, tmp_path / "site")
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert complaint in log, log[-3000:]
    assert re.search(r"Aborted with \d+ warnings? in strict mode", log), log[-3000:]


def test_the_same_references_spelled_right_build(tmp_path):
    """The counterpart: the references above, with the right name, pass the strict build."""
    config = _copy_of_the_site_inputs(tmp_path / "repo")
    graphs = tmp_path / "repo" / "engine" / "graphs.py"
    graphs.write_text('"""See :func:`engine.io.read_molecules` and '
                      '[read_molecules][engine.io.read_molecules]. ' + graphs.read_text()[3:])
    result = build(config, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "site" / "api" / "engine.graphs.html").read_text()
    assert page.count('href="engine.io.html#engine.io.read_molecules"') >= 2
