"""What Start will do (issue 27): the build estimate of the Training panel holds. On the
small corpus (resources/configs/data_small.yaml, 300 molecules, cached in a temporary
folder) two plans agree and the real build, made as the app makes it (niced worker
processes), takes between half and twice the estimate."""
from __future__ import annotations

import os
import time

from engine import api
from engine.resources import resource_path


def _configs(tmp_path):
    data = resource_path("configs", "data_small.yaml").read_text()
    assert "cache_dir: .cache/corpus" in data and "max_molecules: 300" in data
    (tmp_path / "data.yaml").write_text(data.replace("cache_dir: .cache/corpus",
                                                     f"cache_dir: {tmp_path / 'cache'}"))
    text = resource_path("configs", "small_test.yaml").read_text()
    (tmp_path / "train.yaml").write_text(text.replace("corpus_config: data_small.yaml",
                                                      "corpus_config: data.yaml"))
    return tmp_path / "train.yaml"


def test_the_build_estimate_is_stable_and_within_a_factor_2_of_the_real_build(tmp_path):
    config = _configs(tmp_path)
    never = lambda: False  # noqa: E731  (the app passes should_stop: niced worker processes)
    first = api.training_plan(config, should_stop=never)
    second = api.training_plan(config, should_stop=never)
    assert first.needs_build and first.molecules == 300 and first.sampled == second.sampled >= 10
    # the sample is the same molecules every time: its CPU cost does not jump between plans
    ratio = first.cpu_seconds_per_molecule / second.cpu_seconds_per_molecule
    assert 0.67 < ratio < 1.5, (first, second)
    assert second.idle_build_seconds <= second.build_seconds * 1.2
    t0 = time.perf_counter()
    out = api.build_training_corpus(config, should_stop=never)
    real = time.perf_counter() - t0
    assert (out / "corpus.json").is_file()
    estimate = second.build_seconds
    load = os.getloadavg()[0]
    assert real / 2 <= estimate <= 2 * real, \
        f"estimate {estimate:.1f} s, real build {real:.1f} s (load average {load:.1f})"
