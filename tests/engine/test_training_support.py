"""Shared helpers for the training tests (no tests here): a tiny corpus and configs."""
from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "resources" / "configs"

TINY_SMILES = [
    "CCO", "CCN", "CCC(=O)O", "c1ccccc1O", "CC(C)O", "CCOC(=O)C", "c1ccncc1", "CC(=O)N",
    "CCCCO", "OCC(O)CO", "c1ccccc1C", "CC(C)(C)O", "NCCO", "C1CCCCC1", "C1CCOC1", "CC#N",
    "CC(=O)C", "COC", "c1ccoc1", "c1ccsc1", "CCCl", "CCBr", "FC(F)F", "CC=CC", "C=CC=C",
    "CCS", "CSC", "NC(=O)N", "OC(=O)CC(=O)O", "c1cc(O)ccc1N", "CC(N)C(=O)O", "C1CC1",
    "C1CCC1", "CCCCCC", "OCCO", "CN(C)C", "CC(=O)OC", "c1ccc2ccccc2c1", "CCOCC", "N#CC#N",
]


def build_tiny_corpus(out: Path) -> Path:
    """40 small molecules, 2 MMFF conformers each (about a second on one core)."""
    from engine.data.config import CorpusConfig
    from engine.data.corpus import build_corpus
    cfg = CorpusConfig(num_confs=2, min_heavy_atoms=2, max_heavy_atoms=20, shard_size=64,
                       split=(0.8, 0.1, 0.1), max_ff_iters=200)
    return Path(build_corpus(cfg, out, smiles=TINY_SMILES, workers=1, progress=False))


def small_config(corpus: Path, **overrides):
    """``small_test.yaml`` pointed at ``corpus``; ``overrides`` as {"section.key": value}."""
    from engine.training.config import load_config
    cfg = load_config(CONFIGS / "small_test.yaml")
    cfg.data.cache_dir = str(corpus)
    cfg.data.corpus_config = None
    for key, value in overrides.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    return cfg
