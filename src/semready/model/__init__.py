"""Model: encoders ψ_κ and ψ_κ̃, cluster head φ, memory bank C_l; :class:`Teacher` bundles them."""

from __future__ import annotations

import torch
from torch import nn

from semready.config import SemreadyConfig
from semready.model.bank import MemoryBank
from semready.model.heads import ClusterHead, Encoder, make_momentum_copy, momentum_update


class Teacher(nn.Module):
    """Everything the transmitter learns: query encoder, momentum encoder, cluster head and bank."""

    def __init__(self, cfg: SemreadyConfig):
        super().__init__()
        m = cfg.model
        self.encoder = Encoder(m)
        self.momentum_encoder = make_momentum_copy(self.encoder)
        self.cluster_head = ClusterHead(m.embed_dim, m.clusters, m.cluster_temperature)
        self.bank = MemoryBank(cfg.bank.size, m.embed_dim)

    @property
    def clusters(self) -> int:
        return self.cluster_head.prototypes.shape[0]

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(backbone features, embedding) from the momentum encoder, the smoother of the two encoders."""
        return self.momentum_encoder.features_and_embedding(x)


__all__ = ["ClusterHead", "Encoder", "MemoryBank", "Teacher", "make_momentum_copy", "momentum_update"]
