"""The training loop: two views, eq. 2-4 plus anti-collapse, SGD, EMA momentum encoder, per-cluster bank.

Schedule (see docs/method.md):
1. prime the bank with K keys of the momentum encoder;
2. warm-up (``train.warmup_epochs``): instance discrimination with plain negatives only — at initialisation
   all embeddings are nearly identical, and cluster-aware negatives would deadlock;
3. seed the cluster head's prototypes with k-means on the bank, then train with L = ηL_I + εL_D + λ·anti,
   cluster-aware negatives (with a floor), and a collapse check every epoch;
4. checkpoint atomically at every epoch end; ``resume`` continues from the last one. Each epoch draws its
   permutation and perturbations from a generator seeded by (seed, epoch), so a resumed run replays exactly.
"""

from __future__ import annotations

import csv
import io as _io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from semready import io
from semready.checkpoint import load_checkpoint, save_checkpoint
from semready.config import SemreadyConfig, dump_config
from semready.data import ImageData
from semready.errors import SemreadyError
from semready.infer import resolve_device
from semready.losses import (
    cluster_aware_negative_mask,
    cluster_discrimination,
    cluster_probabilities,
    instance_discrimination,
    marginal_entropy_deficit,
    normalized_size_entropy,
    total_loss,
)
from semready.model import Teacher, momentum_update
from semready.views import two_views

LOG_COLUMNS = ["epoch", "steps", "loss", "l_i", "l_d", "anti_collapse", "marginal_entropy", "empty_clusters",
               "revived", "collapsed", "lr", "images_per_s", "seconds", "cluster_sizes"]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class StepOutput:
    loss: float
    l_i: float
    l_d: float
    anti: float
    key_clusters: torch.Tensor


