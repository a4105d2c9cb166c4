"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
DEFAULT_STEPS = 50

# Chemical-energy guidance and polish (engine.chem.energy): the weight of the energy
# against the network's estimate at sampler times t <= DEFAULT_GUIDANCE_START, and the
# L-BFGS iterations on every sample. Measured in bench/conformers.py; see the README.
DEFAULT_ENERGY_GUIDANCE = 1.0
DEFAULT_GUIDANCE_START = 0.3
DEFAULT_POLISH_STEPS = 50
