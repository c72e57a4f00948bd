"""Typicality in the teacher's embedding: how densely the stream populates an item's neighbourhood.

What the contrastive teacher learned places items that share structure near one another; an item the stream
has many close peers of is typical (learnable from them), an item alone in its region is atypical (learnable
only by memorising it). The typicality of item i is the mean cosine similarity of its embedding z_i to its k
nearest neighbours among the training stream's embeddings (itself excluded), mapped to [0, 1]:

    t_i = (1 + mean_{j ∈ kNN(i)} z_i·z_j) / 2.

New data (``route``) is measured against the same reference set. Streams longer than ``max_reference`` items keep
a fixed random subset of them as the reference (the k-NN cost grows with N × reference size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semready.teacher.checkpoint import read_model_tensors, write_model_tensors

K_NEIGHBOURS = 10
MAX_REFERENCE = 20_000


@dataclass
class TypicalityModel:
    """The training stream's embeddings that new items are compared against.

    Attributes:
        reference: unit-norm embeddings, float R×d.
        index: each reference row's item index in the training stream, int64 (R,) (to leave an item out of its
            own neighbourhood).
        k: the neighbours averaged.

    >>> z = F.normalize(torch.randn(30, 4), dim=1)
    >>> model = TypicalityModel.fit(z, k=3)
    >>> model.score(z, stream=True).shape
    (30,)
    """

    reference: torch.Tensor
    index: torch.Tensor
    k: int = K_NEIGHBOURS

    @classmethod
    def fit(cls, embeddings: torch.Tensor | np.ndarray, k: int = K_NEIGHBOURS, max_reference: int = MAX_REFERENCE,
            seed: int = 0) -> TypicalityModel:
        """Keep the stream's embeddings (a fixed random subset of ``max_reference`` when longer).

        Args:
            embeddings: the training stream's embeddings z_i, float N×d.
            k: the neighbours averaged (capped at the reference size − 1).
            max_reference: the most reference items kept.
            seed: the subset's seed.

        Returns:
            The model.
        """
        z = F.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
        index = torch.arange(len(z))
        if len(z) > max_reference:
            index = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(len(z), max_reference,
                                                                                 replace=False)))
        return cls(z[index].contiguous(), index, max(1, min(k, len(index) - 1)))

    def score(self, embeddings: torch.Tensor | np.ndarray, stream: bool = False,
              batch_size: int = 2048) -> np.ndarray:
        """t_i of each item.

        Args:
            embeddings: z_i, float N×d.
            stream: the items are the training stream itself, in order (item i leaves itself out).
            batch_size: query rows per similarity block.

        Returns:
            float (N,), in [0, 1].
        """
        z = F.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
        k = min(self.k, len(self.reference) - (1 if stream else 0))
        if k < 1:
            return np.full(len(z), 0.5)  # no neighbour to compare with: neither typical nor atypical
        out = []
        for start in range(0, len(z), batch_size):
            sims = z[start:start + batch_size] @ self.reference.t()
            if stream:
                rows = torch.arange(start, start + len(sims))
                sims[rows[:, None] == self.index[None, :]] = -2.0  # the item itself is not its own neighbour
            out.append(sims.topk(k, dim=1).values.mean(1))
        return ((1.0 + torch.cat(out)) / 2.0).clamp(0, 1).numpy() if out else np.zeros(0)

    def save(self, path: Path) -> None:
        """Write the model to a safetensors file, atomically."""
        write_model_tensors(path, {"reference": self.reference, "index": self.index, "k": torch.tensor(self.k)})

    @classmethod
    def load(cls, path: Path) -> TypicalityModel:
        """Read a model :meth:`save` wrote; a foreign or malformed file is a one-line :class:`SemreadyError`."""
        t = read_model_tensors(path, "typicality model", lambda t: t["reference"].ndim == 2 and t["index"].ndim == 1
                               and len(t["index"]) == len(t["reference"]) and t["k"].numel() == 1)
        return cls(t["reference"].float(), t["index"].long(), int(t["k"]))
