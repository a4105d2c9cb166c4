"""Reverse sampling: samplers (plain functions), guidance hooks, molecule generation."""
from engine.sampling.samplers import SAMPLERS, SamplingCancelled, get_sampler, time_grid

__all__ = ["SAMPLERS", "SamplingCancelled", "get_sampler", "time_grid"]
