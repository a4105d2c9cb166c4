"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
# 8 steps since the chemical-energy guidance and polish (below) make few-step samples valid.
# On 40 held-out drug-like molecules x 10 conformers (geometry checks of PoseBusters'
# "mol" set, in process): ancestral 6 / 8 / 10 steps + guidance + polish passed 98.0 /
# 98.5 / 98.5 % with AMR-R 1.368 / 1.358 / 1.340 Å (ancestral 50 without the energy:
# 1.242 Å); the network is ~75 % of the time, so 8 steps buy ~20 % speed for 0.02 Å.
# bench/conformer_targets.py and the README give the PoseBusters and speed figures.
DEFAULT_STEPS = 8

# Chemical-energy guidance and polish (engine.chem.energy): the weight of the energy
# against the network's estimate at sampler times t <= DEFAULT_GUIDANCE_START, and the
# L-BFGS iterations on every sample. Measured in bench/conformer_targets.py; see the README.
DEFAULT_ENERGY_GUIDANCE = 1.0
DEFAULT_GUIDANCE_START = 0.3
DEFAULT_POLISH_STEPS = 50

# Guard of Phi^{-1} for processes used in reverse sampling: an imperfect eps_hat is
# amplified at most 1/(2 floor) times in modes whose signal has decayed (their S_0 part is
# unknowable there; later steps, where phi ~ 1, recover it). The exact 1e-10 floor of
# GraphDiffusion is for roundtrips; sampling with a real network needs this one.
SAMPLING_PHI_FLOOR = 0.05
