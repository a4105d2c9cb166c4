"""The seed's benchmark: reconstruction of noised structures, diffusion vs simple baselines.

From the original task list ("Baseline-Vergleiche (Gaussian, Linear Interp, Random)",
"Performance Metrics (MSE, Smoothness, Energy)"). Clean structures ``S_0`` are noised with
the exact forward process to ``S_t`` (t in ``--times``) and reconstructed by

* the diffusion model: one step ``Ŝ_0(S_t, t)`` (the network's posterior-mean estimate)
  and reverse sampling from ``S_t`` to 0 (``--sampler``, ``--steps`` on
  ``torch.linspace(t, 0, steps + 1)``); for lattices the trained model when its checkpoint
  exists, and always the exact denoiser of a Gaussian fit of the data (one step = the
  posterior mean ``E[S_0 | S_t]``, and the same sampler driven by its exact ε);
* Gaussian smoothing ``exp(−τ L) S_t``, with and without ``Φ(t)^{-1}`` afterwards;
* linear interpolation ``(1 − w) S_t + w · target``, target the graph-neighbour average or
  the prior mean 0;
* random: a draw of the prior ``N(0, Σ(1))``.

τ and w are tuned per t on a held-out set (molecules: the validation split; lattices:
other fields). Metrics: MSE to ``S_0`` (molecules: centred, and after Kabsch alignment),
smoothness ``‖L Ŝ_0‖²_F`` and energy ``½‖M^{1/2}(Ŝ_0 − S_0)‖²`` (atomic masses; unit
masses on lattices). Prints markdown and writes ``--out`` (default docs/seed_benchmark.md)::

    nice -n 19 .venv/bin/python bench/seed_benchmark.py            # ~2-4 min on one core
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[1]
TAU_GRID = [0.0] + list(np.logspace(-3, 1.3, 30))
W_GRID = list(np.linspace(0.0, 1.0, 41))


# ----------------------------------------------------------------------------- domains
@dataclasses.dataclass
class Domain:
    """Structures on which methods are run and scored.

    ``S0``: molecules ``(N_total, 3)`` concatenated, lattices ``(M, N, 3)`` (model units);
    ``slices``: per-structure views; ``L``: block-diagonal Laplacian of the layout (for the
    neighbour average); ``masses``: ``(N_total,)`` or None; ``align``: Kabsch for molecules.
    """

    name: str
    process: object
    S0: torch.Tensor
    L: sp.csr_matrix
    masses: np.ndarray | None
    scale: float
    molecule: bool
    ptr: np.ndarray | None = None
    laplacians: list | None = None

    def structures(self, X):
        X = np.asarray(X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X, dtype=np.float64)
        if self.molecule:
            return [X[a:b] for a, b in zip(self.ptr[:-1], self.ptr[1:])]
        return list(X)

    def structure_laplacians(self):
        return self.laplacians if self.molecule else [self.L] * self.S0.shape[0]

    def structure_masses(self):
        if self.masses is None:
            return [None] * len(self.structures(self.S0))
        return [self.masses[a:b] for a, b in zip(self.ptr[:-1], self.ptr[1:])]

    def loss(self, S_hat) -> float:
        from engine.metrics.reconstruction import mse
        return float(np.mean([mse(a, b, align=self.molecule)
                              for a, b in zip(self.structures(S_hat), self.structures(self.S0))]))

    def metrics(self, S_hat) -> dict:
        from engine.metrics.reconstruction import mse, structure_metrics
        rows = []
        for a, b, L, m in zip(self.structures(S_hat), self.structures(self.S0),
                              self.structure_laplacians(), self.structure_masses()):
            r = structure_metrics(a, b, L, m, align=self.molecule, scale=self.scale)
            if self.molecule:
                r["mse_centred"] = mse(a, b, center=True) * self.scale ** 2
            rows.append(r)
        out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        out["mse_se"] = float(np.std([r["mse"] for r in rows], ddof=1) / np.sqrt(len(rows)))
        return out

    def neighbour_average(self, X):
        from engine.metrics.reconstruction import neighbour_average
        if self.molecule:
            return torch.as_tensor(neighbour_average(X, self.L))
        return torch.stack([torch.as_tensor(neighbour_average(x, self.L)) for x in X])

    def interpolate(self, St, target, w):
        return (1.0 - w) * St + w * target


def molecule_domains(corpus: Path, gamma, schedule, coord_scale, max_atoms, lam=0.0, limit=None):
    """(test domain with every stored conformer, tuning domain of validation molecules,
    the test GraphBatch for the network)."""
    from engine.data.batching import collate
    from engine.data.dataset import ConformerDataset
    from engine.process import GraphBatchDiffusion

    def build(split, all_conformers):
        ds = ConformerDataset(corpus, split, max_atoms=max_atoms, conformer="first", center=True)
        samples = []
        for i in range(len(ds) if limit is None else min(len(ds), limit)):
            s = ds[i]
            confs = ds.conformers(i) if all_conformers else ds.conformers(i)[:1]
            for c in confs:
                pos = torch.from_numpy(np.asarray(c - c.mean(0), dtype=np.float32))
                samples.append(dataclasses.replace(s, pos=pos))
        batch = collate(samples)
        proc = GraphBatchDiffusion(batch.laplacians, gamma=gamma, lam=lam, schedule=schedule,
                                   dtype=torch.float64, center=True)
        S0 = batch.pos.double() / coord_scale
        dom = Domain(f"molecules ({split})", proc, proc._centered(S0),
                     sp.block_diag(batch.laplacians, format="csr"), batch.masses.double().numpy(),
                     coord_scale, True, batch.ptr.numpy(), list(batch.laplacians))
        return dom, batch

    test, batch = build("test", True)
    tune, _ = build("val", False)
    return test, tune, batch


def lattice_domain(kind, shape, count, seed, process_kw, coord_scale, name):
    from engine.data.lattice import LatticeDataset
    from engine.graphs import grid_laplacian
    from engine.process import GraphDiffusion

    data = LatticeDataset(kind, shape, count, seed=seed)
    fields = torch.from_numpy(np.stack([data.sample(i) for i in range(count)])) / coord_scale
    L = grid_laplacian(shape)
    proc = GraphDiffusion(L, dtype=torch.float64, **process_kw)
    return Domain(name, proc, fields, sp.csr_matrix(L), None, coord_scale, False)


# ----------------------------------------------------------------------------- methods
def tuned_baselines(ev: Domain, tu: Domain, t: float, St_ev, St_tu, generator):
    """Rows ``(method, parameter text, S_hat)`` of the baselines at time t on ``ev``."""
    from engine.metrics.reconstruction import heat_smoothing, random_reconstruction, tune_scalar
    from engine.sampling.samplers import SAMPLING_PHI_FLOOR

    rows = [("noisy input S_t (no reconstruction)", "", St_ev)]
    tau, _ = tune_scalar(TAU_GRID, lambda x: tu.loss(heat_smoothing(tu.process, St_tu, x)))
    rows.append(("Gaussian smoothing exp(−τL) S_t", f"τ={tau:.3g}", heat_smoothing(ev.process, St_ev, tau)))
    tau2, _ = tune_scalar(TAU_GRID, lambda x: tu.loss(
        heat_smoothing(tu.process, St_tu, x, t=t, floor=SAMPLING_PHI_FLOOR)))
    rows.append(("Gaussian smoothing + Φ(t)⁻¹", f"τ={tau2:.3g}",
                 heat_smoothing(ev.process, St_ev, tau2, t=t, floor=SAMPLING_PHI_FLOOR)))
    nb_tu, nb_ev = tu.neighbour_average(St_tu), ev.neighbour_average(St_ev)
    w, _ = tune_scalar(W_GRID, lambda x: tu.loss(tu.interpolate(St_tu, nb_tu, x)))
    rows.append(("linear interp. S_t → neighbour mean", f"w={w:.3g}", ev.interpolate(St_ev, nb_ev, w)))
    w0, _ = tune_scalar(W_GRID, lambda x: tu.loss(tu.interpolate(St_tu, 0.0, x)))
    rows.append(("linear interp. S_t → prior mean 0", f"w={w0:.3g}", ev.interpolate(St_ev, 0.0, w0)))
    rows.append(("random (prior sample)", "", random_reconstruction(ev.process, St_ev, generator)))
    return rows


def model_rows(label, eps_model, process, St, t, sampler, steps, generator):
    """One-step ``Ŝ_0`` and a reverse run from ``S_t`` with ``eps_model`` on ``process``."""
    from engine.sampling.samplers import get_sampler

    one = process.s0_from_eps(St, t, eps_model(St, t))
    grid = torch.linspace(float(t), 0.0, steps + 1, dtype=torch.float64)
    run = get_sampler(sampler)(eps_model, St, process, grid, generator=generator)
    return [(f"{label}: one step Ŝ₀(S_t, t)", "", one),
            (f"{label}: {sampler} t→0, {steps} steps", "", run)]


def molecule_eps_model(model, batch, process):
    net = model.network
    prepared = net.prepare(batch) if hasattr(net, "prepare") else batch
    n_graphs = batch.num_graphs

    @torch.no_grad()
    def eps_model(x, t):
        tt = torch.full((n_graphs,), float(t), dtype=torch.float32)
        out = net(torch.as_tensor(x, dtype=torch.float32), tt, prepared).double()
        return process._centered(out)

    return eps_model


def lattice_eps_model(net, shape):
    from engine.models.lattice_net import LatticeGraph
    graph = LatticeGraph.from_shape(tuple(shape))

    @torch.no_grad()
    def eps_model(x, t):
        return net(torch.as_tensor(x, dtype=torch.float32), float(t), graph).double()

    return eps_model


# ----------------------------------------------------------------------------- tables
def table(rows, molecule: bool) -> str:
    if molecule:
        head = ("| method | tuned | MSE centred (Å²) | MSE Kabsch (Å²) | smoothness ‖LŜ₀‖² (Å²) "
                "| energy ½‖M^½(Ŝ₀−S₀)‖² (amu·Å²) |\n|---|---|---:|---:|---:|---:|")
        fmt = lambda r: (f"| {r['method']} | {r['param']} | {r['mse_centred']:.4f} | {r['mse']:.4f} ± {r['mse_se']:.4f} "  # noqa: E731
                         f"| {r['smoothness']:.2f} | {r['energy']:.2f} |")
    else:
        head = ("| method | tuned | MSE | smoothness ‖LŜ₀‖² | energy ½‖Ŝ₀−S₀‖² |\n"
                "|---|---|---:|---:|---:|")
        fmt = lambda r: (f"| {r['method']} | {r['param']} | {r['mse']:.4f} ± {r['mse_se']:.4f} | {r['smoothness']:.2f} "  # noqa: E731
                         f"| {r['energy']:.2f} |")
    return "\n".join([head] + [fmt(r) for r in rows])


def score_rows(dom, rows):
    out = []
    for method, param, S_hat in rows:
        out.append({"method": method, "param": param, **dom.metrics(S_hat)})
    return out


def summary_line(system, t, rows):
    ranked = sorted(rows, key=lambda r: r["mse"])
    base = [r for r in ranked if not (r["method"].startswith(("model", "trained", "exact")))
            and not r["method"].startswith("noisy")]
    best, best_base = ranked[0], base[0]
    what = "MSE after Kabsch (Å²)" if system == "molecules" else "MSE"
    return (f"- {system}, t = {t}: lowest {what} {best['mse']:.4f} ± {best['mse_se']:.4f} by "
            f"*{best['method']}*; best simple baseline *{best_base['method']}* "
            f"{best_base['mse']:.4f} ({best_base['mse'] / max(best['mse'], 1e-30):.2f}× the lowest).")


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(ROOT / "resources/models/molecule_egnn.pt"))
    p.add_argument("--lattice-checkpoint", default=str(ROOT / "resources/models/lattice_spin.pt"))
    p.add_argument("--corpus", default=None, help="built corpus dir (default: data_small.yaml's)")
    p.add_argument("--times", default="0.1,0.3,0.5")
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--max-atoms", type=int, default=None)
    p.add_argument("--molecules", type=int, default=None,
                   help="first N molecules of the test and validation splits (default: all)")
    p.add_argument("--lattice-shape", default="16,16")
    p.add_argument("--lattice-fields", type=int, default=64, help="test (and tuning) fields per system")
    p.add_argument("--fit-fields", type=int, default=512, help="fields for the Gaussian fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-molecules", action="store_true")
    p.add_argument("--out", default=str(ROOT / "docs/seed_benchmark.md"))
    return p.parse_args(argv)


def resolve_corpus(arg):
    if arg:
        return Path(arg)
    from engine.data.config import load_corpus_config
    from engine.data.corpus import build_corpus
    return Path(build_corpus(load_corpus_config(ROOT / "resources/configs/data_small.yaml"), progress=False))


def run_molecules(args, times, sections, summary):
    from engine.models.denoiser import load_denoiser
    from engine.sampling.samplers import SAMPLING_PHI_FLOOR

    model = load_denoiser(args.checkpoint, device="cpu")
    p = model.process_config
    corpus = resolve_corpus(args.corpus)
    ev, tu, batch = molecule_domains(corpus, float(p.get("gamma", 1.0)), model.schedule(),
                                     model.coord_scale, args.max_atoms, lam=model.lam,
                                     limit=args.molecules)
    ev.process.phi_floor = SAMPLING_PHI_FLOOR   # the network's Ŝ₀ is guarded as in sampling
    eps_model = molecule_eps_model(model, batch, ev.process)
    n_mol = len(set(batch.smiles))
    schedule = (f"cosine schedule B(1)={p.get('cosine_end', 10.0):g}" if p.get("schedule") == "cosine"
                else f"linear β {p.get('beta_min')}..{p.get('beta_max')}")
    sections.append(
        f"## Molecules\n\nModel `{Path(args.checkpoint).name}` (process γ={p.get('gamma')}, "
        f"λ={model.lam:g}, {schedule}, "
        f"coord_scale {model.coord_scale} Å). Test split of `{corpus.name}`: {n_mol} molecules, "
        f"{ev.ptr.shape[0] - 1} stored conformers (every one is an S₀); τ and w tuned on "
        f"{tu.ptr.shape[0] - 1} validation molecules (first conformer). Metrics are means over "
        f"the test conformers, in Å (model units × {model.coord_scale}).\n")
    for t in times:
        gen = torch.Generator().manual_seed(args.seed * 1000 + int(t * 1000))
        St_ev, _ = ev.process.noise(ev.S0, t, generator=gen)
        St_tu, _ = tu.process.noise(tu.S0, t, generator=gen)
        rows = model_rows("model", eps_model, ev.process, St_ev, t, args.sampler, args.steps, gen)
        rows += tuned_baselines(ev, tu, t, St_ev, St_tu, gen)
        scored = score_rows(ev, rows)
        clean = ev.metrics(ev.S0)
        scored.append({"method": "*clean S₀ (reference)*", "param": "", **clean})
        sections.append(f"### t = {t} (B(t) = {float(ev.process.integral(t)):.3f})\n\n"
                        + table(scored, True) + "\n")
        summary.append(summary_line("molecules", t, scored[:-1]))
        print(sections[-1], flush=True)


def run_lattices(args, times, sections, summary):
    from engine.metrics.reconstruction import GaussianModeModel
    from engine.process import make_schedule
    from engine.process.schedules import schedule_from_config

    shape = tuple(int(s) for s in args.lattice_shape.split(","))
    ckpt = Path(args.lattice_checkpoint)
    trained = None
    process_kw = dict(gamma=1.0, lam=0.1, schedule=make_schedule("linear", beta_min=0.1, beta_max=20.0))
    scale = 1.0
    note = (f"`{ckpt.name}` not found: no trained lattice model in this run; the diffusion rows use "
            "the exact denoiser of a Gaussian fit of the data.")
    if ckpt.is_file():
        from engine.models.checkpoint import read_network
        net, cfg = read_network(ckpt)
        lat = dict((cfg.get("data") or {}).get("lattice") or {})
        pc = cfg.get("process") or {}
        process_kw = dict(gamma=float(pc.get("gamma", 1.0)), lam=float(pc.get("lam", 0.1)),
                          schedule=schedule_from_config(pc))
        scale = float(pc.get("coord_scale", 1.0))
        trained = (str(lat.get("kind")), tuple(int(s) for s in lat.get("shape", ())), net)
        note = (f"`{ckpt.name}` found (trained on {trained[0]} fields {trained[1]}): its rows appear "
                f"for that system; every system also has the exact Gaussian-data denoiser.")
    sch = process_kw["schedule"]
    sch_text = (f"linear β {sch.beta_min}..{sch.beta_max}" if hasattr(sch, "beta_min") else "cosine")
    sections.append(
        f"## Lattices\n\nGrid {shape}, process γ={process_kw['gamma']}, λ={process_kw['lam']}, "
        f"{sch_text}, coord_scale {scale}. {note} Test: {args.lattice_fields} fields "
        f"(seed 102), tuning: {args.lattice_fields} fields (seed 101), Gaussian fit: "
        f"{args.fit_fields} fields (seed 100); the trained model (if any) used seed 0. MSE is "
        f"not centred (a field's mean is part of the signal); energy uses unit masses, so it is "
        f"(3N/2)·MSE per field.\n")
    systems = [("elastic", "elastic, thermal + deformation (k=1, m=0.1, T=1, deformation 0.1)"),
               ("spin", "smooth spin field (correlation length 3)")]
    for kind, title in systems:
        ev = lattice_domain(kind, shape, args.lattice_fields, 102, process_kw, scale, kind)
        tu = lattice_domain(kind, shape, args.lattice_fields, 101, process_kw, scale, kind)
        fit = lattice_domain(kind, shape, args.fit_fields, 100, process_kw, scale, kind)
        gauss = GaussianModeModel.fit(ev.process, fit.S0)
        sections.append(f"### {title}\n")
        for t in times:
            gen = torch.Generator().manual_seed(args.seed * 1000 + int(t * 1000) + 7)
            St_ev, _ = ev.process.noise(ev.S0, t, generator=gen)
            St_tu, _ = tu.process.noise(tu.S0, t, generator=gen)
            rows = [("exact Gaussian-data model: posterior mean E[S₀∣S_t]", "", gauss.posterior_mean(St_ev, t))]
            rows.append((f"exact Gaussian-data model: {args.sampler} t→0, {args.steps} steps", "",
                         model_rows("x", gauss, ev.process, St_ev, t, args.sampler, args.steps, gen)[1][2]))
            if trained is not None and trained[0] == kind and trained[1] == shape:
                from engine.sampling.samplers import SAMPLING_PHI_FLOOR
                ev.process.phi_floor = SAMPLING_PHI_FLOOR
                rows += model_rows("trained model", lattice_eps_model(trained[2], shape), ev.process,
                                   St_ev, t, args.sampler, args.steps, gen)
                ev.process.phi_floor = 1e-10
            rows += tuned_baselines(ev, tu, t, St_ev, St_tu, gen)
            scored = score_rows(ev, rows)
            scored.append({"method": "*clean S₀ (reference)*", "param": "", **ev.metrics(ev.S0)})
            sections.append(f"#### {kind}, t = {t} (B(t) = {float(ev.process.integral(t)):.3f})\n\n"
                            + table(scored, False) + "\n")
            summary.append(summary_line(kind, t, scored[:-1]))
            print(sections[-1], flush=True)


HEADER = """# Seed benchmark: reconstruction of noised structures

