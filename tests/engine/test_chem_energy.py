"""The chemical energy (engine.chem.energy): bounds, planarity, stereo; batched over molecules
of different sizes; its polish and its guidance on Ŝ₀."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from engine.chem.energy import ChemicalEnergy, molecule_terms
from engine.chem.polish import polish
from engine.errors import InputError
from engine.sampling.guidance import EnergyGuidance

# different sizes, a tagged stereocentre, an E double bond, an amide, two aromatic rings
SMILES = ["c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)O", "C/C=C/C",
          "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"]


def _mmff(smiles, seed=3):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol


@pytest.fixture(scope="module")
def batch():
    mols = [_mmff(s) for s in SMILES]
    energy = ChemicalEnergy.for_batch([molecule_terms(m) for m in mols], dtype=torch.float64)
    x = torch.tensor(np.concatenate([m.GetConformer().GetPositions() for m in mols]))
    return mols, energy, x


def test_energy_is_near_zero_on_etkdg_mmff_conformers(batch):
    mols, energy, x = batch
    e = energy.energy(x)
    assert e.shape == (len(mols),)
    noisy = energy.energy(x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0),
                                                   dtype=x.dtype))
    for k, m in enumerate(mols):
        # tolerance: RDKit's DG bounds are tighter than MMFF's minimum (1-3 pairs within 0.1 Å)
        assert float(e[k]) < 0.025 * m.GetNumAtoms(), (SMILES[k], float(e[k]))
        assert float(e[k]) < 0.1 * float(noisy[k]), (SMILES[k], float(e[k]), float(noisy[k]))


def test_gradient_matches_finite_differences(batch):
    _, energy, x = batch
    y = x + 0.15 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    rng = np.random.default_rng(2)
    _assert_gradient_is_finite_differences(energy, y, rng.choice(len(y), size=12, replace=False))


def _assert_gradient_is_finite_differences(energy, y, atoms, h=1e-6):
    """Central differences (float64) against ``energy.gradient`` on the given atoms."""
    _, grad = energy.gradient(y)
    for atom in atoms:
        for axis in range(3):
            plus, minus = y.clone(), y.clone()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            fd = float((energy.energy(plus).sum() - energy.energy(minus).sum()) / (2 * h))
            assert abs(fd - float(grad[atom, axis])) < 1e-5 * max(1.0, abs(fd)), (atom, axis, fd)


def test_molecules_in_a_batch_do_not_interact(batch):
    mols, energy, x = batch
    alone = [ChemicalEnergy.for_batch([molecule_terms(m)], dtype=torch.float64) for m in mols]
    start = 0
    for k, m in enumerate(mols):
        n = m.GetNumAtoms()
        assert torch.allclose(energy.energy(x)[k], alone[k].energy(x[start:start + n])[0])
        start += n


def test_polish_flattens_a_buckled_benzene_and_restores_a_stretched_bond():
    benzene = _mmff("c1ccccc1")
    ethane = _mmff("CC")
    energy = ChemicalEnergy.for_batch([molecule_terms(benzene), molecule_terms(ethane)],
                                      dtype=torch.float64)
    xb = torch.tensor(benzene.GetConformer().GetPositions())
    # buckle the ring: alternate carbons 0.4 Å above and below its plane
    centred = xb - xb[:6].mean(0)
    normal = torch.linalg.svd(centred[:6])[2][-1]
    buckled = xb.clone()
    for i in range(6):
        buckled[i] += (0.4 if i % 2 else -0.4) * normal
    xe = torch.tensor(ethane.GetConformer().GetPositions())
    stretched = xe.clone()
    axis = (xe[1] - xe[0]) / (xe[1] - xe[0]).norm()
    stretched[1] += 0.5 * axis                      # C-C 1.53 -> 2.03 Å
    stretched[5:8] += 0.5 * axis                    # the hydrogens of that carbon go with it
    x = torch.cat([buckled, stretched])

    def ring_out_of_plane(coords):
        c = coords[:6] - coords[:6].mean(0)
        return float((c @ torch.linalg.svd(c)[2][-1]).abs().max())

    assert ring_out_of_plane(x) > 0.3
    y = polish(energy, x, steps=30)
    assert ring_out_of_plane(y[:6]) < 0.05
    nb = benzene.GetNumAtoms()
    cc = float((y[nb] - y[nb + 1]).norm())
    assert 1.45 < cc < 1.6, cc
    assert float(energy.energy(y).sum()) < 0.01 * float(energy.energy(x).sum())


def test_polish_keeps_fixed_atoms(batch):
    _, energy, x = batch
    y0 = x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    fixed = torch.tensor([0, 3, 20])
    y = polish(energy, y0, steps=10, fixed=fixed)
    assert torch.equal(y[fixed], y0[fixed])
    assert float(energy.energy(y).sum()) < float(energy.energy(y0).sum())


def test_no_nan_for_coincident_atoms_or_a_two_atom_molecule():
    h2 = Chem.AddHs(Chem.MolFromSmiles("[H][H]"))
    water = Chem.AddHs(Chem.MolFromSmiles("O"))
    energy = ChemicalEnergy.for_batch([molecule_terms(h2), molecule_terms(water)],
                                      dtype=torch.float64)
    x = torch.zeros((h2.GetNumAtoms() + water.GetNumAtoms(), 3), dtype=torch.float64)  # all coincident
    e, g = energy.gradient(x)
    assert torch.isfinite(e).all() and torch.isfinite(g).all()
    assert float(e.sum()) > 0                      # coincident atoms violate the lower bounds
    y = polish(energy, x + 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0),
                                              dtype=x.dtype), steps=20)
    assert torch.isfinite(y).all()
    assert 0.6 < float((y[0] - y[1]).norm()) < 0.85     # H-H bond length restored


def test_chirality_term_prefers_the_tagged_enantiomer():
    mol = _mmff("C[C@H](N)C(=O)O")
    energy = ChemicalEnergy.for_batch([molecule_terms(mol)], dtype=torch.float64)
    x = torch.tensor(mol.GetConformer().GetPositions())
    mirror = x * torch.tensor([-1.0, 1.0, 1.0], dtype=x.dtype)
    assert float(energy.energy(mirror)[0]) > float(energy.energy(x)[0]) + 1.0
    # the opposite tag prefers the mirror image
    other = Chem.AddHs(Chem.MolFromSmiles("C[C@@H](N)C(=O)O"))
    energy_other = ChemicalEnergy.for_batch([molecule_terms(other)], dtype=torch.float64)
    assert float(energy_other.energy(x)[0]) > float(energy_other.energy(mirror)[0]) + 1.0


def test_double_bond_term_prefers_the_tagged_isomer():
    trans = _mmff("C/C=C/C")
    cis = _mmff("C/C=C\\C")
    e_trans = ChemicalEnergy.for_batch([molecule_terms(trans)], dtype=torch.float64)
    x_trans = torch.tensor(trans.GetConformer().GetPositions())
    x_cis = torch.tensor(cis.GetConformer().GetPositions())
    assert float(e_trans.energy(x_cis)[0]) > float(e_trans.energy(x_trans)[0]) + 1.0


def _set_dihedral(mol, quad, degrees):
    from rdkit.Chem import rdMolTransforms

    copy = Chem.Mol(mol)
    rdMolTransforms.SetDihedralDeg(copy.GetConformer(), *quad, degrees)
    return torch.tensor(copy.GetConformer().GetPositions())


def test_torsion_preferences_are_etkdgs_and_prefer_staggered_chains():
    """ETKDG's pattern for an sp3 CH2-CH2 bond is 4 (1 + cos 3φ): zero when staggered,
    largest when eclipsed; the term reproduces that profile, and a view without
    preferences leaves only the validity terms."""
    from rdkit.Chem import rdDistGeom

    mol = _mmff("CCCCO")
    terms = molecule_terms(mol)
    found = rdDistGeom.GetExperimentalTorsions(mol, rdDistGeom.ETKDGv3())
    assert len(terms.torsions) == len([t for t in found if any(t["V"])]) > 0
    quad = next(tuple(t["atomIndices"]) for t in found if "CX4H2:2" in t["smarts"] and "CX4H2:3" in t["smarts"])
    energy = ChemicalEnergy.for_batch([terms], dtype=torch.float64)
    energy.torsion_weight = 1.0
    bare = energy.without_preferences()
    prof = {deg: float(energy.energy(_set_dihedral(mol, quad, deg))[0]) for deg in (180, 60, 120, 0)}
    base = {deg: float(bare.energy(_set_dihedral(mol, quad, deg))[0]) for deg in prof}
    pref = {deg: prof[deg] - base[deg] for deg in prof}
    # only the rotated bond's term changes: 4 (1 + cos 3φ) up to the other torsions' share
    assert pref[0] - pref[180] == pytest.approx(8.0, abs=0.3), pref
    assert pref[120] - pref[60] == pytest.approx(8.0, abs=0.3), pref
    assert pref[60] == pytest.approx(pref[180], abs=0.3), pref
    assert energy.torsion_weight == 1.0 and bare.torsion_weight == 0.0


def test_gradient_of_the_stereo_and_torsion_terms_matches_finite_differences():
    mols = [_mmff("F/C=C\\CCCC(=O)NC"), _mmff("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O")]
    energy = ChemicalEnergy.for_batch([molecule_terms(m) for m in mols], dtype=torch.float64)
    energy.torsion_weight = 1.0
    assert len(energy.torsions) and len(energy.dihedrals) and len(energy.chiral)
    x = torch.tensor(np.concatenate([m.GetConformer().GetPositions() for m in mols]))
    y = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype)
    z = y.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(energy.energy(z).sum(), z)
    e, grad = energy.gradient(y)
    assert torch.allclose(e, energy.energy(y), rtol=1e-12, atol=1e-12)
    assert torch.allclose(grad, auto, rtol=1e-9, atol=1e-9)
    _assert_gradient_is_finite_differences(energy, y, range(0, len(y), 5))


def test_polish_of_one_molecule_does_not_depend_on_the_rest_of_the_batch(batch):
    """Backtracking is per molecule: a badly strained neighbour in the batch (which keeps
    failing its step) does not change another molecule's result."""
    mols, energy, x = batch
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=x.dtype)
    y0 = x + 0.2 * noise
    n0 = mols[0].GetNumAtoms()
    strained = y0.clone()
    strained[n0:] = x[n0:] + 1.5 * noise[n0:]
    a = polish(energy, y0, steps=40)
    b = polish(energy, strained, steps=40)
    assert torch.allclose(a[:n0], b[:n0], rtol=0, atol=1e-9)
    assert float(energy.energy(a)[0]) < 0.05 * float(energy.energy(y0)[0])


