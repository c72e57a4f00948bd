"""The random perturbations χ1, χ2 of Sec. III-A, applied to whole batches with per-item parameters.

torchvision's transforms v2 draw one set of random parameters per call, so applied to a batch every item
would share its crop and its jitter. We therefore draw the parameters per item and apply the same
operations as v2's ``RandomResizedCrop``, ``RandomHorizontalFlip``, ``ColorJitter`` and ``RandomGrayscale``
in a vectorised way: one ``grid_sample`` for crop+flip, per-item 3×3 colour matrices for saturation and hue
(hue as a rotation in YIQ space), and v2's own ``rgb_to_grayscale`` kernel. The cost is a small share of a
training step (``benchmarks/speed.py``, docs/benchmarks.md). Colour operations run in a fixed order
(brightness, contrast, saturation, hue), not v2's random order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from semready.config import ViewsConfig

# Inputs are standardised with one mean/std for every dataset, so a model is not tied to one source's stats.
MEAN, STD = 0.5, 0.25
_GRAY = torch.tensor([0.299, 0.587, 0.114])
# RGB -> YIQ and back; a hue shift is a rotation of the (I, Q) plane.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W in [0, 255] -> float32 N×3×H×W in [0, 1].

    >>> to_float(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max().item()
    1.0
    """
    return images.float().div_(255.0)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """(x − MEAN)/STD for float images in [0, 1], any shape: the encoder's input scale."""
    return (x - MEAN) / STD


def prepare_eval(images: torch.Tensor) -> torch.Tensor:
    """The deterministic input used for embedding and routing (no perturbation).

    Args:
        images: uint8 N×3×H×W.

    Returns:
        float32 N×3×H×W, standardised.

    >>> prepare_eval(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)).min().item()
    -2.0
    """
    return standardize(to_float(images))


class Draws:
    """Per-item uniform random parameters, drawn on the CPU from one generator (a seed gives the same views on
    any device) for a batch of ``total`` items, of which the items at ``part`` are kept.

    Under DDP each process perturbs only its share of the global batch, yet draws the parameters of the whole
    batch: its share is perturbed exactly as in one process perturbing everything, and the generator stays in
    step on every rank.

    Args:
        gen: the CPU generator (None: torch's global one).
        total: the items of the whole batch.
        part: the items kept.
        device: where the drawn values go.

    >>> d = Draws(torch.Generator().manual_seed(0), total=4, part=slice(2, 4))
    >>> d.uniform(0.0, 1.0).shape
    torch.Size([2])
    """

    def __init__(self, gen: torch.Generator | None, total: int, part: slice = slice(None), device=None):
        self.gen, self.total, self.part, self.device = gen, total, part, device

    def uniform(self, low: float, high: float) -> torch.Tensor:
        """One value per kept item, uniform in [low, high), float (len(part),), on ``device``."""
        return (torch.rand(self.total, generator=self.gen)[self.part] * (high - low) + low).to(self.device)


def _draws(rng: Draws | torch.Generator | None, x: torch.Tensor) -> Draws:
    return rng if isinstance(rng, Draws) else Draws(rng, x.shape[0], device=x.device)


