"""Training losses: ε-MSE, denoising score matching, time weighting λ(t), time sampling.

Per-structure errors are means over the structure's nodes and 3 coordinates, so molecules
of different sizes count equally; the batch loss is the (weighted) mean over structures.

Time weighting ``λ(t)`` (``weighting``) uses ``v(t) = 1 − exp(−B(t))``, the variance of a
mode with unit eigenvalue (a scalar proxy for the per-mode ``σ²_i(t)``):

* ``none``     λ = 1
* ``sigma2``   λ = v(t)  — the classic DSM weighting that makes score errors comparable
  across t (with the ε-loss it down-weights small t);
* ``min_snr``  Min-SNR-γ (Hang et al. 2023), ``snr = (1 − v)/v``, γ = ``snr_gamma``
  (default 5): the x₀-loss weight ``min(snr, γ)`` expressed for the network's target —
  ``min(snr, γ) / snr`` = ``min(1, γ/snr)`` for an ε target (caps the weight of nearly
  noise-free times), ``min(snr, γ) / (snr + 1)`` for a v target (``parameterization: v``).

Time sampling (``TimeSampler``): ``uniform`` on ``[t_min, 1]`` or ``importance``: a
histogram of the recent loss per time bin, sampling bin k with probability
``p_k ∝ sqrt(E[L²]_k)`` (mixed 10% with uniform) and returning importance weights
``1 / (K p_k)`` so the expected loss is unchanged (Nichol & Dhariwal 2021).
"""
from __future__ import annotations

import torch

__all__ = ["per_graph_mse", "eps_mse", "dsm_loss", "time_weight", "TimeSampler",
           "WEIGHTINGS", "T_SAMPLINGS"]

WEIGHTINGS = ("none", "sigma2", "min_snr")
T_SAMPLINGS = ("uniform", "importance")