@dataclass
class Trainer:
    cfg: SemreadyConfig
    data: ImageData
    run_dir: Path
    progress: bool = True
    teacher: Teacher = field(init=False)
    device: torch.device = field(init=False)

    def __post_init__(self) -> None:
        validate_data_for_training(self.data, self.cfg)
        if self.cfg.train.threads:
            torch.set_num_threads(self.cfg.train.threads)
        torch.manual_seed(self.cfg.train.seed)
        self.device = resolve_device(self.cfg.train.device)
        self.teacher = Teacher(self.cfg).to(self.device)
        t = self.cfg.train
        params = list(self.teacher.encoder.parameters()) + list(self.teacher.cluster_head.parameters())
        self.optimizer = torch.optim.SGD(params, lr=t.lr, momentum=t.sgd_momentum, weight_decay=t.weight_decay)
        self.batch_size = min(t.batch_size, len(self.data))
        self.steps_per_epoch = len(self.data) // self.batch_size
        self.epoch = 0
        self.step = 0
        self.log: list[dict] = []
        self.seconds = 0.0

    # -- one step ---------------------------------------------------------------------------------------
    def clusters_active(self) -> bool:
        return self.epoch >= self.cfg.train.warmup_epochs

    def train_step(self, images: torch.Tensor, gen: torch.Generator) -> StepOutput:
        cfg, tm = self.cfg, self.teacher
        x1, x2 = two_views(images, cfg.views, gen)
        x1, x2 = x1.to(self.device, non_blocking=True), x2.to(self.device, non_blocking=True)
        tm.encoder.train()
        tm.momentum_encoder.train()
        a = tm.encoder(x1)
        with torch.no_grad():
            momentum_update(tm.encoder, tm.momentum_encoder, cfg.train.ema)
            b = tm.momentum_encoder(x2)
        keys = tm.bank.valid_keys()
        with torch.no_grad():
            key_clusters = tm.cluster_head(b).argmax(dim=1)  # i's cluster; also the epoch's size statistics

        zero = a.new_zeros(())
        l_d = anti = zero
        mask = None
        if self.clusters_active():
            bank_logits = tm.cluster_head(keys)  # organises the bank per cluster C_l
            if cfg.loss.cluster_loss:
                membership = torch.softmax(bank_logits, dim=1)
                l_d = cluster_discrimination(cluster_probabilities(a, keys, membership, cfg.loss.tau))
                if cfg.loss.anti_collapse:
                    anti = marginal_entropy_deficit(membership)
            if cfg.bank.cluster_aware_negatives:
                mask = cluster_aware_negative_mask(key_clusters, bank_logits.detach().argmax(dim=1),
                                                   cfg.bank.min_negatives)
        l_i = instance_discrimination(a, b, keys, cfg.loss.tau, mask)
        lam = cfg.loss.anti_collapse_weight if cfg.loss.anti_collapse else 0.0
        loss = total_loss(l_i, l_d, anti, cfg.loss.eta, cfg.loss.epsilon, lam)
        if not torch.isfinite(loss):
            raise SemreadyError(f"training diverged (loss {loss.item()}) at epoch {self.epoch + 1}: lower "
                                "train.lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        tm.bank.enqueue(b.detach())
        return StepOutput(loss.item(), l_i.item(), l_d.item(), anti.item(), key_clusters)

    # -- phases -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def prime_bank(self) -> None:
        """Fill the bank with real keys (one view of random items) so eq. 2 has negatives from step one."""
        gen = epoch_generator(self.cfg.train.seed, -1)
        k = self.teacher.bank.size
        idx = torch.randint(len(self.data), (k,), generator=gen)
        self.teacher.momentum_encoder.train()
        for start in range(0, k, self.batch_size):
            x, _ = two_views(self.data.images[idx[start:start + self.batch_size]], self.cfg.views, gen)
            self.teacher.bank.enqueue(self.teacher.momentum_encoder(x.to(self.device)))

    def seed_prototypes(self) -> None:
        """k-means on the bank's keys initialises the M prototypes (cluster decision boundaries)."""
        from sklearn.cluster import KMeans

        keys = self.teacher.bank.valid_keys().detach().cpu().numpy()
        km = KMeans(n_clusters=self.teacher.clusters, n_init=3, random_state=self.cfg.train.seed).fit(keys)
        self.teacher.cluster_head.seed(torch.from_numpy(km.cluster_centers_).float())

    @torch.no_grad()
    def revive_dead_clusters(self, sizes: torch.Tensor) -> int:
        """Move the prototype of every cluster that received no key this epoch onto a key of the largest
        cluster (split it). A dead prototype gets no gradient from eq. 3-4 or the anti-collapse term once its
        softmax share is ~0, so without this it stays dead (seen in our first prototype)."""
        dead = torch.nonzero(sizes == 0, as_tuple=True)[0].tolist()
        if not dead:
            return 0
        gen = epoch_generator(self.cfg.train.seed, 10_000 + self.epoch)
        keys = self.teacher.bank.valid_keys()
        protos = self.teacher.cluster_head.prototypes
        for d in dead:
            labels = self.teacher.cluster_head(keys).argmax(dim=1)
            members = keys[labels == torch.bincount(labels, minlength=len(sizes)).argmax()]
            pick = members[torch.randint(len(members), (1,), generator=gen).item()]
            noise = 0.05 * torch.randn(pick.shape, generator=gen).to(pick)
            protos[d] = F.normalize(pick + noise, dim=0) * protos.norm(dim=1).mean()
        return len(dead)

    def lr_at(self, epoch: int) -> float:
        """Cosine decay over the run; with a time budget, over whichever of epochs or minutes binds first."""
        t = self.cfg.train
        if not t.cosine_schedule:
            return t.lr
        frac = epoch / t.epochs
        if t.max_minutes:
            frac = max(frac, self.seconds / (60 * t.max_minutes))
        return t.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

    def run_epoch(self, progress: Progress | None) -> dict:
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.epoch)
        gen = epoch_generator(cfg.train.seed, self.epoch)
        order = torch.randperm(len(self.data), generator=gen)
        sums = np.zeros(4)
        sizes = torch.zeros(self.teacher.clusters, dtype=torch.long)
        task = progress.add_task(f"epoch {self.epoch + 1}/{cfg.train.epochs}", total=self.steps_per_epoch) \
            if progress else None
        t0 = time.perf_counter()
        for s in range(self.steps_per_epoch):
            batch = self.data.images[order[s * self.batch_size:(s + 1) * self.batch_size]]
            out = self.train_step(batch, gen)
            sums += (out.loss, out.l_i, out.l_d, out.anti)
            sizes += torch.bincount(out.key_clusters.cpu(), minlength=self.teacher.clusters)
            self.step += 1
            if progress:
                progress.update(task, advance=1, description=f"epoch {self.epoch + 1}/{cfg.train.epochs} "
                                f"loss {out.loss:.3f}")
        seconds = time.perf_counter() - t0
        if progress:
            progress.remove_task(task)
        self.epoch += 1
        self.seconds += seconds
        revived = self.revive_dead_clusters(sizes) if self.clusters_active() else 0
        mean = sums / self.steps_per_epoch
        entropy = normalized_size_entropy(sizes)
        collapsed = self.epoch > cfg.train.warmup_epochs and entropy < cfg.train.collapse_threshold
        return {
            "epoch": self.epoch, "steps": self.step, "loss": mean[0], "l_i": mean[1], "l_d": mean[2],
            "anti_collapse": mean[3], "marginal_entropy": entropy,
            "empty_clusters": int((sizes == 0).sum()), "revived": revived, "collapsed": bool(collapsed),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": self.steps_per_epoch * self.batch_size / seconds, "seconds": seconds,
            "cluster_sizes": sizes.tolist(),
        }

    # -- checkpoint ---------------------------------------------------------------------------------------
    def state(self, finished: bool = False) -> dict:
        return {"epoch": self.epoch, "step": self.step, "seconds": self.seconds, "finished": finished,
                "image_shape": list(self.data.images.shape[1:]), "items": len(self.data), "log": self.log}

    def save(self, finished: bool = False) -> None:
        # config.yaml is written with every checkpoint: a run killed in its first epoch leaves an empty
        # directory that a plain re-run may reuse, and a resumed run's extended epochs are recorded.
        io.write_text(self.run_dir / "config.yaml", dump_config(self.cfg))
        save_checkpoint(self.run_dir, self.teacher, self.optimizer, self.state(finished))
        write_log_csv(self.run_dir / "log.csv", self.log)

    def resume(self) -> None:
        state = load_checkpoint(self.run_dir, self.teacher, self.optimizer)
        if list(self.data.images.shape[1:]) != state["image_shape"] or len(self.data) != state["items"]:
            raise SemreadyError(f"--resume: the data differs from the run's ({state['items']} items of "
                                f"{state['image_shape']}): pass the same --data as the original run")
        self.epoch, self.step = state["epoch"], state["step"]
        self.seconds, self.log = state.get("seconds", 0.0), state.get("log", [])

    # -- the whole run -----------------------------------------------------------------------------------
    def fit(self, resume: bool = False, on_epoch=None) -> list[dict]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        else:
            self.prime_bank()
            if self.cfg.train.warmup_epochs == 0:
                self.seed_prototypes()
        budget = self.cfg.train.max_minutes
        with _progress(self.progress) as progress:
            while self.epoch < self.cfg.train.epochs:
                if self.epoch == self.cfg.train.warmup_epochs > 0:
                    self.seed_prototypes()
                row = self.run_epoch(progress)
                self.log.append(row)
                self.save()
                if on_epoch:
                    on_epoch(row)
                if row["collapsed"] and self.cfg.train.stop_on_collapse:
                    raise SemreadyError(f"clusters collapsed at epoch {row['epoch']} (marginal entropy "
                                        f"{row['marginal_entropy']:.2f}): raise loss.anti_collapse_weight")
                if budget is not None and self.seconds / 60 >= budget:
                    break
        return self.log


def validate_data_for_training(data: ImageData, cfg: SemreadyConfig) -> None:
    n, m = len(data), cfg.model.clusters
    if n == 0:
        raise SemreadyError(f"dataset {data.spec} is empty: point --data at a source with items")
    if n < max(m, 2):
        raise SemreadyError(f"dataset {data.spec} has {n} items but {m} clusters were asked for: use more "
                            f"items or fewer --clusters")


class _NullProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(enabled: bool):
    if not enabled:
        return _NullProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=True)


def write_log_csv(path: Path, rows: list[dict]) -> None:
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "cluster_sizes": " ".join(map(str, r["cluster_sizes"]))})
    io.write_text(path, buf.getvalue())


__all__ = ["Trainer", "epoch_generator", "validate_data_for_training"]
