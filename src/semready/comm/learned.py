"""The learned language's codec: analysis g_a and synthesis g_s, trained for rate and distortion on the language's
items (the language around it: :mod:`semready.comm.learned_language`).

Training minimises E[(x − g_s(y + u·Δ))²] + w·E[bits(y + u·Δ)] over the language's items, u ~ U(−½, ½), Δ drawn
from the step ladder per item: additive uniform noise in place of rounding (Ballé et al., ICLR 2017), so one
codec serves every step; the rate proxy is :func:`~semready.comm.representation.laplace_log2_pmf`, the model the
range coder uses too.
"""

from __future__ import annotations

import torch
from torch import nn

from semready.comm.representation import laplace_log2_pmf
from semready.errors import SemreadyError
from semready.teacher.device import resolve_device

STEPS = 12  # ladder length: Δ_0 = 1 down to 2^(−5.5)
Q_MAX = 2 ** 12  # the largest latent symbol magnitude the coder carries (tails fold into the ends)


def ladder() -> torch.Tensor:
    """The step ladder Δ_s = 2^(−s/2), coarsest first, float (STEPS,).

    >>> [round(float(x), 3) for x in ladder()[:3]]
    [1.0, 0.707, 0.5]
    """
    return 2.0 ** (-torch.arange(STEPS, dtype=torch.float32) / 2)


class Codec(nn.Module):
    """Analysis g_a (two stride-2 convolutions) and synthesis g_s (their transposes) between items and latents.

    Args:
        channels: item channels C (1 or 3).
        width: hidden channels.
        latent: latent channels.

    >>> codec = Codec(3, width=8, latent=4)
    >>> y = codec.analysis(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    >>> y.shape, codec.synthesis(y).shape
    (torch.Size([2, 4, 4, 4]), torch.Size([2, 3, 16, 16]))
    """

    def __init__(self, channels: int = 3, width: int = 64, latent: int = 12):
        super().__init__()
        self.g_a = nn.Sequential(
            nn.Conv2d(channels, width, 5, 2, 2), nn.GELU(), nn.Conv2d(width, width, 5, 2, 2), nn.GELU(),
            nn.Conv2d(width, latent, 3, 1, 1))
        self.g_s = nn.Sequential(
            nn.ConvTranspose2d(latent, width, 5, 2, 2, output_padding=1), nn.GELU(),
            nn.ConvTranspose2d(width, width, 5, 2, 2, output_padding=1), nn.GELU(),
            nn.Conv2d(width, channels, 3, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(latent))  # the training prior's pooled b_c (latent units)

    def analysis(self, images: torch.Tensor) -> torch.Tensor:
        """Latents of uint8 items N×C×H×W (H, W multiples of 4): float N×latent×H/4×W/4."""
        return self.g_a(images.float() / 255.0 - 0.5)

    def synthesis(self, latents: torch.Tensor) -> torch.Tensor:
        """Items (0–255 scale, unrounded) from latents: float N×C×H×W."""
        return (self.g_s(latents) + 0.5) * 255.0


def fit_codec(images: torch.Tensor, *, steps: int = 1500, batch_size: int = 64, rate_weight: float = 0.01,
              width: int = 64, latent: int = 12, seed: int = 0, lr: float = 2e-3, device: str = "auto") -> Codec:
    """Train g_a, g_s on items: MSE (0–255 scale) + ``rate_weight`` × bits per item value, at random ladder steps.

    Args:
        images: uint8 N×C×H×W, H and W multiples of 4 (the language's own items).
        steps: SGD steps (Adam, cosine-decayed learning rate).
        batch_size: items per step.
        rate_weight: the rate term's weight (bits per value against squared error per value).
        width, latent: :class:`Codec`'s sizes.
        seed: seeds the initialisation, the batches and the noise.
        lr: Adam's initial learning rate.
        device: where to train (``auto``: a CUDA GPU when one is visible). The batches and the noise are drawn on
            the CPU, so a seed draws the same ones everywhere; on the CPU the codec is bit-exact for a seed, on a
            GPU cuDNN's kernels may differ in the last bits from run to run.

    Returns:
        The trained :class:`Codec`, in eval mode, on the CPU (both ends code with it there, bit-exactly).
    """
    n, c, h, w = images.shape
    if h % 4 or w % 4:
        raise SemreadyError(f"the learned language needs items whose sides are multiples of 4, got {h}×{w}: "
                            "retrain the run with --image-size 32 (or 16)")
    gen = torch.Generator().manual_seed(seed)
    where = resolve_device(device)
    with torch.random.fork_rng(devices=[]):  # the initialisation's seed leaves the caller's generator as it was
        torch.manual_seed(seed)
        codec = Codec(c, width, latent).to(where)
    opt = torch.optim.Adam(codec.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    deltas = ladder()
    for _ in range(steps):
        x = images[torch.randint(n, (min(batch_size, n),), generator=gen)].to(where)
        y = codec.analysis(x)
        delta = deltas[torch.randint(STEPS, (len(x),), generator=gen)].view(-1, 1, 1, 1).to(where)
        noisy = y + (torch.rand(y.shape, generator=gen).to(where) - 0.5) * delta
        mse = ((codec.synthesis(noisy) - x.float()) ** 2).mean()
        scale = codec.log_scale.exp().view(1, -1, 1, 1) / delta
        bits = -laplace_log2_pmf(noisy / delta, scale, Q_MAX).sum() / x.numel()
        loss = mse + rate_weight * bits.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return codec.cpu().eval()


__all__ = ["Q_MAX", "STEPS", "Codec", "fit_codec", "ladder"]
