"""The memory bank: K stale keys b̃ from the momentum encoder, organised per cluster C_l.

Keys are stored once; their cluster C_l is the cluster head's current assignment of each key, recomputed
every step (M×K dot products — negligible), so the organisation follows the learned decision boundaries
rather than labels frozen when the key was written.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MemoryBank(nn.Module):
    """A FIFO ring buffer of K unit-norm keys (buffers, so they are checkpointed and moved with the module).

    Args:
        size: K, the number of keys.
        dim: d, the key size.

    Starts filled with random unit vectors; only the ``filled`` keys written so far count as valid.

    >>> bank = MemoryBank(size=4, dim=2)
    >>> bank.enqueue(torch.eye(2)); bank.valid_keys().shape
    torch.Size([2, 2])
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        """K, the bank's capacity."""
        return self.keys.shape[0]

    def valid_keys(self) -> torch.Tensor:
        """The keys written so far, float n×d with n ≤ K (all K once the bank has wrapped around)."""
        return self.keys[: int(self.filled)]

    @torch.no_grad()
    def enqueue(self, new_keys: torch.Tensor) -> None:
        """FIFO write: the oldest keys are replaced (a ring buffer, like MoCo's queue).

        Args:
            new_keys: float n×d; when n ≥ K only the last K are kept.
        """
        n, k = new_keys.shape[0], self.size
        if n >= k:
            new_keys = new_keys[-k:]
            n = k
        start = int(self.pointer)
        idx = (torch.arange(n, device=self.keys.device) + start) % k
        self.keys[idx] = new_keys.to(self.keys.dtype)
        self.pointer.fill_((start + n) % k)
        self.filled.fill_(min(k, int(self.filled) + n))

    @staticmethod
    def members_per_cluster(labels: torch.Tensor, clusters: int) -> list[torch.Tensor]:
        """C_1..C_M: indices of the bank entries assigned to each cluster.

        Args:
            labels: each key's cluster, int (K,).
            clusters: M.

        Returns:
            M int tensors of key indices.

        >>> [c.tolist() for c in MemoryBank.members_per_cluster(torch.tensor([1, 0, 1]), 3)]
        [[1], [0, 2], []]
        """
        return [torch.nonzero(labels == c, as_tuple=True)[0] for c in range(clusters)]
