"""Semantic fidelity: does the item the receiver ends up with still *mean* what the original meant, to the
run's teacher? (docs/kpis.md, "Semantic fidelity").

An item passes on two counts, reported apart: its embedding z by the teacher is within a stated cosine of the
original's (cos ≥ ``comm.semantic_cosine``), and the teacher assigns it the original's cluster. PSNR says how
close the pixels are; these say whether the teacher still reads the same thing.

>>> judge = SemanticJudge.from_run("runs/demo", cosine=0.9)  # doctest: +SKIP
>>> judge(originals, received)["semantic_cluster_pass"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from semready.errors import SemreadyError
from semready.teacher.infer import TrainedRun, load_run

# An exact copy embeds to the same z, but the cosine of a float32 vector with itself can round to just below 1;
# the pass test allows this much so that an exact copy passes at semantic_cosine = 1. Far below any real change:
# near 1, 1 − cos ≈ |Δz|²/2, so a float32 rounding of z (|Δz| ~ 1e-7) moves the cosine by ~1e-14.
COSINE_TOLERANCE = 1e-6


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b``, in float64, clipped to [-1, 1].

    Args:
        a: float N×d.
        b: float N×d.

    Returns:
        float64 (N,); 0 where either row is all zero (no direction to compare).

    >>> cosine_rows(np.array([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]]), np.array([[2.0, 0.0], [-4.0, 3.0], [1.0, 1.0]]))
    array([1., 0., 0.])
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return np.clip(cos, -1.0, 1.0)


@dataclass
class SemanticJudge:
    """A trained teacher judging whether received items keep their originals' meaning.

    Attributes:
        run: the loaded teacher (:func:`~semready.teacher.infer.load_run`).
        cosine: an item passes the cosine test when cos(z_original, z_received) ≥ this, in (-1, 1].
        batch_size: items per forward pass (large streams are judged in constant memory).
    """

    run: TrainedRun
    cosine: float
    batch_size: int = 512
    # every scheme of one simulation sends the same originals: embed them once (originals, z, clusters)
    _reference: tuple[torch.Tensor, np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not -1.0 < self.cosine <= 1.0:
            raise SemreadyError(f"semantic cosine {self.cosine} is outside (-1, 1]: set comm.semantic_cosine "
                                "in that range (default 0.9)")
        if self.batch_size < 1:
            raise SemreadyError(f"semantic judge batch size {self.batch_size} must be at least 1: pass batch_size=512")

    @classmethod
    def from_run(cls, run_dir: str | Path, cosine: float, device: str = "auto",
                 batch_size: int = 512) -> SemanticJudge:
        """The judge of a trained run's teacher.

        Args:
            run_dir: the trained run.
            cosine: the cosine threshold (``comm.semantic_cosine``).
            device: see :func:`~semready.teacher.device.resolve_device`.
            batch_size: items per forward pass.

        Returns:
            The judge.
        """
        return cls(load_run(run_dir, device), cosine, batch_size)

    def __call__(self, originals: torch.Tensor, received: torch.Tensor) -> dict[str, np.ndarray]:
        """Judge N received items against their originals, item by item.

        Lost items are the caller's business: whatever ``received`` holds for them is judged as it is.

        Args:
            originals: uint8 N×C×H×W, what was sent.
            received: uint8 N×C×H×W, what the receiver ended up with, in the same order.

        Returns:
            ``semantic_cosine`` float (N,): cos(z_original, z_received) of the teacher's embeddings;
            ``semantic_cosine_pass`` bool (N,): cosine ≥ the threshold (up to :data:`COSINE_TOLERANCE`);
            ``semantic_cluster_pass`` bool (N,): the teacher assigns both the same cluster.
        """
        if tuple(originals.shape) != tuple(received.shape):
            raise SemreadyError(f"received items {tuple(received.shape)} do not match the originals "
                                f"{tuple(originals.shape)}: pass one received item per original, same C×H×W")
        if originals.dtype != torch.uint8 or received.dtype != torch.uint8:
            raise SemreadyError(f"items must be uint8 (got {originals.dtype} and {received.dtype}): pass the "
                                "pixel values 0-255 as sent and received")
        ref = self._reference
        if ref is None or ref[0].shape != originals.shape or not torch.equal(ref[0], originals):
            ref = self._reference = (originals.clone(), *self._embed(originals))  # a copy: callers may reuse theirs
        z, clusters = self._embed(received)
        cosine = cosine_rows(ref[1], z)
        return {"semantic_cosine": cosine,
                "semantic_cosine_pass": cosine >= self.cosine - COSINE_TOLERANCE,
                "semantic_cluster_pass": ref[2] == clusters}

    def _embed(self, items: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The teacher's z (float N×d) and cluster (int (N,)) of every item, a batch at a time."""
        z, clusters = [], []
        for start in range(0, len(items), self.batch_size):
            a = self.run.assign_batch(items[start:start + self.batch_size])
            z.append(np.asarray(a.embeddings))
            clusters.append(np.asarray(a.clusters))
        if not z:
            return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
        return np.concatenate(z), np.concatenate(clusters)
