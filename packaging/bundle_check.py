"""``gdapp --check-bundle``: headless checks that a packaged build carries everything the
app needs beyond what ``--self-test`` shows (which renders the demo with the Qt/VTK view).

Checks, each printed as ``ok: ...`` or ``FAILED: ...``:

* torch is the CPU build and computes;
* ``resources/`` is found (inside the bundle when frozen) with the demo molecules;
* the bundled molecule network (``resources/models/*.pt``) loads and samples the demo
  molecule for a few reverse-diffusion steps (finite coordinates);
* a 3-step training run of the small lattice recipe writes a checkpoint that loads back
  (torch.optim pulls in torch._dynamo/_inductor and sympy, which a trimmed bundle must keep);
* RDKit's data directory ships (``rdkit/Data``: feature definitions, the NCI SMILES the
  corpus reads) and every corpus source in ``engine.data.sources`` is readable;
* the Training panel's plan works out what Start will do, and a frozen app keeps the corpus
  (and its checked SMILES) under the user's cache directory, not the current one;
* PoseBusters runs on the demo molecule (when it is installed);
* imageio-ffmpeg has its ffmpeg binary (MP4 export).

Returns 0 when all pass, 1 otherwise. Runs in the project environment too:
``.venv/bin/python packaging/launcher.py --check-bundle``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

STEPS = 5


def _checks():
    import numpy as np
    import torch

    if torch.version.cuda is not None:
        raise AssertionError(f"torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda})")
    x = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    if float((x @ x.T).sum()) != 83.0:
        raise AssertionError("torch matmul gave a wrong result")
    yield f"torch {torch.__version__} (CPU)"

    from engine import api
    from engine.resources import resources_dir

    res = resources_dir()
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and not os.environ.get("GDAPP_RESOURCES") and \
            Path(frozen).resolve() not in res.resolve().parents:
        raise AssertionError(f"resources at {res}, outside the bundle {frozen}")
    demo = api.demo_molecule_path()
    if not demo.is_file():
        raise AssertionError(f"demo molecule {demo} is missing")
    yield f"resources at {res}"

    models = api.default_models()
    model = models.get("molecule")
    if model is None or not model.is_network:
        raise AssertionError(f"no bundled molecule network loads from {res / 'models'} "
                             f"(found {[p.name for p in api.bundled_model_paths()]})")
    structure = api.load_structures(demo)[0]
    traj = api.reverse_trajectory(structure, model, steps=STEPS, seed=0)
    frames = np.asarray(traj.frames)
    # the prior draw and one frame per step, then the polish and MMFF94 frames
    if (list(traj.stages).count("diffusion") != STEPS + 1 or frames.shape[1:] != (structure.n, 3)
            or not np.isfinite(frames).all()):
        raise AssertionError(f"sampling with {model.name} gave frames of shape {frames.shape} "
                             f"(finite: {bool(np.isfinite(frames).all())})")
    yield f"{model.name} sampled {structure.n} atoms in {STEPS} steps"

    with tempfile.TemporaryDirectory(prefix="gdapp-check-") as out:
        result = api.train(
            res / "configs" / "lattice_small.yaml", out,
            overrides={"optim.total_steps": 3, "optim.warmup_steps": 1, "run.ckpt_every": 3,
                       "run.val_every": 3, "run.log_every": 1, "run.device": "cpu",
                       "data.val_size": 4, "data.batch_size": 4,
                       "data.lattice": {"kind": "spin", "shape": [8, 8], "n_samples": 16,
                                        "correlation_length": 3.0}})
        if result.get("status") != "finished" or not result.get("checkpoint"):
            raise AssertionError(f"training did not finish: {result}")
        trained = api.load_model(result["checkpoint"])
    yield f"trained 3 steps (val loss {result['val_loss']:.3f}) and reloaded {trained.name}"

    from rdkit import RDConfig

    from engine.data.sources import SOURCES, read_source

    fdef = Path(RDConfig.RDDataDir) / "BaseFeatures.fdef"
    if not fdef.is_file():
        raise AssertionError(f"RDKit data file {fdef} is missing")
    counts = {name: len(read_source(name)) for name in SOURCES}
    if min(counts.values()) == 0:
        raise AssertionError(f"empty corpus source(s): {counts}")
    yield f"RDKit data at {RDConfig.RDDataDir}; corpus sources {counts}"

    from engine.resources import is_frozen, user_cache_dir

    plan = api.training_plan(res / "configs" / api.DEFAULT_TRAINING_CONFIG, measure=False)
    cache = user_cache_dir()
    if is_frozen():
        if cache.resolve() not in plan.corpus_dir.resolve().parents:
            raise AssertionError(f"the corpus of {api.DEFAULT_TRAINING_CONFIG} would go to "
                                 f"{plan.corpus_dir}, outside the user's cache {cache}")
        if not list((plan.corpus_dir.parent / "filtered").glob("*.json")):
            raise AssertionError(f"the checked corpus SMILES were not kept in {plan.corpus_dir.parent}")
        if (Path.cwd() / ".cache").exists():
            raise AssertionError(f"the app wrote {Path.cwd() / '.cache'} into the current directory")
    yield f"what Start will do with {api.DEFAULT_TRAINING_CONFIG}: corpus in {plan.corpus_dir}"

    try:
        import posebusters  # noqa: F401
    except ImportError:
        yield "PoseBusters not installed (skipped)"
    else:
        rows = api.quality_report(structure, structure.positions, posebusters=True)
        pb = [r for r in rows if r.name.startswith("PoseBusters")]
        if not pb or pb[0].value.startswith("failed"):
            raise AssertionError(f"PoseBusters did not run: {pb[0].value if pb else 'no row'}")
        yield f"PoseBusters ran on the demo molecule ({pb[0].value})"

    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    if not Path(exe).is_file():
        raise AssertionError(f"ffmpeg binary {exe} is missing")
    yield f"ffmpeg at {exe}"


def run() -> int:
    """Run the checks in order, stopping at the first failure; 0 when all pass."""
    gen = _checks()
    while True:
        try:
            message = next(gen)
        except StopIteration:
            print("bundle check passed")
            return 0
        except Exception as err:  # noqa: BLE001 -- report any failure, do not crash
            print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        print(f"ok: {message}", flush=True)
