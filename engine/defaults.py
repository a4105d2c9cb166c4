"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
# 4 steps, because the polish (below) now converges: on 40 held-out drug-like molecules
# x 10 conformers (in process, PoseBusters' "mol" geometry checks by a fast proxy,
# references ETKDGv3 + MMFF under another seed), with 300 polish iterations ancestral
# 3 / 4 / 5 / 8 / 12 steps gave AMR-R 1.167 / 1.128 / 1.157 / 1.177 / 1.197 Å, all >= 99 %
# valid; DDIM 4 / 6: 1.173 / 1.179 Å. More network steps do not buy better shapes once
# the local geometry is relaxed, and the network is the costly part of a step.
DEFAULT_STEPS = 4
# Lattices: the spin model's card (resources/models/lattice_spin.md) recommends the
# ancestral sampler with 50 steps; there is no polish to fix what few steps leave.
DEFAULT_LATTICE_STEPS = 50

# Chemical-energy guidance and polish (engine.chem.energy): the weight of the energy
# against the network's estimate at sampler times t <= DEFAULT_GUIDANCE_START, and the
# L-BFGS iterations on every sample. Polish 50 / 100 / 150 / 200 / 300 / 400 iterations
# (8 steps, then 4 steps from 150 on; same set-up as above) gave AMR-R 1.358 / 1.255 /
# 1.193 / 1.160 / 1.130 / ~1.13 Å and COV-R 0.075 / 0.16 / 0.19 / 0.21 / 0.225: a
# relaxed local geometry is most of what brings samples near the references. With 4
# steps and 300 iterations, guidance 0 / 1 / 3 and start 0.3 / 0.6 all lie within
# 0.01 Å; the guidance stays on for the app's λ_E slider. Measured in
# bench/conformer_targets.py; see the README.
DEFAULT_ENERGY_GUIDANCE = 1.0
DEFAULT_GUIDANCE_START = 0.3
DEFAULT_POLISH_STEPS = 300
# The last iterations of the polish leave out the torsion preferences (engine.chem.energy
# TORSION_WEIGHT = 0.03), so that no preference holds a bond or angle outside its bounds.
# Same set-up as above, 4 steps, polish 300, two seeds (AMR-R Å / COV-R, mean): without
# torsion preferences 1.141 / 0.22; weight 0.015: 1.092 / 0.26; 0.03: 1.093 / 0.28
# (0.06, one seed: 1.119 / 0.26). Weight 0.03 with preferences to the end: 1.116 / 0.31
# but 98.0 % valid (bonds); its last 50 iterations without them: 1.116 / 0.30, 99.5 %.
POLISH_SETTLE_STEPS = 50

# Guard of Phi^{-1} for processes used in reverse sampling: an imperfect eps_hat is
# amplified at most 1/(2 floor) times in modes whose signal has decayed (their S_0 part is
# unknowable there; later steps, where phi ~ 1, recover it). The exact 1e-10 floor of
# GraphDiffusion is for roundtrips; sampling with a real network needs this one.
SAMPLING_PHI_FLOOR = 0.05