The original task list asked for "Baseline-Vergleiche (Gaussian, Linear Interp, Random)"
and "Performance Metrics (MSE, Smoothness, Energy)". This page is that benchmark, written
by `bench/seed_benchmark.py` (re-run it after replacing a model; every number below comes
from the run recorded at the end). Baselines and metrics live in
`engine/metrics/reconstruction.py` (tested in `tests/engine/test_seed_baselines.py`).

**Task.** Clean structures S₀ are noised with the exact forward process,
`S_t = Φ(t) S₀ + Σ(t)^{1/2} ε`, and reconstructed as Ŝ₀:

| method | definition |
|---|---|
| model: one step | `Ŝ₀ = Φ(t)⁻¹(S_t − Σ(t)^{1/2} ε̂(S_t, t))` (guarded Φ⁻¹ as in sampling): the network's estimate of E[S₀ given S_t] |
| model: sampler t→0 | reverse sampling started at S_t on the grid `linspace(t, 0, steps+1)`: a draw near S₀, not a mean |
| exact Gaussian-data model | lattices: per eigenmode i a Gaussian N(mᵢ, vᵢ) fitted to other fields; posterior mean `mᵢ + φᵢvᵢ(zᵢ − φᵢmᵢ)/(φᵢ²vᵢ + σᵢ²)` (Wiener filter), and the sampler driven by its exact ε |
| Gaussian smoothing | heat kernel `exp(−τL) S_t` on the graph, τ tuned |
| Gaussian smoothing + Φ⁻¹ | `Φ(t)⁻¹ exp(−τL) S_t` (guarded), τ tuned: also undoes the process's shrinkage |
| linear interp. → neighbour mean | `(1 − w) S_t + w D⁻¹W S_t`, w ∈ [0, 1] tuned |
| linear interp. → prior mean 0 | `(1 − w) S_t`, w ∈ [0, 1] tuned (shrinkage) |
| random | a draw of the prior N(0, Σ(1)), ignoring S_t |

