"""What each steering slider does to the app's Denoise, by its value (issue 24).

    .venv/bin/python bench/slider_response.py --seeds 3 --json docs/slider_response.json

The app's reverse run (``engine.api.reverse_trajectory`` with the app's default settings,
the path Denoise takes) on the bundled celecoxib and five drug-like molecules (ETKDG input
poses), ``--seeds`` seeds each, for a range of each weight; one observable per slider,
as the tooltips and docs/app.md name them:

* λ_A (alignment with the input pose): heavy-atom RMSD of the result to the input pose;
  also on input poses minimised with MMFF94 first (``--mmff-poses``), where the floor is 0;
* λ_G (smoothness on the three-bond graph): heavy-atom radius of gyration of the result;
* λ_E (chemical energy): the chemical energy (``engine.chem.energy``) of the last
  diffusion frame; the guidance scale (with λ_E = 1) on the same observable.

Prints the mean and median per value and how many molecule-seed pairs moved the way the
slider says (``monotone``: a pair's observable never went the wrong way from one value
to the next).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from geometry import radius_of_gyration

SMILES = ("CC(C)Cc1ccc(cc1)C(C)C(=O)O", "COc1ccc(CCN(C)CCCC(C#N)(c2ccc(OC)c(OC)c2)C(C)C)cc1OC",
          "CCCCCCCCCC(=O)OCC", "O=C(NCCc1ccccc1)c1ccc(OCC)cc1", "CN1CCN(CC1)c1ccc(NC(=O)c2ccccc2)cc1")
SWEEPS = {"lambda_A": (0.0, 0.1, 1.0, 10.0), "lambda_G": (0.0, 1.0, 3.0, 10.0),
          "lambda_E": (0.0, 0.01, 0.1, 1.0, 10.0), "scale": (0.0, 0.1, 1.0, 10.0)}
DIRECTION = {"lambda_A": -1, "lambda_G": +1, "lambda_E": -1, "scale": -1}


def molecules(mmff: bool):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from engine import api

    out = [api.load_structures(api.demo_molecule_path())[0]]
    out += [api.structure_from_smiles(s, seed=0) for s in SMILES]
    if mmff:
        minimised = []
        for s in out:
            mol = Chem.Mol(s.mol)
            AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
            minimised.append(api.structure_from_mol(mol, name=s.name))
        out = minimised
    return out


def observable(slider, structure, traj, energy) -> float:
    from engine import api

    heavy = structure.atomic_numbers > 1
    if slider == "lambda_A":
        return api.heavy_atom_rmsd(structure, traj.final, structure.positions)
    if slider == "lambda_G":
        return radius_of_gyration(traj.final[heavy])
    last = max(i for i, s in enumerate(traj.stages) if s == "diffusion")
    x = torch.as_tensor(traj.frames[last] - traj.frames[last].mean(0))
    return float(energy.energy(x).sum())


def sweep(slider, values, structures, seeds, model) -> dict:
    from engine import api
    from engine.chem.energy import ChemicalEnergy, molecule_terms
    from engine.sampling.generate import prepare_molecule

    table = np.zeros((len(values), len(structures), seeds))
    seconds = []
    for m, structure in enumerate(structures):
        energy = ChemicalEnergy.for_batch([molecule_terms(prepare_molecule(structure.mol))], dtype=torch.float64)
        for j, value in enumerate(values):
            guidance = (api.Guidance(lambda_E=1.0, scale=value) if slider == "scale"
                        else api.Guidance(**{"lambda_E": api.DEFAULT_ENERGY_GUIDANCE, slider: value}))
            for seed in range(seeds):
                t0 = time.perf_counter()
                traj = api.reverse_trajectory(structure, model, seed=seed, guidance=guidance)
                seconds.append(time.perf_counter() - t0)
                table[j, m, seed] = observable(slider, structure, traj, energy)
    steps = np.diff(table, axis=0) * DIRECTION[slider]
    return {"slider": slider, "values": list(values), "observable": table.tolist(),
            "mean": table.mean(axis=(1, 2)).tolist(), "median": np.median(table, axis=(1, 2)).tolist(),
            "pairs_monotone": int((steps >= -1e-9).all(axis=0).sum()), "pairs": len(structures) * seeds,
            "seconds_per_run": float(np.mean(seconds))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sliders", default=",".join(SWEEPS), help="comma-separated: " + ", ".join(SWEEPS))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    from engine import api

    torch.set_num_threads(1)             # the app's worker thread count on 2 cores
    model = api.default_model("molecule")
    results = []
    for slider in args.sliders.split(","):
        structures = molecules(False)
        results.append(sweep(slider, SWEEPS[slider], structures, args.seeds, model))
        if slider == "lambda_A":
            r = sweep(slider, SWEEPS[slider], molecules(True), args.seeds, model)
            r["slider"] = "lambda_A (MMFF94-minimised input poses)"
            results.append(r)
    for r in results:
        print(f"{r['slider']}: " + "  ".join(f"{v:g}: {m:.3f} ({md:.3f})" for v, m, md in
                                            zip(r["values"], r["mean"], r["median"]))
              + f"   monotone pairs {r['pairs_monotone']}/{r['pairs']}, {r['seconds_per_run']:.2f} s a run")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "load_average": os.getloadavg(), "cpus": os.cpu_count()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
