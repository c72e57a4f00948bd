"""The training loop around :class:`~semready.teacher.model.Teacher`'s step: views, SGD, schedule, checkpoints,
logs.

Schedule (see docs/method.md):
1. prime the bank with K keys of the momentum encoder;
2. warm-up (``train.warmup_epochs``): instance discrimination with plain negatives only — at initialisation
   all embeddings are nearly identical, and cluster-aware negatives would deadlock;
3. seed the cluster head's prototypes with k-means on the bank, then train with L = ηL_I + εL_D + λ·anti,
   cluster-aware negatives (with a floor), and a collapse check every epoch;
4. checkpoint atomically at every epoch end; ``resume`` continues from the last one. Each epoch draws its
   permutation and perturbations from a generator seeded by (seed, epoch), so a resumed run replays exactly.

Under torchrun (see :mod:`semready.teacher.distributed` and docs/scaling.md) DDP wraps the whole Teacher; every
rank draws the same permutation and the same views of the global batch, trains on its slice of it, and writes
the all-gathered keys of the whole global batch into its bank, so every rank's bank and momentum encoder stay
identical; rank 0 alone writes checkpoints, logs and the progress bar.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import Progress

from semready.config import SemreadyConfig
from semready.data import ImageData, ordered_batches
from semready.errors import SemreadyError
from semready.progress import progress_bars
from semready.rundir import RunDir
from semready.teacher import distributed
from semready.teacher.checkpoint import load_checkpoint, save_checkpoint
from semready.teacher.device import resolve_device
from semready.teacher.losses import normalized_size_entropy
from semready.teacher.model import Teacher
from semready.teacher.tb import EpochWriter
from semready.teacher.views import two_views
from semready.teacher.weights import load_backbone_weights


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's permutation and views, seeded by (seed, epoch) so a resume replays it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class StepOutput:
    """One step's detached loss terms (:data:`LOSS_TERMS`, float (4,)) and key clusters, int (B,)."""

    losses: torch.Tensor  # (loss, L_I, L_D, anti-collapse), detached, on the device: no sync per step
    key_clusters: torch.Tensor


LOSS_TERMS = ("loss", "l_i", "l_d", "anti_collapse")


