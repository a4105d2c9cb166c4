"""Training throughput (molecules/s) of the ε-network on CPU and, when present, CUDA.

    .venv/bin/python bench/train_throughput.py [--configs small_test base production]
        [--molecules 256] [--steps 10] [--threads 2] [--devices cpu cuda]

Molecules: drug-like SMILES from RDKit's bundled ``Data/NCI/first_5K.smi`` (10–35 heavy
atoms, hydrogens added, one ETKDGv3 conformer each), turned into ``GraphSample`` items the
way the conformer corpus does. A timed step is the full training step as the trainer runs
it — batch diffusion process (cached eigendecompositions), noise, forward, loss,
backward, clipping, AdamW, EMA — excluding data loading (reported separately per molecule).
Prints one line per (config, device, precision) with batch size, edges per atom, steps/s
and molecules/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_molecules(count: int, seed: int = 0):
    from rdkit import Chem, RDConfig
    from rdkit.Chem import AllChem

    from engine.chem.graph import molecule_graph
    from engine.data.batching import GraphSample

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    lines = path.read_text().splitlines()
    rng = np.random.default_rng(seed)
    rng.shuffle(lines)
    samples = []
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    for line in lines:
        if len(samples) >= count:
            break
        mol = Chem.MolFromSmiles(line.split()[0])
        if mol is None or len(Chem.GetMolFrags(mol)) != 1 or not 10 <= mol.GetNumHeavyAtoms() <= 35:
            continue
        mol = Chem.AddHs(mol)
        if AllChem.EmbedMolecule(mol, params) != 0:
            continue
        g = molecule_graph(mol)
        pos = mol.GetConformer().GetPositions().astype(np.float32)
        bonds = torch.from_numpy(np.ascontiguousarray(g.bond_edges.T))
        samples.append(GraphSample(
            pos=torch.from_numpy(pos - pos.mean(0)), features=torch.from_numpy(g.features),
            bond_index=torch.cat([bonds, bonds.flip(0)], dim=1), laplacian=g.laplacian,
            masses=torch.from_numpy(g.masses.astype(np.float32)),
            atomic_numbers=torch.from_numpy(g.atomic_numbers), index=len(samples),
            smiles=line.split()[0]))
    return samples


class _ListTask:
    """A task over in-memory samples (the trainer's MoleculeTask without the corpus)."""

    kind = "molecule"

    def __init__(self, cfg, samples):
        from engine.training.tasks import MoleculeTask, _schedule
        self.cfg, self.train_set, self.val_set = cfg, samples, samples
        self.val_indices = []
        self.schedule = _schedule(cfg)
        self.prepare = MoleculeTask.prepare.__get__(self)
        self.stack_noise = MoleculeTask.stack_noise.__get__(self)

    def feature_dim(self):
        return int(self.train_set[0].features.shape[1])

    def collate(self, samples):
        from engine.data.batching import collate
        return collate(samples)

    def set_epoch(self, epoch):
        pass


def bench_one(config_name, device, precision, samples, steps, out_dir):
    from engine.data.batching import collate
    from engine.training.config import load_config
    from engine.training.trainer import Trainer

    cfg = load_config(ROOT / "resources" / "configs" / f"{config_name}.yaml")
    cfg.run.device = device
    cfg.run.precision = precision
    cfg.run.threads = 0
    cfg.data.cache_dir = "unused"
    trainer = Trainer(cfg, out_dir, task=_ListTask(cfg, samples))
    bs = cfg.data.batch_size
    batches = [collate([samples[(k * bs + i) % len(samples)] for i in range(bs)])
               for k in range(steps + 2)]

    def step(batch, k):
        trainer.model.train()
        prep = trainer.task.prepare(batch, trainer.device)
        St, eps, t, w = trainer._noised(prep, 1, k)
        per, _ = trainer._per_graph_loss(trainer.net, prep, St, eps, t)
        loss = (per * w).mean()
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), 1.0)
        trainer.optimizer.step()
        trainer.ema.update(trainer.model)
        return prep

    for k in range(2):                       # warm-up (eigendecomposition cache, allocator)
        step(batches[k], k)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for k in range(steps):
        prep = step(batches[k + 2], k + 2)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    # edges per atom on one batch (clean coordinates)
    with torch.no_grad():
        from engine.models.edges import molecule_edges
        g = trainer.model.prepare(prep.graph)
        ei, _ = molecule_edges(prep.x0, g.batch, g.num_graphs, g.topology, k=trainer.model.knn,
                               cutoff=trainer.model.cutoff)
    atoms = prep.x0.shape[0]
    return {"config": config_name, "device": device, "precision": trainer.use_bf16 and "bf16" or "fp32",
            "batch": bs, "atoms_per_mol": atoms / bs, "edges_per_atom": ei.shape[1] / atoms,
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "steps_per_s": steps / elapsed, "mols_per_s": steps * bs / elapsed}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small_test", "base"])
    parser.add_argument("--molecules", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--devices", nargs="+", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import tempfile
    t0 = time.perf_counter()
    samples = load_molecules(args.molecules)
    print(f"# {len(samples)} molecules prepared in {time.perf_counter() - t0:.1f} s "
          f"(ETKDG + graph); torch {torch.__version__}, {args.threads} CPU threads")
    # data-loading cost per molecule as the trainer sees it (corpus item -> GraphSample)
    from engine.chem.graph import graph_edges  # noqa: F401  (import cost outside timing)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"{'config':<12} {'device':<6} {'prec':<5} {'batch':>5} {'atoms/mol':>9} "
          f"{'edges/atom':>10} {'params':>8} {'steps/s':>8} {'mols/s':>8}")
    for name in args.configs:
        for device in devices:
            precisions = ["fp32", "bf16"] if device == "cuda" else ["fp32"]
            for prec in precisions:
                with tempfile.TemporaryDirectory() as tmp:
                    r = bench_one(name, device, prec, samples, args.steps, tmp)
                print(f"{r['config']:<12} {r['device']:<6} {r['precision']:<5} {r['batch']:>5} "
                      f"{r['atoms_per_mol']:>9.1f} {r['edges_per_atom']:>10.1f} {r['params']:>8} "
                      f"{r['steps_per_s']:>8.2f} {r['mols_per_s']:>8.1f}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
