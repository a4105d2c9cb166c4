"""packaging/container: the headless image's recipe. No container runtime works in this
project's sandbox, so the image itself is never built here (docs/container.md); these tests
check what the recipe relies on: its install is the README's set-up command and nothing else,
its entry point runs ``python -m engine``, and the files it copies into the image are enough
to run that entry point (sampling a molecule with the bundled model)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "packaging" / "container"
CONTAINERFILE = RECIPE / "Containerfile"
ENTRYPOINT = RECIPE / "entrypoint.sh"


def instructions(path: Path = CONTAINERFILE) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def readme_install_command() -> str:
    """The install half of the README's first set-up command (``bash tools/setup.sh``)."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    first = block.strip().splitlines()[0]
    return first.split("#", 1)[0].split("&&", 1)[0].strip()


def test_the_install_is_the_readmes_command_and_nothing_else():
    steps = instructions()
    runs = [args for word, args in steps if word == "RUN"]
    command = readme_install_command()
    assert command == "bash tools/setup.sh"
    assert len(runs) == 1, runs
    assert command in runs[0]
    # nothing installed twice: no package manager of its own beside setup.sh
    assert not re.search(r"\b(pip|pip3|apt-get|apt|conda|mamba|uv)\s+install\b", runs[0]), runs[0]
    # the CPU build by default, a CUDA build through the documented build argument
    args = dict(a.split("=", 1) for word, a in steps if word == "ARG" and "=" in a)
    assert args["TORCH_INDEX"].endswith("/whl/cpu")
    assert "PIP_EXTRA_INDEX_URL" in runs[0] and "$TORCH_INDEX" in runs[0]
    page = (ROOT / "docs" / "container.md").read_text()
    assert re.search(r"--build-arg TORCH_INDEX=\S*/whl/cu\d+", page)


def test_the_entry_point_runs_python_m_engine():
    steps = instructions()
    entry = [args for word, args in steps if word == "ENTRYPOINT"]
    assert len(entry) == 1
    argv = eval(entry[0], {})                               # the exec form: a JSON list
    assert argv == ["/opt/gdapp/packaging/container/entrypoint.sh"]
    assert ("WORKDIR", "/opt/gdapp") in steps               # where the repository is copied
    assert os.access(ENTRYPOINT, os.X_OK)
    script = ENTRYPOINT.read_text()
    assert re.search(r'exec "\$bin/python" -m engine "\$@"', script)


def _copied_tree(dest: Path) -> Path:
    """What the Containerfile's COPY lines put into /opt/gdapp, taken from the tracked files
    (a fresh clone's content: nothing ignored or untracked can make this pass)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split("\0")
    image = dest / "opt" / "gdapp"
    for word, args in instructions():
        if word != "COPY":
            continue
        *sources, target = shlex.split(args)
        assert not any(s.startswith("--") for s in sources), "COPY flags are not modelled here"
        for source in sources:                              # COPY semantics: a folder's
            src = source.rstrip("/")                        # content goes into the target,
            for path in tracked:                            # a file into the target folder
                if path == src:
                    where = image / target / Path(path).name
                elif path.startswith(src + "/"):
                    where = image / target / Path(path).relative_to(src)
                else:
                    continue
                if not (ROOT / path).is_file():             # deleted in this working tree
                    continue
                where.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / path, where)
    return image


def test_the_files_the_image_copies_are_enough_to_run_the_entry_point(tmp_path):
    image = _copied_tree(tmp_path)
    assert (image / "pyproject.toml").is_file() and (image / "tools" / "setup.sh").is_file()
    assert (image / "requirements" / "lock.txt").is_file()
    assert (image / "resources" / "models" / "molecule_egnn.pt").is_file()
    # the environment tools/setup.sh makes (.venv), borrowed from this checkout; the code
    # and resources come from the copy (PYTHONPATH before the editable install)
    (image / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if k not in ("GDAPP_RESOURCES", "PYTHONPATH")}
    env.update(PYTHONPATH=str(image), CUDA_VISIBLE_DEVICES="", QT_QPA_PLATFORM="offscreen")
    work = tmp_path / "work"                                # the image's WORKDIR, the user's files
    work.mkdir()
    entry = image / "packaging" / "container" / "entrypoint.sh"

    def run(*argv, timeout=300):
        return subprocess.run([str(entry), *argv], cwd=work, env=env, capture_output=True,
                              text=True, timeout=timeout)

    where = subprocess.run([str(image / ".venv" / "bin" / "python"), "-c",
                            "import engine.resources as r; print(r.__file__); print(r.resources_dir())"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).resolve().is_relative_to(image.resolve()) for p in where), where

    default = run()                                          # CMD ["--help"]
    assert default.returncode == 0 and "sample" in default.stdout and "train" in default.stdout
    for command in ("sample", "train"):
        shown = run(command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert f"usage: python -m engine {command}" in shown.stdout
    launcher = run("torchrun", "--help")
    assert launcher.returncode == 0 and "--nproc-per-node" in launcher.stdout

    (work / "in.smi").write_text("CC(=O)Nc1ccc(O)cc1 paracetamol\n")
    sampled = run("sample", "in.smi", "--out", "out.sdf", "--num-confs", "1", "--quiet")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    from rdkit import Chem

    records = [m for m in Chem.SDMolSupplier(str(work / "out.sdf"), removeHs=False)]
    assert len(records) == 1 and records[0].GetProp("_Name") == "paracetamol"
    assert records[0].GetIntProp("input_index") == 0
    assert records[0].GetProp("gdapp_model").startswith("molecule_egnn")
