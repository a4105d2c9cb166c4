"""The training loop: AdamW, warm-up + cosine LR, clipping, EMA, bf16 on CUDA, validation,
CSV log, atomic checkpoints, exact resume, DDP, progress callback and cancellation.

Use::

    from engine.training.trainer import Trainer
    result = Trainer(cfg, out_dir, resume=False, on_progress=print, should_stop=lambda: False).run()

``result`` is a dict: ``status`` (``finished`` | ``stopped``), ``step``, ``val_loss``,
``checkpoint`` (path). A NaN/inf loss raises ``TrainingDiverged`` (the last good
checkpoint stays on disk). Files in ``out_dir``: ``checkpoint.pt`` (latest, rewritten
atomically every ``run.ckpt_every`` steps, on stop and at the end), ``log.csv`` (one row per
logged train step and per validation), ``config.yaml`` (the resolved config).

Randomness: the data order is a permutation per epoch seeded by ``(seed, epoch)``; the
conformer drawn for a molecule by ``(seed, epoch, index)`` (``ConformerDataset``); each
structure's diffusion time and noise by ``(seed, step, index)``. The state to resume is
therefore (step, epoch, position in epoch, model/EMA/optimizer/scheduler, time-sampler
history), plus the global torch/numpy/python RNG states for anything else.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine import devices
from engine.errors import CheckpointError, ConfigError, EngineError
from engine.models.checkpoint import load_checkpoint, save_checkpoint
from engine.models.outputs import eps_from_output, parameterization, s0_from_output, target_of, uses_self_cond
from engine.rng import capture_rng_state, restore_rng_state
from engine.training.config import TrainConfig, config_to_dict
from engine.training.distributed import BatchPlan, DistInfo, all_reduce_sum, barrier, init_distributed
from engine.training.losses import TimeSampler, per_graph_mse, time_weight
from engine.training.optimization import EMA, warmup_cosine
from engine.training.tasks import make_task, per_sample_draws

__all__ = ["Trainer", "TrainingDiverged", "resolve_device", "LOG_FIELDS"]

LOG_FIELDS = ["step", "epoch", "kind", "loss", "lr", "grad_norm", "structures_per_s", "elapsed_s"]
_TRAIN_TAG, _VAL_TAG = 1, 2
_SELF_COND_TAG = 3


class TrainingDiverged(EngineError):
    """The loss became NaN or infinite; the run stopped, the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    """``run.device`` as a ``torch.device`` (:func:`engine.devices.resolve_device`)."""
    return devices.resolve_device(name, error=ConfigError,
                                  unavailable="run.device is 'cuda' but no CUDA device is available")