τ (grid 0, 10⁻³..20) and w (grid 0..1 in steps of 0.025) are tuned per t on a held-out
set by the MSE (molecules: after Kabsch alignment). **Metrics:** MSE per coordinate
`‖Ŝ₀ − S₀‖²_F / 3N` (molecules: after centring, and after optimal proper rotation —
Kabsch; ± is the standard error of the mean over the test structures, so differences
smaller than about twice it are not resolved); smoothness `‖L Ŝ₀‖²_F` (lower is smoother; compare with the clean S₀ row: a
reconstruction much smoother than S₀ is over-smoothed, not better); energy
`½‖M^{1/2}(Ŝ₀ − S*)‖²_F` with S* = S₀ after the same alignment (atomic masses in amu for
molecules, unit masses for lattices).
"""

READING = """## Reading the numbers

- The one-step model estimate is the network's approximation of the posterior mean
  E[S₀ | S_t], which minimises the expected MSE; a sampler run from S_t instead returns a
  plausible structure, whose MSE is up to twice the posterior variance. The smoothing and
  interpolation baselines are linear filters of S_t, tuned on held-out data, so they are
  strong exactly when the data are close to Gaussian.
- On the elastic lattice the data *are* Gaussian with a covariance diagonal in the DCT
  basis (plus three smooth deformation modes), so the exact Gaussian-data posterior mean is
  essentially the optimal reconstruction there: a trained network can at best match it.
  Its covariance is a function of L, so the optimal filter is one too, and a tuned heat
  kernel exp(−τL) comes within the noise of it — the elastic rows are a calibration of
  the benchmark, not a contest.