@dataclass
class Trainer:
    """Trains a :class:`~semready.teacher.model.Teacher` on ``data`` into ``run_dir``.

    Args:
        cfg: the run's config.
        data: the stream X (uint8 N×3×H×W, in memory or streamed from disk: ``data.stream``).
        run_dir: where checkpoints and log.csv go.
        progress: show progress bars.
        backbone: your own ψ instead of ``model.encoder`` (:meth:`Teacher.from_config`); pass the same
            architecture again to resume.

    >>> trainer = Trainer(cfg, load_data("sample"), Path("runs/x"))  # doctest: +SKIP
    >>> log = trainer.fit()                                          # doctest: +SKIP
    """

    cfg: SemreadyConfig
    data: ImageData
    run_dir: Path
    progress: bool = True
    backbone: torch.nn.Module | None = None
    teacher: Teacher = field(init=False)
    device: torch.device = field(init=False)

    def __post_init__(self) -> None:
        validate_data_for_training(self.data, self.cfg)
        if self.cfg.train.threads:
            torch.set_num_threads(self.cfg.train.threads)
        torch.manual_seed(self.cfg.train.seed)
        t = self.cfg.train
        self.batch_size = min(t.batch_size, len(self.data))  # the global batch, over all ranks
        world = distributed.env_info().world
        if self.batch_size % world:
            raise SemreadyError(f"batch of {self.batch_size} items cannot be split over {world} processes: make "
                                "train.batch_size a multiple of the number of processes (nproc_per_node x nnodes)")
        self.dist, self.device = distributed.setup(resolve_device(t.device))
        side = max(self.data.images.shape[-2:]) if self.data.images.ndim == 4 else None
        # model.weights are copied in by fit() on a fresh start only: a resumed run needs no weights file
        self.teacher = Teacher.from_config(self.cfg, self.backbone, image_size=side, load_weights=False).to(self.device)
        self.teacher.dist = self.dist
        if t.channels_last:
            self.teacher.to(memory_format=torch.channels_last)
        # a frozen backbone's parameters stay out of SGD (no weight decay creeping into them either)
        params = [p for p in [*self.teacher.encoder.parameters(), *self.teacher.cluster_head.parameters()]
                  if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=t.lr, momentum=t.sgd_momentum, weight_decay=t.weight_decay)
        if t.compile:
            self.teacher.compile_encoders()
        self.model = distributed.wrap_teacher(self.teacher, self.dist, self.device)
        self.steps_per_epoch = len(self.data) // self.batch_size
        self.epoch = 0
        self.step = 0
        self.log: list[dict] = []
        self.seconds = 0.0

    # -- one step ---------------------------------------------------------------------------------------
    def clusters_active(self) -> bool:
        """Whether warm-up is over (cluster-aware negatives and L_D on)."""
        return self.epoch >= self.cfg.train.warmup_epochs

    def views(self, images: torch.Tensor, gen: torch.Generator, shard: bool = True, whole: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """χ1, χ2 of a uint8 global batch N×3×H×W with the epoch's ``gen``, computed on the device.

        Under DDP (and ``shard``) a rank moves and perturbs only its slice, with the random parameters of the whole
        batch: every rank's generator stays in step, and the slices together are the views one process would make
        of the whole batch. ``whole``: ``images`` is already this rank's slice of a global batch of ``whole``
        items (:meth:`run_epoch` reads only its slice). Returns (χ1, χ2), float n×3×H×W each, standardised;
        n = N/world when sharded."""
        n, start = len(images), 0
        if whole is not None:
            n, start = whole, self.dist.rank * whole // self.dist.world
        elif shard and self.dist.enabled:
            start = self.dist.rank * n // self.dist.world
            images = images[start:start + n // self.dist.world]
        x1, x2 = two_views(self.to_device(images), self.cfg.views, gen, share=(start, n))
        if self.cfg.train.channels_last:
            x1, x2 = (x.contiguous(memory_format=torch.channels_last) for x in (x1, x2))
        return x1, x2

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        """A uint8 batch on the training device (through pinned memory on CUDA, asynchronously)."""
        if self.device.type == "cuda":
            return images.pin_memory().to(self.device, non_blocking=True)
        return images.to(self.device)

    def train_step(self, images: torch.Tensor, gen: torch.Generator) -> StepOutput:
        """One SGD step on a uint8 global batch N×3×H×W: its views from ``gen``, then :meth:`step_on_views`."""
        return self.step_on_views(*self.views(images, gen))

    def step_on_views(self, x1: torch.Tensor, x2: torch.Tensor, clusters_active: bool | None = None) -> StepOutput:
        """One SGD step of the teacher on prepared views x1, x2 (float B×3×H×W).

        ``clusters_active`` defaults to the schedule's (False during warm-up)."""
        active = self.clusters_active() if clusters_active is None else clusters_active
        out = self.model(x1, x2, clusters_active=active)
        loss = out.losses["loss"]
        if self.device.type == "cpu":  # free on the CPU; accelerators check the epoch's sums (no sync per step)
            self.check_finite(loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return StepOutput(torch.stack([out.losses[k] for k in LOSS_TERMS]).detach(), out.key_clusters)

    def check_finite(self, loss: torch.Tensor) -> None:
        """Raise a one-line :class:`SemreadyError` when any loss value is NaN or infinite."""
        if not bool(torch.isfinite(loss).all()):
            raise SemreadyError(f"training diverged (loss {loss.flatten()[0].item()}) at epoch {self.epoch + 1}: "
                                "lower train.lr or check the data")

    # -- phases -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def prime_bank(self) -> None:
        """Fill the bank with real keys (one view of random items) so eq. 2 has negatives from step one."""
        gen = epoch_generator(self.cfg.train.seed, -1)
        k = self.teacher.bank.size
        idx = torch.randint(len(self.data), (k,), generator=gen)
        self.teacher.momentum_encoder.train()
        for images in ordered_batches(self.data.images, idx, self.batch_size):
            # under DDP each rank keys its slice and all gather; a last chunk that does not split evenly is keyed
            # whole by every rank and rank 0's keys are kept, so every rank's bank is the same
            shard = len(images) % self.dist.world == 0
            x, _ = self.views(images, gen, shard)
            keys = self.teacher.keys_of(x)
            if shard:
                keys = distributed.all_gather_cat(keys, self.dist)
            else:
                distributed.broadcast_([keys], self.dist)
            self.teacher.bank.enqueue(keys)

    def seed_prototypes(self) -> None:
        """k-means on the bank's keys initialises the M prototypes (cluster decision boundaries); with
        ``train.kmeans_seed`` off the head keeps its random initialisation (the paper's plain backprop)."""
        from sklearn.cluster import KMeans

        if not self.cfg.train.kmeans_seed:
            return
        if self.dist.main:
            keys = self.teacher.bank.valid_keys().detach().cpu().numpy()
            km = KMeans(n_clusters=self.teacher.clusters, n_init=3, random_state=self.cfg.train.seed).fit(keys)
            self.teacher.cluster_head.seed(torch.from_numpy(km.cluster_centers_).float())
        distributed.broadcast_([self.teacher.cluster_head.prototypes.detach()], self.dist)

    @torch.no_grad()
    def revive_dead_clusters(self, sizes: torch.Tensor) -> int:
        """Move the prototype of every cluster that received no key this epoch onto a key of the largest
        cluster (split it). A dead prototype gets no gradient from eq. 3-4 or the anti-collapse term once its
        softmax share is ~0, so without this it stays dead."""
        dead = torch.nonzero(sizes == 0, as_tuple=True)[0].tolist()
        if not dead or not self.cfg.train.revive_dead_clusters:
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
        distributed.broadcast_([protos.detach()], self.dist)
        return len(dead)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based): cosine decay over the run; with a time budget, over whichever
        of epochs or minutes binds first."""
        t = self.cfg.train
        if not t.cosine_schedule:
            return t.lr
        frac = epoch / t.epochs
        if t.max_minutes:
            frac = max(frac, self.seconds / (60 * t.max_minutes))
        return t.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

    def run_epoch(self, progress: Progress | None) -> dict:
        """Train one epoch (LR from :meth:`lr_at`); return its log row (mean losses, sizes, entropy, speed)."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.epoch)
        gen = epoch_generator(cfg.train.seed, self.epoch)
        # layers that draw from the global generator (dropout, stochastic depth of torchvision/timm backbones)
        torch.manual_seed(gen.initial_seed() + 7919)  # replay exactly on resume, too
        order = torch.randperm(len(self.data), generator=gen)  # the same on every rank
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        sizes = torch.zeros(self.teacher.clusters, dtype=torch.long, device=self.device)
        task = progress.add_task(f"epoch {self.epoch + 1}/{cfg.train.epochs}", total=self.steps_per_epoch) \
            if progress else None
        t0 = time.perf_counter()
        # this rank's slice of every global batch: streamed data decodes only what the rank trains on
        world, rank = self.dist.world, self.dist.rank
        steps = order[:self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, self.batch_size)
        mine = steps[:, rank * self.batch_size // world:(rank + 1) * self.batch_size // world]
        for s, batch in enumerate(ordered_batches(self.data.images, mine.flatten(), mine.shape[1])):
            out = self.step_on_views(*self.views(batch, gen, whole=self.batch_size))
            sums += out.losses.double()
            sizes += torch.bincount(out.key_clusters, minlength=self.teacher.clusters)
            self.step += 1
            if progress:
                progress.update(task, advance=1)
                if s % 10 == 0:  # reading the loss is a device sync: not every step
                    progress.update(task, description=f"epoch {self.epoch + 1}/{cfg.train.epochs} "
                                    f"loss {out.losses[0].item():.3f}")
        sums = distributed.all_reduce_sum(sums, self.dist) / self.dist.world
        sizes = distributed.all_reduce_sum(sizes, self.dist).cpu()
        self.check_finite(sums)
        for module in (self.teacher.encoder, self.teacher.momentum_encoder):
            distributed.average_buffers_(module, self.dist)  # per-rank BatchNorm statistics -> one model
        seconds = time.perf_counter() - t0
        if self.dist.enabled:  # rank 0's clock for every rank: the schedule (lr_at) and the budget agree
            clock = torch.tensor([seconds], dtype=torch.float64, device=self.device)
            distributed.broadcast_([clock], self.dist)
            seconds = float(clock.item())
        if progress:
            progress.remove_task(task)
        active = self.clusters_active()  # this epoch's phase: the last warm-up epoch's prototypes are not seeded yet
        self.epoch += 1
        self.seconds += seconds
        revived = self.revive_dead_clusters(sizes) if active else 0
        mean = (sums / self.steps_per_epoch).tolist()
        entropy = normalized_size_entropy(sizes)
        collapsed = self.epoch > cfg.train.warmup_epochs and entropy < cfg.train.collapse_threshold
        return {
            "epoch": self.epoch, "steps": self.step, "loss": mean[0], "l_i": mean[1], "l_d": mean[2],
            "anti_collapse": mean[3], "marginal_entropy": entropy,
            "empty_clusters": int((sizes == 0).sum()), "revived": revived, "collapsed": bool(collapsed),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": self.steps_per_epoch * self.batch_size / seconds, "seconds": seconds,
            "processes": self.dist.world,  # a resumed run may continue on another process count
            "cluster_sizes": sizes.tolist(),
        }

    # -- checkpoint ---------------------------------------------------------------------------------------
    def state(self, finished: bool = False) -> dict:
        """The JSON state a checkpoint carries: position, elapsed seconds, data shape and per-epoch log."""
        return {"epoch": self.epoch, "step": self.step, "seconds": self.seconds, "finished": finished,
                "image_shape": list(self.data.images.shape[1:]), "items": len(self.data), "log": self.log}

    def save(self, finished: bool = False) -> None:
        """Write config.yaml, the checkpoint and log.csv (rank 0 only)."""
        if not self.dist.main:
            return
        # config.yaml is written with every checkpoint: a run killed in its first epoch leaves an empty
        # directory that a plain re-run may reuse, and a resumed run's extended epochs are recorded.
        run = RunDir(self.run_dir)
        run.write_config(self.cfg)
        save_checkpoint(self.run_dir, self.teacher, self.optimizer, self.state(finished))
        run.write_log(self.log)

    def resume(self) -> None:
        """Restore the teacher, SGD state and position from the run's checkpoint; the data must match."""
        state = load_checkpoint(self.run_dir, self.teacher, self.optimizer)
        if list(self.data.images.shape[1:]) != state["image_shape"] or len(self.data) != state["items"]:
            raise SemreadyError(f"--resume: the data differs from the run's ({state['items']} items of "
                                f"{state['image_shape']}): pass the same --data as the original run")
        self.epoch, self.step = state["epoch"], state["step"]
        self.seconds, self.log = state.get("seconds", 0.0), state.get("log", [])

    # -- the whole run -----------------------------------------------------------------------------------
    def fit(self, resume: bool = False, on_epoch=None) -> list[dict]:
        """Train to ``train.epochs``. Under torchrun the process group is left at the end (rank 0 goes on).

        Args:
            resume: continue from the run's checkpoint instead of starting afresh.
            on_epoch: called with each epoch's log row (rank 0 only).

        Returns:
            The per-epoch log rows.
        """
        main = self.dist.main
        if self.cfg.model.weights and not resume:  # before anything is written; κ̃ = κ at the start
            for encoder in (self.teacher.encoder, self.teacher.momentum_encoder):
                load_backbone_weights(encoder.backbone, self.cfg.model.weights, self.cfg.model.encoder)
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        else:
            self.prime_bank()
            if self.cfg.train.warmup_epochs == 0:
                self.seed_prototypes()
        budget = self.cfg.train.max_minutes
        tb = EpochWriter(self.run_dir, self.epoch) if main else None
        try:
            with progress_bars(self.progress and main) as progress:
                while self.epoch < self.cfg.train.epochs:
                    if self.epoch == self.cfg.train.warmup_epochs > 0:
                        self.seed_prototypes()
                    row = self.run_epoch(progress)
                    self.log.append(row)
                    self.save()
                    if tb:
                        tb.write(row)
                    if on_epoch and main:
                        on_epoch(row)
                    if row["collapsed"] and self.cfg.train.stop_on_collapse:
                        raise SemreadyError(f"clusters collapsed at epoch {row['epoch']} (marginal entropy "
                                            f"{row['marginal_entropy']:.2f}): raise loss.anti_collapse_weight")
                    if budget is not None and self.seconds / 60 >= budget:  # rank 0's clock decides for all
                        stop = torch.ones(1, device=self.device)
                    else:
                        stop = torch.zeros(1, device=self.device)
                    distributed.broadcast_([stop], self.dist)
                    if stop.item():
                        break
        except BaseException:
            if self.dist.enabled:  # leave the process group; no barrier: another rank may not be there
                distributed.teardown(barrier=False)
            raise
        finally:
            if tb:
                tb.close()
        if self.dist.enabled:
            distributed.teardown()
        return self.log


def validate_data_for_training(data: ImageData, cfg: SemreadyConfig) -> None:
    """Refuse data too small to train on: at least 2 items and at least M (one-line errors)."""
    n, m = len(data), cfg.model.clusters
    if n == 0:
        raise SemreadyError(f"dataset {data.spec} is empty: point --data at a source with items")
    if n == 1:
        raise SemreadyError(f"data {data.spec} holds a single item: contrastive training needs at least 2 "
                            f"(and at least --clusters {m}); add items")
    if n < max(m, 2):
        raise SemreadyError(f"dataset {data.spec} has {n} items but {m} clusters were asked for: use more "
                            f"items or fewer --clusters")


__all__ = ["Trainer", "epoch_generator", "validate_data_for_training"]
