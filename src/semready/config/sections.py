"""The config sections: one pydantic model per stage, and the whole run's :class:`SemreadyConfig`.

Presets and files: :mod:`semready.config.files`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from semready.backbone_names import check_backbone_name
from semready.errors import SemreadyError

PRESETS = ("quick", "paper")


def resolve_preset(name: str) -> str:
    """``auto`` -> ``paper`` when a CUDA GPU is visible, else ``quick``; any other name as it is.

    Args:
        name: a preset name or ``auto``.

    Returns:
        The preset name.

    >>> resolve_preset("quick")
    'quick'
    """
    if name != "auto":
        return name
    import torch

    return "paper" if torch.cuda.is_available() else "quick"


class _Section(BaseModel):
    # A typo in a config key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """The stream X the teacher trains on.

    Attributes:
        spec: the data spec (``sample``, an npz file, a folder, ``cifar10``, ...; see ``semready.data.SPEC_HELP``).
        image_size: resize items to this side in pixels (None keeps the source's size).
        download: allow downloading a named dataset.
        size_bytes, sha256: size and content hash of the file or folder the run was trained on, recorded by
            ``semready train`` (:mod:`semready.data.identity`); None for ``sample`` and ``cifar``.
        stream: leave image files on disk and decode each batch when it is needed, in worker processes
            (``folder:``, ``list:``, ``wds:``, ``hf:``): data larger than memory trains and splits.
        workers: processes decoding image files; None: several for 1,024 items or more, 0: none.
    """

    spec: str = "sample"
    image_size: int | None = Field(None, ge=8, le=512)
    download: bool = False
    size_bytes: int | None = Field(None, ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    stream: bool = False
    workers: int | None = Field(None, ge=0, le=64)


class ViewsConfig(_Section):
    """Random perturbations χ1, χ2 (see :mod:`semready.teacher.views`).

    Attributes:
        crop_scale_min: the smallest crop area, as a fraction of the image (RandomResizedCrop).
        flip_p: probability of a horizontal flip.
        jitter_p: probability that an item is colour-jittered.
        brightness, contrast, saturation: jitter strengths s, factors drawn from [max(0, 1 − s), 1 + s].
        hue: the hue shift's range [−hue, hue], in turns.
        grayscale_p: probability that an item is turned grey.
    """

    crop_scale_min: float = Field(0.2, gt=0.0, le=1.0)
    flip_p: float = Field(0.5, ge=0.0, le=1.0)
    jitter_p: float = Field(0.8, ge=0.0, le=1.0)
    brightness: float = Field(0.4, ge=0.0, le=1.0)
    contrast: float = Field(0.4, ge=0.0, le=1.0)
    saturation: float = Field(0.4, ge=0.0, le=1.0)
    hue: float = Field(0.1, ge=0.0, le=0.5)
    grayscale_p: float = Field(0.2, ge=0.0, le=1.0)


class ModelConfig(_Section):
    """The encoder ψ_κ and the cluster head φ (see :mod:`semready.teacher.heads`).

    Attributes:
        encoder: the backbone: ``small_cnn``, ``resnet18``, ``torchvision:NAME``, ``timm:NAME`` or ``module:NAME``
            (:data:`semready.backbone_names.BACKBONE_NAMING`).
        embed_dim: d, the embedding size.
        weights: a local weights file for the backbone (safetensors or a ``torch.save``'d state dict), or None.
        freeze_backbone: train the projection and the cluster head only.
        stem: ``resnet18``'s stem: ``auto`` (CIFAR stem up to 64 px, ImageNet stem above), ``cifar``, ``imagenet``.
    """

    encoder: str = "small_cnn"
    weights: str | None = Field(None, min_length=1, description="local backbone weights file")
    freeze_backbone: bool = False
    stem: Literal["auto", "cifar", "imagenet"] = "auto"
    width: int = Field(32, ge=4, le=512, description="small_cnn: channels of the first block")
    embed_dim: int = Field(128, ge=8, le=4096)
    clusters: int = Field(10, ge=2, le=10_000, description="M, the number of deep clusters")
    cluster_temperature: float = Field(0.1, gt=0.0, le=10.0, description="τ_φ of the cluster head")

    @field_validator("encoder")
    @classmethod
    def _known_backbone(cls, name: str) -> str:
        try:
            return check_backbone_name(name)
        except SemreadyError as err:
            raise ValueError(str(err)) from None


class BankConfig(_Section):
    """The memory bank of stale keys and eq. 2's cluster-aware negatives.

    Attributes:
        cluster_aware_negatives: ablation switch: eq. 2's negatives from clusters other than i's (else the whole
            bank).
    """

    size: int = Field(4096, ge=16, le=1_000_000, description="K, stale keys in the memory bank")
    cluster_aware_negatives: bool = True
    min_negatives: int = Field(
        256, ge=1, description="floor: rows with fewer cluster-aware negatives fall back to the whole bank"
    )


class LossConfig(_Section):
    """L = ηL_I + εL_D + λ·anti-collapse (see :mod:`semready.teacher.losses`).

    Attributes:
        anti_collapse: ablation switch for the marginal-entropy term.
        anti_collapse_weight: λ.
    """

    tau: float = Field(0.1, gt=0.0, le=10.0, description="τ in eq. 2 and 3")
    eta: float = Field(1.0, ge=0.0, description="η, weight of L_I (eq. 2)")
    epsilon: float = Field(1.0, ge=0.0, description="ε, weight of L_D (eq. 4)")
    cluster_loss: bool = Field(True, description="ablation switch for L_D (eq. 3-4)")
    anti_collapse: bool = True
    anti_collapse_weight: float = Field(5.0, ge=0.0)


class RankConfig(_Section):
    """Learnability score (see :mod:`semready.split.ranking`).

    Attributes:
        score: ``teacher`` (typicality in the teacher's embedding behind a description test), ``regen`` (1 − the
            share the regen model leaves unexplained) or ``paper`` (sqrt(c_i · C_l)); see
            :mod:`semready.split.scores`.
    """

    score: Literal["teacher", "regen", "paper"] = "teacher"
    regen_rank: int = Field(128, ge=1, le=100_000, description="rank r of the shared refinement basis")
    regen_resolution: int = Field(32, ge=4, le=1024, description="working resolution of the regen model")


class TrainConfig(_Section):
    """The training loop (see :mod:`semready.teacher.train`).

    Attributes:
        epochs, batch_size: the run's length and the global batch (over all processes).
        lr, sgd_momentum, weight_decay: SGD's settings; ``cosine_schedule`` decays lr along a cosine over the run.
        seed: seeds the weights, the permutations and the perturbations.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch (None: torch's default).
        stop_on_collapse: raise when the collapse check fires, instead of only logging it.
        kmeans_seed, revive_dead_clusters: ablation switches for the trainer's additions to the paper.
    """

    epochs: int = Field(20, ge=1, le=100_000)
    batch_size: int = Field(256, ge=2, le=65_536)
    lr: float = Field(0.05, gt=0.0, le=10.0)
    sgd_momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    cosine_schedule: bool = True
    ema: float = Field(0.99, ge=0.0, lt=1.0, description="ω, momentum-encoder coefficient")
    warmup_epochs: int = Field(
        2, ge=0, description="epochs of plain negatives and no L_D before the cluster head is k-means seeded"
    )
    # not in the paper (docs/method.md): ablation switches for the two things the trainer adds to the clusters
    kmeans_seed: bool = Field(True, description="seed the prototypes by k-means on the bank (else φ's random init)")
    revive_dead_clusters: bool = Field(True, description="move a prototype that got no key in an epoch onto the "
                                       "largest cluster")
    seed: int = 0
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    threads: int | None = Field(None, ge=1, le=1024)
    max_minutes: float | None = Field(None, gt=0.0, description="stop at the end of the epoch past this budget")
    collapse_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="normalised marginal entropy below which training is flagged collapsed"
    )
    stop_on_collapse: bool = False
    # GPU fast path (docs/config.md): all off by default, so a run means the same thing on every device.
    amp: bool = Field(False, description="bf16 autocast for the encoders' forward passes (losses stay float32)")
    channels_last: bool = Field(False, description="NHWC memory format for images and conv weights")
    compile: bool = Field(False, description="torch.compile the encoders (first steps pay the compilation)")


class CommConfig(_Section):
    """The semantic communication system and its KPIs (see :mod:`semready.comm`, docs/kpis.md)."""

    fidelity_psnr_db: float = Field(
        30.0, gt=0.0, le=100.0, description="the one fidelity criterion: PSNR (dB) of the regenerated item"
    )
    classical_codec: Literal["png", "jpeg", "webp", "jpeg2000", "avif", "best", "zlib", "lzma"] = Field(
        "best", description="classical path: best (smallest of png/jpeg/webp meeting the fidelity target), "
        "png (lossless), jpeg, webp, jpeg2000, avif, zlib or lzma (lossless, raw bytes)")
    payload_bytes: int = Field(1472, ge=1, le=65_507, description="packet payload (UDP over a 1,500-byte MTU)")
    rate_bps: float = Field(1e6, gt=0.0, description="link rate R in bits per second (channel packet)")
    channel: Literal["packet", "awgn", "rayleigh"] = Field(
        "packet", description="packet: i.i.d. erasures and bit errors only; awgn / rayleigh: a physical channel "
        "under the packets (Rayleigh: one fade per packet transmission), R = symbol_rate · log2 M")
    snr_db: float = Field(10.0, ge=-10.0, le=40.0, description="Es/N0 per symbol in dB (awgn, rayleigh: the mean)")
    modulation: Literal["bpsk", "qpsk", "16qam"] = Field("qpsk", description="Gray-mapped; coherent detection")
    symbol_rate: float = Field(1e6, gt=0.0, le=1e12, description="Rs in baud (awgn, rayleigh)")
    packet_loss: float = Field(0.0, ge=0.0, lt=1.0, description="packet erasure probability")
    bit_error_rate: float = Field(0.0, ge=0.0, lt=1.0, description="i.i.d. bit errors; a hit packet is resent")
    max_transmissions: int = Field(16, ge=1, le=1000, description="tries per packet before it is lost")
    language_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of the run's stream the languages are built on; the rest is sent"
    )
    bit_cap: int | None = Field(None, ge=1, description="most bits for one Z_i; default 8 bits per item value")
    element_span_max: int = Field(
        64, ge=0, le=64, description="largest span of shared directions an element re-orients (0: shared basis only)"
    )
    beta: float = Field(1.0, ge=0.0, description="β in Γ = E[cross-entropy] + β·KL(Λ‖ζ)")
    gamma_samples: int = Field(8, ge=1, le=1000, description="Monte Carlo draws θ ~ Λ for Γ")
    prequential_chunks: int = Field(5, ge=2, le=100, description="chunks of the prequential code length")
    semantic_cosine: float = Field(
        0.9, gt=-1.0, le=1.0,
        description="semantic fidelity: an item passes when cos(teacher z of the original, of the received) >= this",
    )
    language: Literal["linear", "learned"] = Field(
        "linear", description="the semantic path: linear (transform coding around the element means) or learned "
        "(a trained convolutional codec, comm.learned_*)")
    learned_steps: int = Field(1500, ge=1, le=1_000_000, description="training steps of each learned codec")
    learned_width: int = Field(64, ge=4, le=1024, description="hidden channels of the learned codec")
    learned_latent: int = Field(12, ge=1, le=256, description="latent channels (at 1/4 of the item's side)")
    learned_rate_weight: float = Field(0.01, ge=0.0, description="weight of the rate term in the codec's training")


class SemreadyConfig(_Section):
    """A whole run's configuration, one section per stage; ``config.yaml`` holds it resolved.

    Attributes:
        preset: the preset it was built from (recorded, not re-applied).

    >>> SemreadyConfig().model.clusters
    10
    """

    preset: str = "quick"
    data: DataConfig = DataConfig()
    views: ViewsConfig = ViewsConfig()
    model: ModelConfig = ModelConfig()
    bank: BankConfig = BankConfig()
    loss: LossConfig = LossConfig()
    rank: RankConfig = RankConfig()
    train: TrainConfig = TrainConfig()
    comm: CommConfig = CommConfig()

    @model_validator(mode="after")
    def _consistent(self) -> SemreadyConfig:
        if self.bank.size < self.train.batch_size:
            raise ValueError(f"bank.size ({self.bank.size}) must be at least train.batch_size "
                             f"({self.train.batch_size})")
        return self