def random_resized_crop_flip(
    x: torch.Tensor, scale_min: float, flip_p: float, gen: Draws | torch.Generator | None = None
) -> torch.Tensor:
    """Per-item RandomResizedCrop (area scale in [scale_min, 1], aspect ratio in [3/4, 4/3]) + horizontal flip.

    Args:
        x: float N×3×H×W in [0, 1].
        scale_min: the smallest crop area, as a fraction of the image.
        flip_p: the probability of a horizontal flip.
        gen: the per-item draws, or a generator to draw them from.

    Returns:
        float N×3×H×W (same size: crops are resampled bilinearly).
    """
    n, device, draw = x.shape[0], x.device, _draws(gen, x).uniform
    area = draw(scale_min, 1.0)
    log_ratio = draw(math.log(3 / 4), math.log(4 / 3))
    ratio = log_ratio.exp()
    w = (area * ratio).sqrt().clamp(max=1.0)  # crop width as a fraction of the image
    h = (area / ratio).sqrt().clamp(max=1.0)
    cx = draw(-1.0, 1.0) * (1 - w)  # centre in grid coordinates [-1, 1]
    cy = draw(-1.0, 1.0) * (1 - h)
    flip = torch.where(draw(0.0, 1.0) < flip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def color_jitter(x: torch.Tensor, cfg: ViewsConfig, gen: Draws | torch.Generator | None = None) -> torch.Tensor:
    """Per-item ColorJitter(brightness, contrast, saturation, hue), applied with probability ``jitter_p``.

    Args:
        x: float N×3×H×W in [0, 1].
        cfg: the jitter strengths and ``jitter_p``.
        gen: the per-item draws, or a generator to draw them from.

    Returns:
        float N×3×H×W in [0, 1].
    """
    n, device, draw = x.shape[0], x.device, _draws(gen, x).uniform
    apply = (draw(0.0, 1.0) < cfg.jitter_p).float()

    def factor(strength: float) -> torch.Tensor:
        f = draw(max(0.0, 1 - strength), 1 + strength)
        return 1 + (f - 1) * apply  # items not jittered get factor 1

    b, c, s = factor(cfg.brightness), factor(cfg.contrast), factor(cfg.saturation)
    hue = draw(-cfg.hue, cfg.hue) * apply * (2 * math.pi)
    x = (x * b.view(n, 1, 1, 1)).clamp_(0, 1)
    gray_mean = TF.rgb_to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - gray_mean) * c.view(n, 1, 1, 1) + gray_mean).clamp_(0, 1)
    # Saturation and hue are both linear in RGB: fold them into one 3×3 matrix per item.
    gray = _GRAY.to(device)
    sat = s.view(n, 1, 1) * torch.eye(3, device=device) + (1 - s).view(n, 1, 1) * gray.view(1, 1, 3)
    cos, sin = hue.cos(), hue.sin()
    rot = torch.zeros(n, 3, 3, device=device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    hue_m = _YIQ2RGB.to(device) @ rot @ _RGB2YIQ.to(device)
    m = hue_m @ sat
    x = torch.einsum("nij,njhw->nihw", m, x)
    return x.clamp_(0, 1)


def random_grayscale(x: torch.Tensor, p: float, gen: Draws | torch.Generator | None = None) -> torch.Tensor:
    """Per-item RandomGrayscale: with probability ``p`` an item becomes its grey level on all three channels.

    Args:
        x: float N×3×H×W in [0, 1].
        p: the probability per item.
        gen: the per-item draws, or a generator to draw them from.

    Returns:
        float N×3×H×W.
    """
    n = x.shape[0]
    pick = (_draws(gen, x).uniform(0.0, 1.0) < p).view(n, 1, 1, 1)
    return torch.where(pick, TF.rgb_to_grayscale(x, num_output_channels=3), x)


def perturb(images: torch.Tensor, cfg: ViewsConfig, gen: torch.Generator | None = None,
            share: tuple[int, int] | None = None) -> torch.Tensor:
    """One perturbation χ(X) of a uint8 batch, standardised for the encoder.

    Args:
        images: uint8 N×3×H×W.
        cfg: the perturbation settings.
        gen: the CPU generator of the random parameters (None: torch's global one).
        share: ``(start, total)``: ``images`` are items start, start+1, ... of a batch of ``total`` items (one DDP
            process's slice of the global batch); they are perturbed exactly as they would be within that batch.

    Returns:
        float32 N×3×H×W, standardised.

    >>> perturb(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), ViewsConfig(), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 8, 8])
    """
    x = to_float(images)
    start, total = share if share is not None else (0, x.shape[0])
    draws = Draws(gen, total, slice(start, start + x.shape[0]), x.device)
    x = random_resized_crop_flip(x, cfg.crop_scale_min, cfg.flip_p, draws)
    x = color_jitter(x, cfg, draws)
    x = random_grayscale(x, cfg.grayscale_p, draws)
    return standardize(x)


def two_views(
    images: torch.Tensor, cfg: ViewsConfig, gen: torch.Generator | None = None,
    share: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """χ1(X), χ2(X): two independent perturbations of every item of the batch (Sec. III-A).

    Args:
        images: uint8 N×3×H×W.
        cfg: the perturbation settings.
        gen: the CPU generator (the second view continues its stream).
        share: see :func:`perturb`.

    Returns:
        (χ1, χ2), float32 N×3×H×W each, standardised.
    """
    return perturb(images, cfg, gen, share), perturb(images, cfg, gen, share)
