"""engine.data.corpus: build, determinism, resuming, scaffold split, filters, dataset."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from engine.chem.stereo import stereo_ok
from engine.data.batching import GraphBatch
from engine.data.config import CorpusConfig, corpus_config_from_dict, load_corpus_config
from engine.data.corpus import build_corpus, corpus_info, select_molecules
from engine.data.dataset import ConformerDataset, make_loader
from engine.data.filters import check_molecule
from engine.data.split import generic_scaffold
from engine.errors import ConfigError, InputError

CFG = CorpusConfig(max_molecules=40, num_confs=2, shard_size=16, seed=3)
ROOT = Path(__file__).resolve().parents[2]


def _hashes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(CFG, tmp_path_factory.mktemp("c") / "a", workers=2, progress=False)


def test_small_corpus_builds(corpus):
    info = corpus_info(corpus)
    assert info["molecules_requested"] == 40
    assert info["molecules_ok"] + info["molecules_failed"] == 40
    assert info["molecules_ok"] >= 38
    assert info["num_shards"] == 3
    assert sum(info["split_sizes"].values()) == info["molecules_ok"]
    ds = ConformerDataset(corpus, "all", conformer="first", center=False)
    assert len(ds) == info["molecules_ok"]
    total_confs = 0
    for i in range(len(ds)):
        s = ds[i]
        mol = Chem.AddHs(Chem.MolFromSmiles(s.smiles))
        # atom order is that of AddHs(MolFromSmiles(smiles))
        assert s.atomic_numbers.tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]
        assert s.pos.shape == (mol.GetNumAtoms(), 3) and s.pos.dtype == torch.float32
        assert s.bond_index.shape == (2, 2 * mol.GetNumBonds())
        assert s.laplacian.shape == (mol.GetNumAtoms(),) * 2
        np.testing.assert_allclose(np.asarray(s.laplacian.sum(axis=1)).ravel(), 0, atol=1e-12)
        confs = ds.conformers(i)
        assert 1 <= len(confs) <= CFG.num_confs
        total_confs += len(confs)
        for x in confs:  # stored targets respect the stereo of the stored SMILES
            assert stereo_ok(mol, x)
    assert total_confs == info["conformers"]


def test_same_seed_gives_byte_identical_cache(corpus, tmp_path):
    other = build_corpus(CFG, tmp_path / "b", workers=1, progress=False)
    assert _hashes(other) == _hashes(corpus)
    different = build_corpus(CorpusConfig(max_molecules=40, num_confs=2, shard_size=16,
                                          seed=4), tmp_path / "c", workers=2, progress=False)
    assert _hashes(different)["shards/shard_00000.zip"] != \
        _hashes(corpus)["shards/shard_00000.zip"]


def test_interrupted_build_resumes_without_recomputing(corpus, tmp_path):
    out = tmp_path / "r"

    class Interrupt(Exception):
        pass

    def stop(k):
        raise Interrupt(k)

    with pytest.raises(Interrupt):
        build_corpus(CFG, out, workers=2, progress=False, on_shard_written=stop)
    first = out / "shards" / "shard_00000.zip"
    assert first.is_file() and not (out / "corpus.json").exists()
    assert sorted(p.name for p in (out / "shards").glob("*.zip")) == ["shard_00000.zip"]
    mtime = first.stat().st_mtime_ns
    written = []
    build_corpus(CFG, out, workers=2, progress=False, on_shard_written=written.append)
    assert written == [1, 2]  # shard 0 was not recomputed
    assert first.stat().st_mtime_ns == mtime
    assert _hashes(out) == _hashes(corpus)
    # a complete corpus is reused as is
    again = []
    build_corpus(CFG, out, workers=2, progress=False, on_shard_written=again.append)
    assert again == []


def test_split_is_disjoint_by_scaffold(corpus):
    sets = {}
    for split in ("train", "val", "test"):
        ds = ConformerDataset(corpus, split)
        sets[split] = {ds.corpus_index(i): ds[i].smiles for i in range(len(ds))}
    idx = [set(v) for v in sets.values()]
    assert not (idx[0] & idx[1] or idx[0] & idx[2] or idx[1] & idx[2])
    scaffolds = {k: {generic_scaffold(s) for s in v.values()} for k, v in sets.items()}
    assert not scaffolds["train"] & scaffolds["val"]
    assert not scaffolds["train"] & scaffolds["test"]
    assert not scaffolds["val"] & scaffolds["test"]
    n = sum(len(v) for v in sets.values())
    assert len(sets["train"]) <= 0.8 * n and len(sets["train"]) >= 0.6 * n


@pytest.mark.parametrize("smiles, reason", [
    ("CC(=O)[O-].[Na+]", "multi-fragment"),
    ("c1ccccc1.Cl", "multi-fragment"),
    ("CCO.CCCC", "multi-fragment"),
    ("CC[Sn](CC)(CC)CC", "element Sn"),
    ("C[Hg]Cl", "element Hg"),
    ("[13CH3]CCCO", "isotope"),
    ("C[CH]CCC", "radical"),
    ("CO", "heavy atoms < 4"),
    ("C" * 41, "heavy atoms > 40"),
    ("C1CC", "unparseable"),
])
def test_filters_reject(smiles, reason):
    canonical, why = check_molecule(smiles)
    assert canonical is None and reason in why


def test_filters_accept_and_canonicalise():
    a, _ = check_molecule("OCC1=CC=CC=C1")
    b, _ = check_molecule("c1ccc(CO)cc1")
    assert a == b == Chem.MolToSmiles(Chem.MolFromSmiles("c1ccccc1CO"))
    assert check_molecule("C[N+](C)(C)CCO")[0] is not None  # a single charged fragment


def test_explicit_list_filters_and_records_failures(tmp_path):
    impossible = "N#C[C@@H]1[C@@H]2CC[C@H](C2)[C@H]1C(=O)c1ccccc1"  # infeasible bridge
    smiles = ["CCCCO", "OCCCC", "CC(=O)[O-].[Na+]", "C[Hg]Cl", impossible, "c1ccccc1CCN"]
    cfg = CorpusConfig(num_confs=2, shard_size=4)
    out = build_corpus(cfg, tmp_path / "x", smiles=smiles, workers=2, progress=False)
    info = corpus_info(out)
    assert info["molecules_requested"] == 3  # butanol once, no salt, no mercury
    assert info["rejected_by_filter"]["duplicate"] == 1
    assert info["molecules_failed"] == 1
    assert any("embedding failed" in r for r in info["failure_reasons"])
    ds = ConformerDataset(out, "all")
    kept = {ds[i].smiles for i in range(len(ds))}
    assert kept == {check_molecule(s)[0] for s in ("CCCCO", "c1ccccc1CCN")}


def test_other_corpus_in_out_dir_needs_overwrite(corpus, tmp_path):
    out = tmp_path / "o"
    cfg = CorpusConfig(num_confs=1, shard_size=4)
    build_corpus(cfg, out, smiles=["CCCCO"], workers=1, progress=False)
    with pytest.raises(ConfigError, match="different corpus"):
        build_corpus(cfg, out, smiles=["CCCCN"], workers=1, progress=False)
    build_corpus(cfg, out, smiles=["CCCCN"], workers=1, progress=False, overwrite=True)
    assert ConformerDataset(out, "all")[0].smiles == "CCCCN"
    with pytest.raises(InputError, match="not a corpus"):
        corpus_info(tmp_path)


def test_dataset_max_atoms_conformer_draws_and_loader(corpus):
    full = ConformerDataset(corpus, "all")
    sizes = [full[i].num_nodes for i in range(len(full))]
    cut = int(np.median(sizes))
    small = ConformerDataset(corpus, "all", max_atoms=cut)
    assert len(small) == sum(n <= cut for n in sizes) and len(small) < len(full)
    assert all(small[i].num_nodes <= cut for i in range(len(small)))
    # centred positions; draws depend on (seed, epoch, index) only
    s = full[0]
    np.testing.assert_allclose(s.pos.mean(0).numpy(), 0, atol=1e-5)
    multi = [i for i in range(len(full)) if full.num_conformers(i) > 1]
    draws = []
    for epoch in range(8):
        full.set_epoch(epoch)
        draws.append(tuple(full[i].pos.sum().item() for i in multi))
    assert len(set(draws)) > 1
    again = ConformerDataset(corpus, "all")
    again.set_epoch(3)
    assert tuple(again[i].pos.sum().item() for i in multi) == draws[3]
    # loader: seeded shuffling, GraphBatch items covering the data set once per epoch
    order = []
    for _ in range(2):
        loader = make_loader(ConformerDataset(corpus, "train"), batch_size=8, shuffle=True,
                             num_workers=2, seed=11)
        batches = list(loader)
        assert all(isinstance(b, GraphBatch) for b in batches)
        order.append(torch.cat([b.indices for b in batches]).tolist())
        assert sorted(order[-1]) == list(range(len(loader.dataset)))
        assert batches[0].pos.shape[0] == int(batches[0].ptr[-1])
    assert order[0] == order[1]
    assert order[0] != sorted(order[0])


def test_select_molecules_respects_config():
    mols, rejected = select_molecules(CorpusConfig(max_molecules=25, max_heavy_atoms=15))
    assert len(mols) == 25 and len(set(mols)) == 25
    assert all(Chem.MolFromSmiles(s).GetNumHeavyAtoms() <= 15 for s in mols)
    assert rejected["multi-fragment"] > 0 and rejected["element"] > 0


def test_config_validation(tmp_path):
    for name in ("data_small.yaml", "data_full.yaml"):
        cfg = load_corpus_config(ROOT / "resources" / "configs" / name)
        assert isinstance(cfg, CorpusConfig)
    assert load_corpus_config(ROOT / "resources/configs/data_small.yaml").max_molecules == 300
    bad = [
        ({"num_conf": 3}, "unknown key.*'num_conf'"),
        ({"num_confs": "3"}, "'num_confs' must be an integer"),
        ({"num_confs": 0}, "'num_confs' must be >= 1"),
        ({"prune_rms": -1}, "'prune_rms' must be >= 0"),
        ({"split": [0.5, 0.2, 0.2]}, "sum to 1"),
        ({"sources": ["nci", "zinc"]}, "unknown source 'zinc'"),
        ({"force_field": "gaff"}, "'force_field' must be"),
        ({"min_heavy_atoms": 30, "max_heavy_atoms": 10}, "larger than"),
        ({"max_molecules": True}, "'max_molecules' must be an integer"),
    ]
    for data, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            corpus_config_from_dict(data, where="test.yaml")
    p = tmp_path / "c.yaml"
    p.write_text("num_confs: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_corpus_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_corpus_config(tmp_path / "missing.yaml")


def test_cli_build_and_info(tmp_path, capsys):
    from engine.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("max_molecules: 6\nnum_confs: 1\nshard_size: 4\nmax_heavy_atoms: 12\n")
    out = tmp_path / "cli"
    assert main(["data", "build", "--config", str(cfg), "--out", str(out),
                 "--workers", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "6 ok" in text or "ok, " in text
    assert main(["data", "info", str(out)]) == 0
    info_text = capsys.readouterr().out
    assert f"{corpus_info(out)['molecules_ok']} ok" in info_text and "size on disk" in info_text
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_confs: -2\n")
    assert main(["data", "build", "--config", str(bad), "--out", str(tmp_path / "z")]) == 1
    assert "'num_confs' must be >= 1" in capsys.readouterr().err