def per_graph_mse(pred: torch.Tensor, target: torch.Tensor, batch: torch.Tensor | None = None,
                  num_graphs: int | None = None) -> torch.Tensor:
    """Mean squared error per structure.

    ``(N, 3)`` with ``batch (N,)`` → ``(num_graphs,)``; ``(B, N, 3)`` → ``(B,)``;
    ``(N, 3)`` without ``batch`` → ``(1,)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    dtype = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    sq = (pred.to(dtype) - target.to(dtype)) ** 2
    if sq.dim() == 3:
        return sq.mean(dim=(1, 2))
    per_node = sq.sum(-1)
    if batch is None:
        return per_node.mean(0, keepdim=True) / sq.shape[-1]
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1
    sums = per_node.new_zeros(num_graphs).index_add_(0, batch, per_node)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(sums.dtype)
    return sums / (counts * sq.shape[-1])


def _weighted_mean(per_graph: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return per_graph.mean()
    return (per_graph * weights.to(per_graph.dtype)).mean()


def eps_mse(eps_hat, eps, batch=None, num_graphs=None, weights=None) -> torch.Tensor:
    """``mean_g λ_g · mean_nodes ‖ε − ε̂‖²`` (a scalar)."""
    return _weighted_mean(per_graph_mse(eps_hat, eps, batch, num_graphs), weights)


def dsm_loss(score_hat, eps, t, process, batch=None, num_graphs=None, weights=None) -> torch.Tensor:
    """Denoising score matching ``mean_g λ_g ‖s_θ − ∇ log p(S_t|S_0)‖²`` with the target
    ``∇ log p(S_t | S_0) = −Σ(t)^{-1/2} ε`` from ``process.score_from_eps``."""
    target = process.score_from_eps(eps, t).to(score_hat.dtype)
    return _weighted_mean(per_graph_mse(score_hat, target, batch, num_graphs), weights)


def time_weight(kind: str, t: torch.Tensor, schedule, target: str = "eps",
                snr_gamma: float = 5.0) -> torch.Tensor:
    """``λ(t)`` ``(B,)`` for weighting ``kind`` and the network's ``target`` (``eps`` or
    ``v``; only ``min_snr`` depends on it), see the module docstring."""
    if kind == "none":
        return torch.ones_like(t)
    v = (-torch.expm1(-schedule.integral(t))).clamp(min=1e-12)
    if kind == "sigma2":
        return v
    if kind == "min_snr":
        snr = (1.0 - v) / v
        if target == "eps":
            return torch.clamp(snr_gamma / snr.clamp(min=1e-12), max=1.0)
        if target == "v":
            return torch.clamp(snr, max=snr_gamma) / (snr + 1.0)
        raise ValueError(f"unknown target {target!r}; choose eps or v")
    raise ValueError(f"unknown time weighting {kind!r}; choose one of {', '.join(WEIGHTINGS)}")


class TimeSampler:
    """Draws diffusion times and importance weights from given uniforms.

    ``sample(u)`` maps uniforms ``u (B,)`` in [0, 1) to ``(t (B,), w (B,))``. Taking the
    uniforms as input lets the caller derive them from per-sample seeds (reproducible
    under resume and independent of how a batch is split across processes).
    ``update(t, losses)`` feeds per-structure losses back (importance mode only);
    ``state_dict``/``load_state_dict`` checkpoint the history.
    """

    def __init__(self, kind: str = "uniform", t_min: float = 1e-3, bins: int = 20,
                 history_decay: float = 0.99, warmup_per_bin: int = 10, uniform_mix: float = 0.1):
        if kind not in T_SAMPLINGS:
            raise ValueError(f"unknown t sampling {kind!r}; choose one of {', '.join(T_SAMPLINGS)}")
        if not 0.0 <= t_min < 1.0:
            raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
        self.kind = kind
        self.t_min = float(t_min)
        self.bins = int(bins)
        self.decay = float(history_decay)
        self.warmup = int(warmup_per_bin)
        self.uniform_mix = float(uniform_mix)
        self.sq_loss = torch.zeros(self.bins, dtype=torch.float64)
        self.counts = torch.zeros(self.bins, dtype=torch.float64)

    # -- probabilities ---------------------------------------------------------------
    def bin_probabilities(self) -> torch.Tensor:
        uniform = torch.full((self.bins,), 1.0 / self.bins, dtype=torch.float64)
        if self.kind == "uniform" or bool((self.counts < self.warmup).any()):
            return uniform
        p = torch.sqrt(self.sq_loss.clamp(min=0.0))
        if float(p.sum()) <= 0.0:
            return uniform
        p = p / p.sum()
        return (1.0 - self.uniform_mix) * p + self.uniform_mix * uniform

    def sample(self, u: torch.Tensor):
        u = u.to(torch.float64)
        p = self.bin_probabilities()
        cdf = torch.cumsum(p, 0)
        cdf[-1] = 1.0
        k = torch.searchsorted(cdf, u.clamp(0.0, 1.0 - 1e-12), right=True).clamp(max=self.bins - 1)
        lo = torch.cat([torch.zeros(1, dtype=torch.float64), cdf[:-1]])[k]
        frac = ((u - lo) / p[k]).clamp(0.0, 1.0)          # position inside the bin
        width = (1.0 - self.t_min) / self.bins
        t = self.t_min + (k.to(torch.float64) + frac) * width
        w = 1.0 / (self.bins * p[k])
        return t.float(), w.float()

    def update(self, t: torch.Tensor, losses: torch.Tensor, all_reduce=None) -> None:
        """Record per-structure losses at times ``t``. ``all_reduce`` (optional callable
        summing a tensor across processes) keeps every rank's history identical."""
        if self.kind == "uniform":
            return
        t = t.detach().to("cpu", torch.float64)
        losses = losses.detach().to("cpu", torch.float64)
        k = ((t - self.t_min) / (1.0 - self.t_min) * self.bins).long().clamp(0, self.bins - 1)
        sums = torch.zeros(self.bins, dtype=torch.float64).index_add_(0, k, losses ** 2)
        cnt = torch.zeros(self.bins, dtype=torch.float64).index_add_(0, k, torch.ones_like(losses))
        if all_reduce is not None:
            both = all_reduce(torch.cat([sums, cnt]))
            sums, cnt = both[: self.bins], both[self.bins:]
        seen = cnt > 0
        mean_sq = torch.where(seen, sums / cnt.clamp(min=1), self.sq_loss)
        first = seen & (self.counts == 0)
        self.sq_loss = torch.where(first, mean_sq,
                                   torch.where(seen, self.decay * self.sq_loss
                                               + (1 - self.decay) * mean_sq, self.sq_loss))
        self.counts += cnt

    def state_dict(self) -> dict:
        return {"kind": self.kind, "sq_loss": self.sq_loss.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.sq_loss = state["sq_loss"].clone().to(torch.float64)
        self.counts = state["counts"].clone().to(torch.float64)
