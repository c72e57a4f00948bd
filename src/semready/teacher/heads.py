"""The encoder ψ_κ (backbone + projection, L2-normalised), its momentum copy ψ_κ̃, and the cluster head φ."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    """ψ_κ: X -> Z, a backbone followed by an MLP projection; embeddings lie on the unit sphere.

    Args:
        backbone: maps images N×3×H×W to features N×F.
        embed_dim: d, the embedding size.
        feature_dim: F (default: the backbone's ``out_dim`` attribute).
        freeze_backbone: keep the backbone fixed: its parameters get no gradient and it stays in eval mode (its
            BatchNorm statistics stay as loaded); only the projection trains.

    Shapes: ``forward`` N×3×H×W -> N×d, each row of unit L2 norm.

    >>> from semready.teacher.backbones import build_backbone
    >>> enc = Encoder(build_backbone("small_cnn", 4), embed_dim=8).eval()
    >>> enc(torch.rand(2, 3, 32, 32)).norm(dim=1).allclose(torch.ones(2))
    True
    """

    def __init__(self, backbone: nn.Module, embed_dim: int, feature_dim: int | None = None,
                 freeze_backbone: bool = False):
        super().__init__()
        self.backbone = backbone
        f = feature_dim if feature_dim is not None else backbone.out_dim
        self.projection = nn.Sequential(
            nn.Linear(f, f, bias=False), nn.BatchNorm1d(f), nn.ReLU(inplace=True), nn.Linear(f, embed_dim)
        )
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            backbone.requires_grad_(False)
            backbone.eval()

    def train(self, mode: bool = True) -> Encoder:
        """Set train/eval mode; a frozen backbone stays in eval mode (a fixed function of the item)."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings z = ψ_κ(x).

        Args:
            x: images, float N×3×H×W, standardised.

        Returns:
            float N×d, unit rows.
        """
        return F.normalize(self.projection(self.backbone(x)), dim=1)

    def features_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone features and the embedding of one forward pass.

        Args:
            x: images, float N×3×H×W, standardised.

        Returns:
            (features float N×F, embedding float N×d with unit rows).
        """
        h = self.backbone(x)
        return h, F.normalize(self.projection(h), dim=1)


class ClusterHead(nn.Module):
    """φ: Z -> Y. M learnable prototypes; the decision boundaries are the cosine Voronoi cells, trained by
    backprop through eq. 3-4 (see :func:`semready.teacher.losses.cluster_probabilities`).

    Args:
        embed_dim: d.
        clusters: M.
        temperature: τ_φ of the logits.

    Shapes: ``forward`` N×d -> N×M logits.

    >>> head = ClusterHead(embed_dim=4, clusters=3, temperature=0.1)
    >>> head(F.normalize(torch.randn(5, 4), dim=1)).shape
    torch.Size([5, 3])
    """

    def __init__(self, embed_dim: int, clusters: int, temperature: float):
        super().__init__()
        self.prototypes = nn.Parameter(F.normalize(torch.randn(clusters, embed_dim), dim=1))
        self.temperature = temperature

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits cos(z, w_l)/τ_φ of every item against every prototype w_l.

        Args:
            z: embeddings, float N×d, unit rows.

        Returns:
            float N×M, in [−1/τ_φ, 1/τ_φ].
        """
        return z @ F.normalize(self.prototypes, dim=1).t() / self.temperature

    @torch.no_grad()
    def seed(self, centroids: torch.Tensor) -> None:
        """Set the prototypes (e.g. to k-means centroids of the bank at the end of warm-up).

        Args:
            centroids: float M×d (normalised here; any device or dtype).
        """
        self.prototypes.copy_(F.normalize(centroids.to(self.prototypes), dim=1))


def make_momentum_copy(encoder: Encoder) -> Encoder:
    """ψ_κ̃: same structure, its own parameters κ̃, never updated by gradients.

    Args:
        encoder: ψ_κ.

    Returns:
        A deep copy with ``requires_grad`` off, starting at κ̃ = κ.
    """
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, omega: float) -> None:
    """κ̃ ← ω κ̃ + (1 − ω) κ (Sec. III-B), over the parameters that train: a frozen backbone's stay exactly equal
    to the online encoder's (the update would only add rounding to them).

    BatchNorm running statistics are not copied: the momentum encoder runs in train mode during training,
    so its own statistics track its own (lagging) weights. Copying the online encoder's statistics would make
    eval-mode embeddings disagree with the bank's keys (items would fall into a few clusters at evaluation).

    Args:
        online: ψ_κ, the gradient-trained encoder.
        target: ψ_κ̃, updated in place (same structure).
        omega: ω in [0, 1).

    >>> a, b = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    >>> _ = a.weight.data.fill_(1.0), b.weight.data.fill_(0.0)
    >>> momentum_update(a, b, omega=0.9); round(b.weight.item(), 4)
    0.1
    """
    pairs = [(o.detach(), t) for o, t in zip(online.parameters(), target.parameters(), strict=True)
             if o.requires_grad]
    online_params, target_params = [o for o, _ in pairs], [t for _, t in pairs]
    torch._foreach_mul_(target_params, omega)
    torch._foreach_add_(target_params, online_params, alpha=1 - omega)