def test_energy_guidance_weight_acts_by_value_monotonically(batch):
    _, energy, x = batch
    noisy = (x + 0.25 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4),
                                    dtype=x.dtype)) / 1.5
    energies = []
    for weight in (0.0, 0.01, 0.1, 1.0, 10.0):
        hook = EnergyGuidance(energy, weight, coord_scale=1.5, t_start=0.5, steps=2)
        out = hook(noisy, noisy, 0.3)
        energies.append(float(energy.energy(out * 1.5).sum()))
        assert torch.equal(hook(noisy, noisy, 0.9), noisy)        # above t_start: untouched
    assert all(b < a for a, b in zip(energies, energies[1:])), energies
    with pytest.raises(InputError):
        EnergyGuidance(energy, -1.0)


def test_energy_guidance_moves_no_atom_more_than_its_trust_region(batch):
    """On a collapsed estimate (what the network gives near t = 1) the energy's curvature
    bound fails (planarity volumes); the guidance still moves no atom more than
    ``GUIDANCE_MAX_MOVE`` per step, where it used to throw atoms metres away."""
    from engine.sampling.guidance import GUIDANCE_MAX_MOVE

    _, energy, x = batch
    collapsed = 0.05 * x / 1.5 + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1),
                                                    dtype=x.dtype)
    hook = EnergyGuidance(energy, 3.0, coord_scale=1.5, t_start=1.0, steps=2)
    out = hook(collapsed, collapsed, 1.0)
    moved = torch.linalg.vector_norm(out - collapsed, dim=-1) * 1.5          # Å
    assert torch.isfinite(out).all()
    assert float(moved.max()) <= 2 * GUIDANCE_MAX_MOVE + 1e-9
    assert float(moved.max()) > 0.5 * GUIDANCE_MAX_MOVE                      # and it does act
    assert float(energy.energy(out * 1.5).sum()) < float(energy.energy(collapsed * 1.5).sum())


def test_empty_molecule_is_refused_with_a_reason():
    with pytest.raises(InputError, match="no atoms"):
        molecule_terms(Chem.Mol())