- On molecules the rows compare the network with filters that know only the graph; the
  gap closes as t grows because less of S₀ is recoverable from S_t by anyone.
- A one-step estimate divides the network's ε̂ errors by φ in decayed modes (guarded at
  0.05, i.e. at most 10×), so at larger t it can be rougher than S₀ (smoothness above the
  clean row); a sampler run reaches t = 0 in small steps and does not amplify them.
- Smoothness alone is not a quality score: heavy smoothing gives small ‖LŜ₀‖² and large MSE;
  the useful comparison is with the clean S₀ row.
"""


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    times = [float(x) for x in args.times.split(",")]
    sections, summary = [], []
    start = time.perf_counter()
    if not args.skip_molecules:
        run_molecules(args, times, sections, summary)
    run_lattices(args, times, sections, summary)
    elapsed = time.perf_counter() - start
    cmd = "nice -n 19 .venv/bin/python bench/seed_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        HEADER,
        "## Summary (generated)\n\n" + "\n".join(summary) + "\n",
        *sections,
        READING,
        f"## Run\n\n`{cmd.strip()}` — {datetime.date.today().isoformat()}, {elapsed:.0f} s on one "
        f"CPU thread, seed {args.seed}, sampler {args.sampler}, {args.steps} steps.\n",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print("\n".join(summary))
    print(f"wrote {args.out} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
