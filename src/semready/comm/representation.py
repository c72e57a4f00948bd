"""A semantic representation Z_i and the probability of its refinement coefficients.

Z_i = (l, s, k, q_1 … q_k) (:mod:`semready.comm.language` says what each part means); :class:`Representations`
holds a batch of them, :func:`laplace_log2_pmf` is the model their coefficients are coded with, identical at
encoder (:mod:`semready.comm.entropy`) and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MIN_SCALE = 0.05  # floor on b_j/Δ_s, identical at encoder and decoder
MIN_PROB = 2.0 ** -24  # constriction's 24-bit leaky quantisation


def laplace_log2_pmf(q: torch.Tensor, scale: torch.Tensor, q_max: int) -> torch.Tensor:
    """log2 P(q) for a Laplace(0, scale) quantised to integers in [−q_max, q_max], tails folded into the ends.

    Floored at 2^−24, as the range coder's leaky quantisation gives every symbol at least that probability.

    Args:
        q: integer symbols, any shape.
        scale: Laplace scale in quantiser steps, broadcastable to ``q``; floored at ``MIN_SCALE``.
        q_max: the largest symbol magnitude.

    Returns:
        float64, the shape of ``q``.

    >>> p = laplace_log2_pmf(torch.arange(-3, 4), torch.tensor(1.0), 3)
    >>> round(float((2 ** p).sum()), 6)
    1.0
    """
    q = q.double()
    scale = scale.double().clamp_min(MIN_SCALE)

    def cdf(t):  # Laplace CDF at t
        return torch.where(t < 0, 0.5 * torch.exp(t / scale), 1 - 0.5 * torch.exp(-t / scale))

    upper = torch.where(q >= q_max, torch.ones_like(q), cdf(q + 0.5))
    lower = torch.where(q <= -q_max, torch.zeros_like(q), cdf(q - 0.5))
    return torch.log2((upper - lower).clamp_min(MIN_PROB))


@dataclass
class Representations:
    """Z for a batch of items: flat coefficients with per-item offsets (item i owns q[offsets[i]:offsets[i+1]]).

    Attributes:
        cluster: content element l per item, int64 (N,).
        step: ladder index s per item, int64 (N,).
        k: coded coefficients per item, int64 (N,).
        q: the coefficients of all items back to back, int32 (Σk,).

    >>> rep = Representations(np.array([0, 1]), np.array([0, 0]), np.array([2, 1]),
    ...                       np.array([3, -1, 5], dtype=np.int32))
    >>> rep.offsets.tolist(), rep.dense(3).tolist()
    ([0, 2, 3], [[3.0, -1.0, 0.0], [5.0, 0.0, 0.0]])
    >>> rep.subset(np.array([False, True])).q.tolist()
    [5]
    """

    cluster: np.ndarray  # int64 n
    step: np.ndarray  # int64 n, index on the ladder
    k: np.ndarray  # int64 n, coded coefficients
    q: np.ndarray  # int32 Σk

    @property
    def offsets(self) -> np.ndarray:
        """Start of each item's coefficients in ``q``, then the total: int (N + 1,)."""
        return np.concatenate([[0], np.cumsum(self.k)])

    def __len__(self) -> int:
        return len(self.cluster)

    def subset(self, mask: np.ndarray) -> Representations:
        """The items where ``mask`` (bool (N,)) is true."""
        return Representations(self.cluster[mask], self.step[mask], self.k[mask], self.q[np.repeat(mask, self.k)])

    def dense(self, n_values: int) -> torch.Tensor:
        """The coefficients as a zero-padded float32 N×``n_values`` matrix."""
        out = torch.zeros(len(self), n_values)
        rows = np.repeat(np.arange(len(self)), self.k)
        cols = np.arange(len(self.q)) - np.repeat(self.offsets[:-1], self.k)
        out[rows, cols] = torch.from_numpy(self.q.astype(np.float32))
        return out
