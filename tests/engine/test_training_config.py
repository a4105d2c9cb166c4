"""Typed training config: YAML loading, clear errors, shipped configs validate."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.training.config import config_from_dict, config_to_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "resources" / "configs"
GOOD = {"data": {"cache_dir": "corpus"}}


def test_defaults_and_round_trip():
    cfg = config_from_dict({"data": {"cache_dir": "x", "batch_size": 8},
                            "optim": {"lr": "1e-3", "total_steps": 10}})
    assert cfg.data.batch_size == 8 and cfg.optim.lr == 1e-3 and cfg.optim.total_steps == 10
    assert cfg.process.coord_scale == 1.5 and cfg.process.gamma == 4.0
    again = config_from_dict(config_to_dict(cfg))
    assert config_to_dict(again) == config_to_dict(cfg)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'batchsize'; did you mean 'batch_size'"):
        config_from_dict({"data": {"cache_dir": "x", "batchsize": 4}})
    with pytest.raises(ConfigError, match=r"unknown key 'optimizer'; did you mean 'optim'"):
        config_from_dict({**GOOD, "optimizer": {}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"optim\.total_steps must be an integer, got 'many'"):
        config_from_dict({**GOOD, "optim": {"total_steps": "many"}})
    with pytest.raises(ConfigError, match=r"run\.deterministic must be true or false"):
        config_from_dict({**GOOD, "run": {"deterministic": "yes please"}})
    with pytest.raises(ConfigError, match=r"data\.batch_size must be an integer, got True"):
        config_from_dict({"data": {"cache_dir": "x", "batch_size": True}})


def test_out_of_range_and_bad_choices():
    with pytest.raises(ConfigError, match=r"optim\.lr must be > 0"):
        config_from_dict({**GOOD, "optim": {"lr": 0}})
    with pytest.raises(ConfigError, match=r"optim\.ema_decay must be < 1"):
        config_from_dict({**GOOD, "optim": {"ema_decay": 1.0}})
    with pytest.raises(ConfigError, match=r"loss\.weighting: 'sigma' is not one of .*did you mean 'sigma2'"):
        config_from_dict({**GOOD, "loss": {"weighting": "sigma"}})
    with pytest.raises(ConfigError, match=r"beta_max .* must be >= beta_min"):
        config_from_dict({**GOOD, "process": {"beta_min": 5.0, "beta_max": 1.0}})
    with pytest.raises(ConfigError, match="unknown model 'egnnn'"):
        config_from_dict({**GOOD, "model": {"name": "egnnn"}})
    with pytest.raises(ConfigError, match="cache_dir"):
        config_from_dict({})


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("data:\n  cache_dir: x\nrun:\n  sed: 3\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: run: unknown key 'sed'; did you mean 'seed'"):
        load_config(wrong)


@pytest.mark.parametrize("name", ["small_test.yaml", "base.yaml", "production.yaml",
                                  "lattice_small.yaml", "selfcond_v.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.optim.total_steps >= 1
