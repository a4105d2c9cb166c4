"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
# 10 steps since the chemical-energy polish (below) makes few-step samples valid: on 40
# held-out drug-like molecules x 10 conformers, ancestral 10 + guidance + polish passed the
# PoseBusters geometry checks for 98.5 % of conformers (ancestral 50: 98.8 %) at 4-5x
# the speed, with AMR-R 1.34 against 1.24 A (bench/conformers.py; README).
DEFAULT_STEPS = 10

# Chemical-energy guidance and polish (engine.chem.energy): the weight of the energy
# against the network's estimate at sampler times t <= DEFAULT_GUIDANCE_START, and the
# L-BFGS iterations on every sample. Measured in bench/conformers.py; see the README.
DEFAULT_ENERGY_GUIDANCE = 1.0
DEFAULT_GUIDANCE_START = 0.3
DEFAULT_POLISH_STEPS = 50

# Guard of Phi^{-1} for processes used in reverse sampling: an imperfect eps_hat is
# amplified at most 1/(2 floor) times in modes whose signal has decayed (their S_0 part is
# unknowable there; later steps, where phi ~ 1, recover it). The exact 1e-10 floor of
# GraphDiffusion is for roundtrips; sampling with a real network needs this one.
SAMPLING_PHI_FLOOR = 0.05
