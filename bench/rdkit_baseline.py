"""Speed of the RDKit baseline: ETKDGv3 + MMFF94 conformers per second.

Takes the first N drug-like molecules of ``Data/NCI/first_5K.smi`` (inside the rdkit
package; single fragment, 15-35 heavy atoms, only C N O S P F Cl Br I, <= 10 rotatable
bonds), generates K conformers each with ``engine.metrics.baselines.etkdg_conformers``
for every thread setting, and prints a table (embed, MMFF, total seconds, conformers/s).
With ``--posebusters`` it also times the PoseBusters "mol" checks per conformer and the
symmetry-aware RMSD matrix per molecule.

    .venv/bin/python bench/rdkit_baseline.py [--n 20] [--k 10] [--threads 0 1] [--posebusters]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

from rdkit import Chem, RDConfig
from rdkit.Chem import Descriptors, rdMolDescriptors

from engine.metrics.baselines import etkdg_conformers

ALLOWED = {6, 7, 8, 15, 16, 9, 17, 35, 53}


def drug_like(n: int):
    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
    out = []
    with open(path) as fh:
        for line in fh:
            mol = Chem.MolFromSmiles(line.split()[0])
            if mol is None or len(Chem.GetMolFrags(mol)) != 1:
                continue
            if not 15 <= mol.GetNumHeavyAtoms() <= 35:
                continue
            if any(a.GetAtomicNum() not in ALLOWED for a in mol.GetAtoms()):
                continue
            if rdMolDescriptors.CalcNumRotatableBonds(mol) > 10 or Descriptors.MolWt(mol) > 500:
                continue
            out.append(mol)
            if len(out) == n:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="molecules (default 20)")
    ap.add_argument("--k", type=int, default=10, help="conformers per molecule (default 10)")
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1], help="numThreads settings")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--posebusters", action="store_true", help="also time PoseBusters and RMSD")
    args = ap.parse_args()

    mols = drug_like(args.n)
    heavy = sum(m.GetNumHeavyAtoms() for m in mols) / len(mols)
    print(f"{len(mols)} molecules from first_5K.smi, mean {heavy:.1f} heavy atoms, "
          f"{args.k} conformers each; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'numThreads':>10} {'embed s':>9} {'MMFF s':>9} {'total s':>9} {'conf/s':>9} {'ms/conf':>9}")
    results = {}
    for threads in args.threads:
        embed = mmff = 0.0
        confs = []
        for mol in mols:
            out, timing = etkdg_conformers(mol, args.k, seed=args.seed, num_threads=threads,
                                           return_timing=True)
            embed += timing.embed_s
            mmff += timing.mmff_s
            confs.append(out)
        total = embed + mmff
        n = len(mols) * args.k
        results[threads] = confs
        print(f"{threads:>10} {embed:>9.2f} {mmff:>9.2f} {total:>9.2f} {n / total:>9.1f} "
              f"{1000 * total / n:>9.1f}")

    if args.posebusters:
        from engine.metrics.rmsd import rmsd_matrix
        from engine.metrics.validity import posebusters_pass

        confs = next(iter(results.values()))
        t0 = time.perf_counter()
        frac, table = posebusters_pass(confs)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        posebusters_pass(confs)   # energy-ratio ensembles now cached by InChI
        again = time.perf_counter() - t0
        print(f"PoseBusters 'mol': pass {frac:.3f} of {len(table)} conformers; "
              f"{1000 * first / len(table):.0f} ms/conformer first call (incl. reference "
              f"ensembles), {1000 * again / len(table):.0f} ms/conformer cached")
        from engine.metrics.validity import quick_checks

        t0 = time.perf_counter()
        for m in confs:
            for c in m.GetConformers():
                quick_checks(m, c.GetId())
        dt = time.perf_counter() - t0
        print(f"quick_checks (bonds, clashes, MMFF energy): {1000 * dt / len(table):.1f} ms/conformer")
        t0 = time.perf_counter()
        for m in confs:
            rmsd_matrix(m, m)
        dt = time.perf_counter() - t0
        print(f"RMSD matrices {args.k}x{args.k}: {1000 * dt / len(confs):.1f} ms/molecule")


if __name__ == "__main__":
    main()
