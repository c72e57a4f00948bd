"""The teacher (Sec. III): query encoder ψ_κ, momentum encoder ψ_κ̃, cluster head φ, memory bank C_l — and its
step, like MoCo's ``moco/builder.py``: :meth:`Teacher.forward` takes the two perturbations of a batch and
returns the named loss terms; the momentum update and the enqueue are its methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from semready.teacher import distributed
from semready.teacher.backbones import build_backbone, feature_width
from semready.teacher.bank import MemoryBank
from semready.teacher.heads import ClusterHead, Encoder, make_momentum_copy, momentum_update
from semready.teacher.losses import TeacherLoss
from semready.teacher.weights import load_backbone_weights

if TYPE_CHECKING:  # the building blocks take plain arguments; only from_config reads a config
    from semready.config import SemreadyConfig


@dataclass
class TeacherOutput:
    """What one step computed.

    Attributes:
        losses: ``{"loss", "l_i", "l_d", "anti_collapse"}`` (:class:`~semready.teacher.losses.TeacherLoss`).
        query: a_i = ψ_κ(χ1(X_i)), B×d (float32).
        key: b_i = ψ_κ̃(χ2(X_i)), B×d (float32, no gradient).
        key_clusters: i's cluster, argmax φ(b_i), (B,).
    """

    losses: dict[str, torch.Tensor]
    query: torch.Tensor
    key: torch.Tensor
    key_clusters: torch.Tensor


class Teacher(nn.Module):
    """Everything the transmitter learns, and the step that teaches it.

    Args:
        encoder: ψ_κ, images N×3×H×W -> unit embeddings N×d (e.g. :class:`~semready.teacher.heads.Encoder`).
        embed_dim: d.
        clusters: M, the number of deep clusters.
        bank_size: K, the stale keys in the memory bank.
        ema: ω, the momentum-encoder coefficient (κ̃ ← ωκ̃ + (1 − ω)κ).
        cluster_temperature: τ_φ of the cluster head.
        criterion: the loss (default: :class:`~semready.teacher.losses.TeacherLoss` with the paper's η = ε = 1).
        amp: run the encoders under bf16 autocast (the losses stay float32).

    Example:
        >>> from semready.teacher.heads import Encoder
        >>> from semready.teacher.backbones import build_backbone, feature_width
        >>> t = Teacher(Encoder(build_backbone("small_cnn", 8), 16), embed_dim=16, clusters=3, bank_size=64)
        >>> out = t(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32), clusters_active=False)
        >>> sorted(out.losses)
        ['anti_collapse', 'l_d', 'l_i', 'loss']

    Under DDP the whole Teacher is wrapped (:class:`torch.nn.parallel.DistributedDataParallel`); :meth:`enqueue`
    gathers every rank's keys, so every rank's bank stays identical.
    """

    def __init__(self, encoder: nn.Module, embed_dim: int, clusters: int, bank_size: int, *, ema: float = 0.99,
                 cluster_temperature: float = 0.1, criterion: TeacherLoss | None = None, amp: bool = False):
        super().__init__()
        self.encoder = encoder
        self.momentum_encoder = make_momentum_copy(encoder)
        self.cluster_head = ClusterHead(embed_dim, clusters, cluster_temperature)
        self.bank = MemoryBank(bank_size, embed_dim)
        self.criterion = criterion or TeacherLoss()
        self.ema = ema
        self.amp = amp
        self.dist = distributed.DistInfo()
        # what the step calls instead of the encoders (torch.compile'd versions); a tuple, not submodules, so
        # the checkpoint's keys stay the plain modules'
        self._engines: tuple = (encoder, self.momentum_encoder)

    @classmethod
    def from_config(cls, cfg: SemreadyConfig, backbone: nn.Module | None = None, *, image_size: int | None = None,
                    load_weights: bool = True) -> Teacher:
        """The teacher a run's config describes (model, bank, loss, ω and bf16 settings).

        Args:
            cfg: the run's config.
            backbone: your own ψ (images float N×3×H×W -> features N×F), used as the query encoder's backbone in
                place of ``model.encoder``; the momentum encoder gets a deep copy. F is its ``out_dim`` attribute,
                else measured by one forward pass.
            image_size: the items' side in px when ``data.image_size`` is unset (picks ResNet-18's stem).
            load_weights: copy ``model.weights`` into the backbone (off when a checkpoint is loaded next).

        Returns:
            A freshly initialised :class:`Teacher` on the CPU.

        >>> from semready.config import build_config
        >>> cfg = build_config(overrides={"model": {"width": 4, "embed_dim": 8, "freeze_backbone": True}})
        >>> t = Teacher.from_config(cfg, nn.Sequential(nn.Conv2d(3, 6, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        >>> t.encoder.projection[0].in_features, any(p.requires_grad for p in t.encoder.backbone.parameters())
        (6, False)
        """
        m, loss = cfg.model, cfg.loss
        criterion = TeacherLoss(loss.tau, loss.eta, loss.epsilon, cluster_loss=loss.cluster_loss,
                                anti_collapse=loss.anti_collapse, anti_collapse_weight=loss.anti_collapse_weight,
                                cluster_aware_negatives=cfg.bank.cluster_aware_negatives,
                                min_negatives=cfg.bank.min_negatives)
        side = cfg.data.image_size or image_size
        name = m.encoder if backbone is None else f"{type(backbone).__name__} (backbone=)"
        if backbone is None:
            backbone = build_backbone(m.encoder, m.width, image_size=side, stem=m.stem)
        if m.weights and load_weights:
            load_backbone_weights(backbone, m.weights, name)
        encoder = Encoder(backbone, m.embed_dim, feature_width(backbone, side), freeze_backbone=m.freeze_backbone)
        return cls(encoder, m.embed_dim, m.clusters, cfg.bank.size, ema=cfg.train.ema,
                   cluster_temperature=m.cluster_temperature, criterion=criterion, amp=cfg.train.amp)

    @property
    def clusters(self) -> int:
        """M, the number of deep clusters."""
        return self.cluster_head.prototypes.shape[0]

    def use_engines(self, query: nn.Module | None = None, momentum: nn.Module | None = None) -> None:
        """Run the step through other callables for the two encoders (e.g. their torch.compile'd versions).

        Args:
            query: replaces ψ_κ in the step; None restores the plain encoder.
            momentum: replaces ψ_κ̃ in the step; None restores the plain momentum encoder.
        """
        self._engines = (self.encoder if query is None else query,
                         self.momentum_encoder if momentum is None else momentum)

    def compile_encoders(self) -> None:
        """torch.compile both encoders for the step (the first steps pay the compilation)."""
        self.use_engines(torch.compile(self.encoder), torch.compile(self.momentum_encoder))

    def _autocast(self, x: torch.Tensor):
        return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # -- the step ---------------------------------------------------------------------------------------
    def forward(self, view1: torch.Tensor, view2: torch.Tensor, clusters_active: bool = True) -> TeacherOutput:
        """One step's forward pass: a = ψ_κ(χ1), EMA update, b = ψ_κ̃(χ2), the losses, then b into the bank.

        Args:
            view1, view2: χ1(X_i) and χ2(X_i), float N×3×H×W, standardised.
            clusters_active: False during warm-up (plain negatives, no L_D): at initialisation all embeddings
                are nearly identical and cluster-aware negatives would deadlock.

        Returns:
            :class:`TeacherOutput`; ``losses["loss"]`` is what to backpropagate.
        """
        query_engine, momentum_engine = self._engines
        self.encoder.train()
        self.momentum_encoder.train()
        with self._autocast(view1):
            a = query_engine(view1).float()
        with torch.no_grad():
            self.momentum_update()
            with self._autocast(view2):
                b = momentum_engine(view2).float()
            key_clusters = self.cluster_head(b).argmax(dim=1)  # i's cluster; also the epoch's size statistics
        # a copy: the enqueue below overwrites the bank before the backward pass that reads these keys
        keys = self.bank.valid_keys().clone()
        bank_logits = None
        if clusters_active:
            if len(keys) == 0:
                raise ValueError("the memory bank holds no keys yet: fill it first (Trainer.prime_bank, or "
                                 "Teacher.enqueue(Teacher.keys_of(x))) or step with clusters_active=False")
            # organises the bank per cluster C_l; the loss sends a gradient into φ only through eq. 3-4
            bank_logits = self.cluster_head(keys)
        losses = self.criterion(a, b, keys, key_clusters, bank_logits)
        self.enqueue(b.detach())
        return TeacherOutput(losses, a, b, key_clusters)

    @torch.no_grad()
    def momentum_update(self) -> None:
        """κ̃ ← ω κ̃ + (1 − ω) κ (Sec. III-B)."""
        momentum_update(self.encoder, self.momentum_encoder, self.ema)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write this step's keys into the bank (FIFO); under DDP every rank's keys, in rank order.

        Args:
            keys: b_i, float B×d, unit rows.
        """
        self.bank.enqueue(distributed.all_gather_cat(keys, self.dist))

    @torch.no_grad()
    def keys_of(self, x: torch.Tensor) -> torch.Tensor:
        """ψ_κ̃(x) in train mode: the keys the bank is primed with.

        Args:
            x: images, float N×3×H×W, standardised.

        Returns:
            float32 N×d, unit rows.
        """
        self.momentum_encoder.train()
        with self._autocast(x):
            return self._engines[1](x).float()

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features and embedding from the momentum encoder, the smoother of the two encoders.

        Args:
            x: images, float N×3×H×W, standardised (:func:`~semready.teacher.views.prepare_eval`).

        Returns:
            (features float N×F, embedding float N×d with unit rows).
        """
        return self.momentum_encoder.features_and_embedding(x)


__all__ = ["Teacher", "TeacherOutput"]
