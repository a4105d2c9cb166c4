"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
DEFAULT_STEPS = 50