class Trainer:
    """One training run (see the module docstring).

    ``on_progress(dict)`` receives ``{"event": "train"|"val"|"checkpoint"|"done"|"stopped",
    "step", "total_steps", "loss", "lr", "val_loss", "structures_per_s", "elapsed_s",
    "eta_s"}`` from rank 0; ``should_stop()`` is polled after every step — when it returns
    True the run writes a checkpoint and returns with status ``stopped``. Before the first
    step (set-up) ``on_progress`` also gets ``{"event": "corpus", ...}`` while a corpus is
    built (``engine.data.corpus.build_corpus``) and ``{"event": "setup", "phase"}``; a stop
    then raises ``engine.errors.Cancelled`` (corpus shards already written are kept).
    """

    def __init__(self, cfg: TrainConfig, out_dir, *, resume: bool = False,
                 on_progress: Callable[[dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 progress_bar: bool = False, task=None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.resume = resume
        self.on_progress = on_progress
        self.should_stop = should_stop or (lambda: False)
        self.progress_bar = progress_bar
        self.device = resolve_device(cfg.run.device)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self._setup_determinism()
        if task is None:
            # rank 0 first (it may build the corpus), then the others reuse what it built
            if self.dist.is_main:
                # with a progress callback the corpus build (if any) reports to it
                task = make_task(cfg, self.out, should_stop=self.should_stop,
                                 on_progress=self._emit if on_progress is not None else None)
            barrier()
            if task is None:
                task = make_task(cfg, self.out)
        self.task = task
        self._check_setup_stop("loading data")
        self._build_model()
        self.plan = BatchPlan(len(self.task.train_set), cfg.data.batch_size, cfg.run.seed, self.dist)
        self.time_sampler = TimeSampler(cfg.loss.t_sampling, t_min=cfg.loss.t_min)
        self.step = 0
        self.epoch = 0
        self.pos = 0
        self.last_val: float | None = None
        self.ckpt_path = self.out / "checkpoint.pt"
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        barrier()
        if resume:
            self._load()
        self._check_setup_stop("building the model")
        self.use_bf16 = (cfg.run.precision == "bf16"
                         or (cfg.run.precision == "auto" and self.device.type == "cuda"))

    # ------------------------------------------------------------------ set-up
    def _check_setup_stop(self, phase: str):
        """A stop before the first step ends the run without a checkpoint (nothing to
        keep yet besides the corpus shards): ``engine.errors.Cancelled``."""
        if not self.dist.enabled and self.should_stop():
            from engine.errors import Cancelled
            raise Cancelled(f"training stopped while {phase}, before its first step")

    def _setup_determinism(self):
        run = self.cfg.run
        if run.threads:
            torch.set_num_threads(run.threads)
        torch.manual_seed(run.seed + self.dist.rank)
        np.random.seed((run.seed + self.dist.rank) % 2**32)
        import random
        random.seed(run.seed + self.dist.rank)
        if run.deterministic:
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True)

    def _build_model(self):
        from engine.models import build_model
        cfg = self.cfg
        kwargs = dict(cfg.model.kwargs)
        if self.task.kind == "molecule":
            kwargs.setdefault("feature_dim", self.task.feature_dim())
        cfg.model.kwargs = kwargs            # resolved, so the checkpoint rebuilds the same net
        torch.manual_seed(cfg.run.seed)      # identical initial weights on every rank
        model = build_model(cfg.model.name, **kwargs)
        kind = getattr(model, "kind", None)
        if kind != self.task.kind:
            raise ConfigError(f"model {cfg.model.name!r} is a {kind} model but the data are "
                              f"{self.task.kind}s")
        self.model = model.to(self.device)
        self.ema = EMA(self.model, cfg.optim.ema_decay)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr,
                                           weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(o.warmup_steps, o.total_steps, o.min_lr_ratio))
        self.net: torch.nn.Module = self.model        # what the forward pass calls (DDP when distributed)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DDP(self.model, device_ids=ids)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "step": self.step, "epoch": self.epoch, "position": self.pos,
            "kind": self.task.kind,
            "config": config_to_dict(self.cfg),
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict(),
            "ema_updates": self.ema.updates,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "time_sampler": self.time_sampler.state_dict(),
            "rng": capture_rng_state(),
            "data": {"epoch": self.epoch, "position": self.pos, "seed": self.cfg.run.seed,
                     "world_size": self.dist.world_size},
            "metrics": {"val_loss": self.last_val},
        }

    def save(self) -> Path | None:
        if self.dist.is_main:
            save_checkpoint(self.ckpt_path, self._state())
            self._emit({"event": "checkpoint", "path": str(self.ckpt_path)})
        barrier()
        return self.ckpt_path

    def _keep(self) -> None:
        """A copy of this step's state as ``checkpoint_<step>.pt`` (``run.keep_every``)."""
        if self.dist.is_main:
            save_checkpoint(self.out / f"checkpoint_{self.step}.pt", self._state())
        barrier()

    def _load(self):
        if not self.ckpt_path.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {self.ckpt_path}")
        state = load_checkpoint(self.ckpt_path, map_location=self.device)
        saved = state.get("config") or {}
        mine = config_to_dict(self.cfg)
        for section in ("model", "process", "data"):
            a: object
            b: object
            if section == "data":
                keys = ("batch_size", "max_atoms", "kind")
                a = {k: saved.get("data", {}).get(k) for k in keys}
                b = {k: mine["data"][k] for k in keys}
            elif section == "process":
                # checkpoints written before a key existed (cosine_s, cosine_end) resume
                # with that key's default, which is what they were trained with
                from engine.training.config import ProcessConfig

                a = {**dataclasses.asdict(ProcessConfig()), **(saved.get("process") or {})}
                b = mine["process"]
            else:
                a, b = saved.get(section), mine[section]
            if a != b:
                raise CheckpointError(f"{self.ckpt_path}: cannot resume, the config's {section} "
                                      f"section differs from the checkpoint's ({a} vs {b})")
        if state["data"]["world_size"] != self.dist.world_size:
            raise CheckpointError(f"{self.ckpt_path}: written with {state['data']['world_size']} "
                                  f"process(es), resuming with {self.dist.world_size}; the data "
                                  f"order would change")
        try:
            self.model.load_state_dict(state["model"])
            self.ema.model.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.ckpt_path}: does not fit this model: {exc}") from None
        self.ema.updates = int(state["ema_updates"])
        self.time_sampler.load_state_dict(state["time_sampler"])
        self.step, self.epoch, self.pos = state["step"], state["epoch"], state["position"]
        self.last_val = state["metrics"].get("val_loss")
        restore_rng_state(state["rng"])
        if self.dist.is_main:
            self._truncate_log(self.step)

    # ------------------------------------------------------------------ logging
    def _emit(self, info: dict):
        if self.on_progress is not None and self.dist.is_main:
            self.on_progress(info)

    def _log_row(self, row: dict):
        if not self.dist.is_main:
            return
        path = self.out / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})
        if self._tb is not None:
            self._tb.add_scalar(f"{row['kind']}/loss", row["loss"], row["step"])

    def _truncate_log(self, step: int):
        path = self.out / "log.csv"
        if not path.exists():
            return
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    # ------------------------------------------------------------------ losses
    def _noised(self, prep, tag, step, val_times=None):
        """Per-structure times and noise -> ``(S_t, eps, t, importance_weights)``."""
        u, blocks = per_sample_draws(self.cfg.run.seed, tag, step, prep.ids, prep.sizes)
        if val_times is not None:
            t = torch.as_tensor(val_times, dtype=torch.float32)
            w = torch.ones_like(t)
        else:
            t, w = self.time_sampler.sample(torch.from_numpy(u))
        t, w = t.to(self.device), w.to(self.device)
        eps = self.task.stack_noise(blocks, self.device)
        St, eps = prep.process.noise(prep.x0, t, eps=eps)
        return St, eps, t, w

    def _self_cond_input(self, net, prep, St, t, use: bool):
        """The self-conditioning input of a ``self_cond`` network (``None`` otherwise): its
        own estimate Ŝ₀ at ``(S_t, t)`` made with a zero input and no gradient when ``use``,
        else zeros. Ŝ₀ of an ε network is guarded as the sampler guards it
        (``SAMPLING_PHI_FLOOR``), so that training sees what sampling passes."""
        if not uses_self_cond(self.model):
            return None
        if not use:
            return torch.zeros_like(St)
        from engine.defaults import SAMPLING_PHI_FLOOR
        with torch.no_grad():
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                out = net(St, t, prep.graph, self_cond=torch.zeros_like(St))
            return s0_from_output(parameterization(self.model), prep.process, St, t, out.float(),
                                  phi_floor=SAMPLING_PHI_FLOOR).detach()

    def _use_self_cond(self, tag: int, step: int) -> bool:
        """Whether this step feeds the network its own estimate: a coin per ``(seed, tag,
        step)`` (the same on every rank, and under resume)."""
        p = self.cfg.loss.self_cond_prob
        return bool(np.random.default_rng([self.cfg.run.seed, _SELF_COND_TAG, tag, step]).random() < p)

    def _per_graph_loss(self, net, prep, St, eps, t, self_cond=None):
        """Per-structure loss and ε̂ (whatever the network's parameterisation)."""
        kind = parameterization(self.model)
        extra = {} if self_cond is None else {"self_cond": self_cond}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            out = net(St, t, prep.graph, **extra)
        out = out.float()
        eps_hat = eps_from_output(kind, prep.process, St, t, out)
        if self.cfg.loss.kind == "dsm":
            score_hat = prep.process.score_from_eps(eps_hat, t)
            target = prep.process.score_from_eps(eps, t)
            per = per_graph_mse(score_hat, target, prep.batch, prep.num_graphs)
        else:
            target = target_of(kind, prep.process, prep.x0, t, eps)
            per = per_graph_mse(out, target, prep.batch, prep.num_graphs)
        return per, eps_hat

    def _regularizer(self, prep, St, t, eps_hat):
        lc = self.cfg.loss
        if not (lc.lambda_E or lc.lambda_G or lc.lambda_A):
            return None
        from engine.process import regularizers as R
        S0_hat = prep.process.s0_from_eps(St, t, eps_hat)
        if prep.batch is not None:      # molecules: concatenated graphs
            bonds = prep.extra["bond_index"]
            edges = bonds.T[bonds[0] < bonds[1]]
            ctx = R.RegularizerContext(
                S_ref=prep.x0, masses=prep.extra["masses"] / 12.0,
                laplacian_apply=R.laplacian_operator(prep.extra["laplacians"], torch.float32, self.device),
                edges=edges, ref_dirs=R.reference_directions(prep.x0, edges),
                batch=prep.batch, num_graphs=prep.num_graphs)
        else:
            ctx = R.RegularizerContext(
                S_ref=prep.x0,
                laplacian_apply=R.laplacian_operator(prep.extra["laplacians"], torch.float32, self.device),
                edges=prep.graph.edge_index.T[prep.graph.edge_index[0] < prep.graph.edge_index[1]])
        reg = R.combined(S0_hat, ctx, lc.lambda_E, lc.lambda_G, lc.lambda_A)
        sizes = torch.as_tensor(prep.sizes, dtype=reg.dtype, device=reg.device)
        signal = torch.exp(-self.task.schedule.integral(t)).to(reg.dtype)
        return reg / sizes * signal     # per atom, faded out where Ŝ_0 is mostly noise

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> float | None:
        """Unweighted ε-MSE of the EMA weights on fixed noise at times spread over [t_min, 1]
        (ε̂ converted from a v network's output; a self-conditioning network gets its own
        first estimate, as at sampling): comparable between parameterisations."""
        idx = self.task.val_indices
        if not idx:
            return None
        net = self.ema.model
        net.eval()
        total, count = 0.0, 0
        t_min = self.cfg.loss.t_min
        bs = self.cfg.data.batch_size
        for start in range(0, len(idx), bs):
            chunk = idx[start:start + bs]
            batch = self.task.collate([self.task.val_set[i] for i in chunk])
            prep = self.task.prepare(batch, self.device)
            times = [t_min + (1 - t_min) * (i + 0.5) / len(idx) for i in chunk]
            St, eps, t, _ = self._noised(prep, _VAL_TAG, 0, val_times=times)
            # as at sampling: a self-conditioning network gets its own first estimate
            sc = self._self_cond_input(net, prep, St, t, use=True)
            extra = {} if sc is None else {"self_cond": sc}
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                out = net(St, t, prep.graph, **extra)
            eps_hat = eps_from_output(parameterization(net), prep.process, St, t, out.float())
            per = per_graph_mse(eps_hat, eps, prep.batch, prep.num_graphs)
            total += float(per.sum())
            count += len(chunk)
        return total / count

    # ------------------------------------------------------------------ the loop
    def _batches(self):
        from torch.utils.data import DataLoader
        workers = self.cfg.data.num_workers
        while True:
            self.task.set_epoch(self.epoch)
            plan = list(self.plan.batches(self.epoch, self.pos))
            loader = DataLoader(self.task.train_set, batch_sampler=plan,
                                collate_fn=self.task.collate, num_workers=workers,
                                worker_init_fn=_seed_worker if workers else None,
                                generator=torch.Generator().manual_seed(self.cfg.run.seed + self.epoch))
            yield from loader
            self.epoch += 1
            self.pos = 0

    def _train_step(self, batch) -> tuple[float, float, int]:
        """One optimiser step on ``batch``: ``(loss, gradient norm, structures in it)``."""
        cfg = self.cfg
        self.model.train()
        prep = self.task.prepare(batch, self.device)
        St, eps, t, w = self._noised(prep, _TRAIN_TAG, self.step)
        sc = self._self_cond_input(self.model, prep, St, t, self._use_self_cond(_TRAIN_TAG, self.step))
        per, eps_hat = self._per_graph_loss(self.net, prep, St, eps, t, sc)
        weights = w * time_weight(cfg.loss.weighting, t, self.task.schedule, target=parameterization(self.model),
                                  snr_gamma=cfg.loss.snr_gamma).float()
        loss = (per * weights).mean()
        reg = self._regularizer(prep, St, t, eps_hat)
        if reg is not None:
            loss = loss + reg.mean()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            self._diverged(loss_value)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg.optim.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip))
        else:
            grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params
                                                                     if p.grad is not None])))
        if not math.isfinite(grad_norm):
            self._diverged(grad_norm, what="gradient norm")
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.model)
        self.time_sampler.update(t, per.detach(), all_reduce_sum if self.dist.enabled else None)
        self.step += 1
        self.pos += 1
        return loss_value, grad_norm, prep.num_graphs

    def _report_train(self, loss_value: float, grad_norm: float, lr: float, rate: float, elapsed: float,
                      eta: float) -> None:
        self._log_row({"step": self.step, "epoch": self.epoch, "kind": "train", "loss": repr(loss_value),
                       "lr": repr(lr), "grad_norm": repr(grad_norm), "structures_per_s": f"{rate:.2f}",
                       "elapsed_s": f"{elapsed:.2f}"})
        self._emit({"event": "train", "step": self.step, "total_steps": self.cfg.optim.total_steps,
                    "loss": loss_value, "lr": lr, "val_loss": self.last_val, "structures_per_s": rate,
                    "elapsed_s": elapsed, "eta_s": eta})

    def _validate_and_keep(self, started: float) -> None:
        """Validation, the checkpoint and the kept checkpoints due at this step."""
        run, total = self.cfg.run, self.cfg.optim.total_steps
        if self.step % run.val_every == 0 or self.step == total:
            self.last_val = self.validate()
            if self.last_val is not None:
                self._log_row({"step": self.step, "epoch": self.epoch, "kind": "val", "loss": repr(self.last_val),
                               "elapsed_s": f"{time.perf_counter() - started:.2f}"})
                self._emit({"event": "val", "step": self.step, "total_steps": total, "val_loss": self.last_val})
        if self.step % run.ckpt_every == 0 or self.step == total:
            self.save()
        if run.keep_every and self.step % run.keep_every == 0:
            self._keep()

    def run(self) -> dict:
        cfg = self.cfg
        total = cfg.optim.total_steps
        self._tb = None
        if self.dist.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            except Exception:  # noqa: BLE001 - TensorBoard is optional
                self._tb = None
            _write_config(self.out / "config.yaml", config_to_dict(cfg))
        bar = None
        if self.progress_bar and self.dist.is_main:
            from tqdm import tqdm
            bar = tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True)
        started = time.perf_counter()
        seen = 0
        first_step = self.step
        status = "finished"
        if self.step == 0 and self.last_val is None:
            self.last_val = self.validate()
            if self.last_val is not None:
                self._log_row({"step": 0, "epoch": 0, "kind": "val", "loss": repr(self.last_val),
                               "elapsed_s": "0.0"})
        batches = self._batches()
        try:
            while self.step < total:
                loss_value, grad_norm, structures = self._train_step(next(batches))
                seen += structures * self.dist.world_size
                elapsed = time.perf_counter() - started
                lr = float(self.scheduler.get_last_lr()[0])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
                if self.step % cfg.run.log_every == 0 or self.step == total:
                    self._report_train(loss_value, grad_norm, lr, seen / max(elapsed, 1e-9), elapsed,
                                       elapsed / max(1, self.step - first_step) * (total - self.step))
                self._validate_and_keep(started)
                if self.step < total and self._stop_requested():
                    self.save()
                    status = "stopped"
                    break
        finally:
            if bar is not None:
                bar.close()
            if self._tb is not None:
                self._tb.close()
        self._emit({"event": "done" if status == "finished" else "stopped", "step": self.step,
                    "total_steps": total, "val_loss": self.last_val})
        return {"status": status, "step": self.step, "val_loss": self.last_val,
                "checkpoint": str(self.ckpt_path)}

    def _stop_requested(self) -> bool:
        flag = torch.tensor([1.0 if self.should_stop() else 0.0])
        if self.dist.enabled:
            flag = all_reduce_sum(flag)
        return bool(flag.item() > 0)

    def _diverged(self, value, what="loss"):
        last = (f"the last good checkpoint is {self.ckpt_path} (step "
                f"{load_checkpoint(self.ckpt_path)['step']})" if self.ckpt_path.is_file()
                else "no checkpoint was written yet")
        msg = (f"training stopped: the {what} became {value} at step {self.step + 1}; {last}. "
               f"Lower optim.lr or raise optim.warmup_steps and resume from the checkpoint.")
        self._emit({"event": "error", "step": self.step, "message": msg})
        raise TrainingDiverged(msg)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    import random
    random.seed(seed)


def _write_config(path: Path, data: dict) -> None:
    import yaml
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)
