"""The chemical-energy polish: L-BFGS on a :class:`engine.chem.energy.ChemicalEnergy`, run
per molecule on concatenated coordinates (every graph of a batch has its own history,
descent test and step), so a molecule's result does not depend on the others in the batch.
"""
from __future__ import annotations

import torch

from engine.chem.energy import ACTIVE_EVERY, ChemicalEnergy
from engine.errors import InputError

__all__ = ["polish"]


def _segment_dot(a: torch.Tensor, b: torch.Tensor, atom_graph: torch.Tensor, num_graphs: int):
    row_dot = (a * b) @ torch.ones(a.shape[-1], dtype=a.dtype, device=a.device)   # 3x faster than .sum(-1)
    return a.new_zeros(num_graphs).index_add_(0, atom_graph, row_dot)


def polish(energy: ChemicalEnergy, x: torch.Tensor, steps: int = 50, *,
           fixed: torch.Tensor | None = None, memory: int = 8, callback=None) -> torch.Tensor:
    """Lower ``energy`` from ``x (N_total, 3)`` (Å) with ``steps`` iterations of L-BFGS
    run **per molecule**: every graph of the batch has its own history, descent test and
    backtracking step, so a molecule's result does not depend on the others in the batch
    (``sample --shard`` relies on that). Rows in ``fixed`` (indices) do not move. Returns
    new coordinates in ``x``'s dtype.

    Each iteration costs one energy-and-gradient evaluation: the step is tried, and a
    molecule where it fails the Armijo test stays put and tries a quarter of it next
    time (backtracking carried across iterations, so a few stuck molecules do not make
    the whole batch backtrack); it falls back to steepest descent when the step has
    shrunk below 1e-4. Pairs far from both of their bounds contribute
    nothing; they are dropped from the work every ``ACTIVE_EVERY`` iterations (``ChemicalEnergy.active``).
    ``callback(iterations done, coordinates)`` is called after every iteration.
    """
    if steps <= 0 or x.numel() == 0:
        return x
    if not bool(torch.isfinite(x).all()):
        raise InputError("coordinates contain NaN or infinite values")
    B = energy.num_graphs
    graph = energy.atom_graph(x.shape[0]).to(x.device)
    y = x.detach().to(energy.dtype).clone()
    mask = torch.ones_like(y[:, :1])
    if fixed is not None and len(fixed):
        mask[torch.as_tensor(fixed, dtype=torch.long, device=y.device)] = 0.0
    work = energy.active(y)
    e, g = work.gradient(y)
    g = g * mask
    hist_s: list[torch.Tensor] = []
    hist_y: list[torch.Tensor] = []
    hist_rho: list[torch.Tensor] = []
    step = torch.ones(B, dtype=y.dtype, device=y.device)
    for it in range(int(steps)):
        # two-loop recursion with per-graph scalars
        q = g.clone()
        alphas = []
        for s_k, y_k, rho in zip(reversed(hist_s), reversed(hist_y), reversed(hist_rho)):
            a = rho * _segment_dot(s_k, q, graph, B)
            alphas.append(a)
            q -= a.index_select(0, graph)[:, None] * y_k
        if hist_s:
            sy = _segment_dot(hist_s[-1], hist_y[-1], graph, B)
            yy = _segment_dot(hist_y[-1], hist_y[-1], graph, B)
            gamma = torch.where((sy > 0) & (yy > 0), sy / yy.clamp(min=1e-30), torch.full_like(sy, 1e-2))
        else:
            gn = torch.sqrt(_segment_dot(g, g, graph, B))
            gamma = 0.1 / gn.clamp(min=1e-12)            # first step moves about 0.1 Å
        r = gamma.index_select(0, graph)[:, None] * q
        for (s_k, y_k, rho), a in zip(zip(hist_s, hist_y, hist_rho), reversed(alphas)):
            b = rho * _segment_dot(y_k, r, graph, B)
            r += s_k * (a - b).index_select(0, graph)[:, None]
        d = -r * mask
        slope = _segment_dot(g, d, graph, B)
        bad = ~(slope < 0)
        if bool(bad.any()):                             # not a descent direction: reset
            d = torch.where(bad.index_select(0, graph)[:, None], -g * 1e-2, d)
            slope = torch.where(bad, _segment_dot(g, d, graph, B), slope)
        stuck = step < 1e-4                             # backtracked to nothing: steepest descent
        if bool(stuck.any()):
            gn = torch.sqrt(_segment_dot(g, g, graph, B)).clamp(min=1e-12)
            d = torch.where(stuck.index_select(0, graph)[:, None], -g * (0.1 / gn)[graph, None], d)
            slope = torch.where(stuck, _segment_dot(g, d, graph, B), slope)
            step = torch.where(stuck, torch.ones_like(step), step)
        trial = y + step.index_select(0, graph)[:, None] * d
        e_trial, g_trial = work.gradient(trial)
        accepted = (e_trial <= e + 1e-4 * step * slope) & torch.isfinite(e_trial)
        y_new = torch.where(accepted.index_select(0, graph)[:, None], trial, y)
        e_new = torch.where(accepted, e_trial, e)
        g_new = torch.where(accepted.index_select(0, graph)[:, None], g_trial * mask, g)
        # one try per iteration: a molecule whose step fails the Armijo test stays where it
        # is and tries a quarter of that step at its next iteration (backtracking carried
        # over, so a few stuck molecules do not make the whole batch backtrack); one whose
        # step succeeds starts from the full step again
        step = torch.where(accepted, torch.ones_like(step), step * 0.25)
        if it % ACTIVE_EVERY == ACTIVE_EVERY - 1:
            work = energy.active(y_new)
            e_new, g_new = work.gradient(y_new)
            g_new = g_new * mask
        s_k, y_k = y_new - y, g_new - g
        sy = _segment_dot(s_k, y_k, graph, B)
        rho = torch.where(accepted & (sy > 1e-12), 1.0 / sy.clamp(min=1e-12), torch.zeros_like(sy))
        hist_s.append(s_k)
        hist_y.append(y_k)
        hist_rho.append(rho)
        if len(hist_s) > memory:
            hist_s.pop(0)
            hist_y.pop(0)
            hist_rho.pop(0)
        y, e, g = y_new, e_new, g_new
        if callback is not None:
            callback(it + 1, y.to(x.dtype))
    return y.to(x.dtype)
