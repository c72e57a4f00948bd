"""A trained teacher at work: load a run, embed items, assign clusters and confidences (eq. 3), batch by batch.

Assignment of item i: cluster l(i) = argmax φ(z_i) on the momentum embedding z_i; confidence c_i = P_{i,l(i)},
eq. 3's probability of that same cluster against the trained bank, whose entries are organised per cluster by
the same head φ. (The largest P_il can belong to another cluster than φ's choice; the confidence of an item is
the confidence of its own cluster assignment, so c_i, l(i) and C_l describe one decision.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semready.config import SemreadyConfig
from semready.data import ordered_batches
from semready.errors import SemreadyError
from semready.rundir import RunDir
from semready.teacher.checkpoint import load_checkpoint, peek_state
from semready.teacher.device import resolve_device
from semready.teacher.losses import cluster_probabilities
from semready.teacher.model import Teacher
from semready.teacher.views import prepare_eval


@dataclass
class Assignment:
    """The teacher's reading of N items.

    Attributes:
        clusters: l(i) = argmax φ(z_i), int64 (N,).
        confidence: c_i = P_{i,l(i)}, float (N,).
        probabilities: P_il (eq. 3), float N×M, rows summing to 1.
        embeddings: z_i from the momentum encoder, float N×d, unit rows.
        features: backbone features, float N×F, when asked for (else None).
    """

    clusters: np.ndarray      # int64 N
    confidence: np.ndarray    # float N, P_{i,l(i)}
    probabilities: np.ndarray  # float N×M, P_il (eq. 3)
    embeddings: np.ndarray     # float N×d, z_i
    features: np.ndarray | None = None  # backbone features, when asked for

    @classmethod
    def concat(cls, parts: list[Assignment]) -> Assignment:
        """One assignment of the items of ``parts``, in order (features kept when every part has them)."""
        with_features = bool(parts) and all(p.features is not None for p in parts)
        return cls(clusters=np.concatenate([p.clusters for p in parts]),
                   confidence=np.concatenate([p.confidence for p in parts]),
                   probabilities=np.concatenate([p.probabilities for p in parts]),
                   embeddings=np.concatenate([p.embeddings for p in parts]),
                   features=np.concatenate([p.features for p in parts]) if with_features else None)


@dataclass
class TrainedRun:
    """A trained teacher loaded from its run folder, in eval mode on ``device``.

    Attributes:
        run_dir: the run folder.
        cfg: its config.
        teacher: the loaded :class:`~semready.teacher.model.Teacher`.
        device: where it runs.
        image_shape: C×H×W of the items it was trained on; items routed through it must match.

    >>> run = load_run("runs/demo", device="cpu")  # doctest: +SKIP
    >>> run.assign_all(images).clusters            # doctest: +SKIP
    """

    run_dir: Path
    cfg: SemreadyConfig
    teacher: Teacher
    device: torch.device
    image_shape: tuple[int, int, int]
    _bank_cache: tuple | None = field(default=None, init=False, repr=False)

    def bank_membership(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The bank's keys and their hard cluster membership, cached while neither changes.

        Recomputed only when the bank or the prototypes change (tracked by the tensors' in-place version
        counters).

        Returns:
            (keys float K×d, one-hot membership float K×M, the hard C_l of eq. 3).
        """
        keys = self.teacher.bank.valid_keys()
        protos = self.teacher.cluster_head.prototypes
        version = (self.teacher.bank.keys._version, protos._version, keys.shape[0], protos.device)
        if self._bank_cache is None or self._bank_cache[0] != version:
            labels = self.teacher.cluster_head(keys).argmax(dim=1)
            self._bank_cache = (version, F.one_hot(labels, self.teacher.clusters).float())
        return keys, self._bank_cache[1]

    @torch.no_grad()
    def assign_batch(self, images: torch.Tensor, with_features: bool = False) -> Assignment:
        """Cluster, confidence (eq. 3) and P_il of one batch.

        Args:
            images: uint8 N×C×H×W; C×H×W must equal ``image_shape``.
            with_features: also return the backbone features.

        Returns:
            :class:`Assignment` of the N items (numpy, on the CPU).
        """
        if tuple(images.shape[1:]) != self.image_shape:
            raise SemreadyError(
                f"items are {tuple(images.shape[1:])} (C×H×W) but the teacher was trained on {self.image_shape}: "
                f"pass --image-size {self.image_shape[1]} or retrain on data of this size")
        self.teacher.eval()
        x = prepare_eval(images.to(self.device, non_blocking=True))  # uint8 over the bus: 4x fewer bytes
        feats, z = self.teacher.embed(x)
        keys, membership = self.bank_membership()
        p = cluster_probabilities(z, keys, membership, self.cfg.loss.tau)
        clusters = self.teacher.cluster_head(z).argmax(dim=1)
        return Assignment(
            clusters=clusters.cpu().numpy(),
            confidence=p.gather(1, clusters[:, None]).squeeze(1).cpu().numpy(),
            probabilities=p.cpu().numpy(),
            embeddings=z.float().cpu().numpy(),
            features=feats.float().cpu().numpy() if with_features else None,
        )

    def assign_stream(self, batches: Iterable[torch.Tensor], with_features: bool = False) -> Iterator[Assignment]:
        """:meth:`assign_batch` over an iterable of uint8 batches, lazily (constant memory).

        Args:
            batches: uint8 n×C×H×W tensors.
            with_features: also return the backbone features.

        Returns:
            An iterator of one :class:`Assignment` per batch.
        """
        for images in batches:
            yield self.assign_batch(images, with_features)

    def assign_all(self, images: torch.Tensor, batch_size: int = 512, with_features: bool = False) -> Assignment:
        """:meth:`assign_batch` over a whole stream in batches, concatenated.

        Args:
            images: uint8 N×C×H×W, in memory or streamed (:class:`~semready.data.stream.StreamedImages`).
            batch_size: items per forward pass.
            with_features: also return the backbone features.

        Returns:
            :class:`Assignment` of all N items.
        """
        parts = list(self.assign_stream(ordered_batches(images, torch.arange(len(images)), batch_size),
                                        with_features))
        return Assignment.concat(parts)


def load_run(run_dir: str | Path, device: str = "auto", backbone: torch.nn.Module | None = None) -> TrainedRun:
    """Load a trained teacher from a run directory (config.yaml + checkpoint.safetensors + state.json).

    Args:
        run_dir: the run folder.
        device: see :func:`~semready.teacher.device.resolve_device`.
        backbone: the module the run was trained with as ``backbone=`` (same architecture; its weights are
            replaced by the checkpoint's). Not needed for named backbones (``model.encoder``).

    Returns:
        :class:`TrainedRun`, in eval mode.

    >>> run = load_run("runs/demo", device="cpu")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    cfg = RunDir(run_dir).read_config()
    shape = tuple(peek_state(run_dir).get("image_shape", ()))
    # the checkpoint replaces every weight: the weights file (model.weights) need not exist any more
    teacher = Teacher.from_config(cfg, backbone, image_size=max(shape[1:]) if len(shape) == 3 else None,
                                  load_weights=False)
    load_checkpoint(run_dir, teacher)
    dev = resolve_device(device)
    teacher.to(dev).eval()
    if len(shape) != 3:
        raise SemreadyError(f"{run_dir}/state.json lacks the training image shape: retrain the run")
    return TrainedRun(run_dir, cfg, teacher, dev, shape)  # type: ignore[arg-type]
