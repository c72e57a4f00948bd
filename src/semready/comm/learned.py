"""A learned semantic language: a small convolutional codec whose prior is conditioned on the teacher's content
element (issue 15, item 1; work in progress — not yet a scheme of :mod:`semready.comm.system`).

A representation Z_i = (l, s, ŷ): the content element l (the teacher's cluster), a step index s on the ladder
Δ_s = 2^(−s/2) (latent units) and the quantised latent ŷ = round(g_a(x) / Δ_s), C×h×w integers (h = H/4). The
apprentice regenerates x̂ = g_s(ŷ·Δ_s). Like the linear language (:mod:`semready.comm.language`), the teacher
picks the coarsest step whose regeneration meets the fidelity target, so one trained codec spans the whole
rate range and a fidelity sweep traces its rate–distortion curve.

Prior: ŷ_c ~ QuantizedLaplace(0, b_{l,c} / Δ_s) per content element l and latent channel c, the scales fitted on
the language's own items (maximum likelihood, shrunk toward the pooled scale for small elements); the same
:func:`~semready.comm.representation.laplace_log2_pmf` is the training rate proxy (additive uniform noise in
place of rounding, Ballé et al., ICLR 2017) and the range coder's model (constriction), so the bits counted are
the bitstream's.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np
import torch
from torch import nn

from semready.comm.kpi import psnr_db
from semready.comm.representation import MIN_SCALE, laplace_log2_pmf
from semready.errors import SemreadyError

STEPS = 12  # ladder length: Δ_0 = 1 down to 2^(−5.5)
Q_MAX = 2 ** 12  # the largest latent symbol magnitude the coder carries (tails fold into the ends)
SCALE_PRIOR_ITEMS = 8  # an element's scales count as this many items of the pooled scales


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


def fit_codec(images: torch.Tensor, *, steps: int = 1500, batch_size: int = 64, rate_weight: float = 0.02,
              width: int = 64, latent: int = 12, seed: int = 0, lr: float = 2e-3) -> Codec:
    """Train g_a, g_s on items: MSE (0–255 scale) + ``rate_weight`` × bits per item value, at random ladder steps.

    Args:
        images: uint8 N×C×H×W, H and W multiples of 4 (the language's own items).
        steps: SGD steps (Adam, cosine-decayed learning rate).
        batch_size: items per step.
        rate_weight: the rate term's weight (bits per value against squared error per value).
        width, latent: :class:`Codec`'s sizes.
        seed: seeds the initialisation, the batches and the noise.
        lr: Adam's initial learning rate.

    Returns:
        The trained :class:`Codec`, in eval mode, on the CPU.
    """
    n, c, h, w = images.shape
    if h % 4 or w % 4:
        raise SemreadyError(f"the learned language needs items whose sides are multiples of 4, got {h}×{w}: pass "
                            "--image-size 32 (or 16)")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    codec = Codec(c, width, latent)
    opt = torch.optim.Adam(codec.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    deltas = ladder()
    for _ in range(steps):
        x = images[torch.randint(n, (min(batch_size, n),), generator=gen)]
        y = codec.analysis(x)
        delta = deltas[torch.randint(STEPS, (len(x),), generator=gen)].view(-1, 1, 1, 1)
        noisy = y + (torch.rand(y.shape, generator=gen) - 0.5) * delta
        mse = ((codec.synthesis(noisy) - x.float()) ** 2).mean()
        scale = codec.log_scale.exp().view(1, -1, 1, 1) / delta
        bits = -laplace_log2_pmf(noisy / delta, scale, Q_MAX).sum() / x.numel()
        loss = mse + rate_weight * bits.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return codec.eval()


@dataclass
class LearnedRepresentations:
    """Z for a batch: content element (N,), ladder step (N,), quantised latents int32 N×C×h×w."""

    cluster: np.ndarray
    step: np.ndarray
    q: np.ndarray

    def __len__(self) -> int:
        return len(self.cluster)


@dataclass
class LearnedLanguage:
    """The codec and its element-conditioned prior, shared by teacher and apprentice.

    Attributes:
        codec: the trained :class:`Codec`.
        log_scales: log b_{l,c}, float (M + 1)×latent; row M is the pooled scale (an element no language item had).
        logits: log π_l of the content elements, float (M,).
        fidelity_psnr_db: the target the step is chosen for.
    """

    codec: Codec
    log_scales: torch.Tensor
    logits: torch.Tensor
    fidelity_psnr_db: float

    @classmethod
    def fit(cls, images: torch.Tensor, clusters: np.ndarray, n_clusters: int, fidelity_psnr_db: float,
            codec: Codec | None = None, **train) -> LearnedLanguage:
        """Train the codec (unless given) and fit the prior on the language's items.

        Args:
            images: uint8 N×C×H×W, the language's items.
            clusters: their content elements, int (N,).
            n_clusters: M.
            fidelity_psnr_db: the fidelity target.
            codec: an already trained codec to reuse.
            **train: :func:`fit_codec`'s options.

        Returns:
            The language.
        """
        codec = codec or fit_codec(images, **train)
        with torch.no_grad():
            y = torch.cat([codec.analysis(images[i:i + 256]) for i in range(0, len(images), 256)])
        mag = y.abs().mean(dim=(2, 3))  # N×latent: E|y| is the Laplace scale's maximum-likelihood estimate
        pooled = mag.mean(0)
        counts = torch.from_numpy(np.bincount(clusters, minlength=n_clusters)).float()
        sums = torch.zeros(n_clusters, mag.shape[1]).index_add_(0, torch.from_numpy(np.asarray(clusters)), mag)
        per = (sums + SCALE_PRIOR_ITEMS * pooled) / (counts[:, None] + SCALE_PRIOR_ITEMS)
        scales = torch.cat([per, pooled[None]]).clamp_min(1e-3)
        logits = torch.log((counts + 0.5) / (counts.sum() + 0.5 * n_clusters))
        return cls(codec, scales.log(), logits, fidelity_psnr_db)

    @property
    def n_clusters(self) -> int:
        return len(self.logits)

    @torch.no_grad()
    def represent(self, images: torch.Tensor, clusters: np.ndarray) -> LearnedRepresentations:
        """Z of every item: the coarsest step whose regeneration meets the target (else the finest).

        Args:
            images: uint8 N×C×H×W.
            clusters: content elements, int (N,), in 0..M−1.

        Returns:
            The representations.
        """
        if len(clusters) and (clusters.min() < 0 or clusters.max() >= self.n_clusters):
            raise SemreadyError(f"content elements outside 0..{self.n_clusters - 1}: route the items through the "
                                "teacher that built the language")
        y = self.codec.analysis(images)
        step = np.full(len(images), STEPS - 1)
        found = np.zeros(len(images), dtype=bool)
        for s, delta in enumerate(ladder().tolist()):
            q = torch.round(y / delta)
            ok = (psnr_db(self._pixels(q * delta), images) >= self.fidelity_psnr_db).numpy() & ~found
            step[ok], found = s, found | ok
            if found.all():
                break
        deltas = ladder()[torch.from_numpy(step)].view(-1, 1, 1, 1)
        q = torch.round(y / deltas).clamp(-Q_MAX, Q_MAX).to(torch.int32).numpy()
        return LearnedRepresentations(np.asarray(clusters, np.int64), step.astype(np.int64), q)

    def _pixels(self, latents: torch.Tensor) -> torch.Tensor:
        return self.codec.synthesis(latents).round().clamp(0, 255).to(torch.uint8)

    @torch.no_grad()
    def regenerate(self, rep: LearnedRepresentations) -> torch.Tensor:
        """The apprentice's items x̂ = g_s(ŷ·Δ_s), uint8 N×C×H×W."""
        deltas = ladder()[torch.from_numpy(rep.step)].view(-1, 1, 1, 1)
        return self._pixels(torch.from_numpy(rep.q).float() * deltas)

    def _scales(self, rep: LearnedRepresentations) -> np.ndarray:
        """Each latent value's Laplace scale in steps, b_{l,c}/Δ_s, float64 broadcast to ``rep.q``'s shape."""
        b = self.log_scales.exp()[torch.from_numpy(rep.cluster)].double()  # N×latent
        scale = b[:, :, None, None] / ladder().double()[torch.from_numpy(rep.step)].view(-1, 1, 1, 1)
        return np.broadcast_to(scale.clamp_min(MIN_SCALE).numpy(), rep.q.shape)

    def information_bits(self, rep: LearnedRepresentations) -> np.ndarray:
        """−log2 P(Z_i) per item under the language: element, step (uniform) and latents, float (N,)."""
        log2_pi = (self.logits - torch.logsumexp(self.logits, 0)).double() / np.log(2)
        element = -log2_pi[torch.from_numpy(rep.cluster)].numpy() if self.n_clusters > 1 else 0.0
        latents = -laplace_log2_pmf(torch.from_numpy(rep.q), torch.from_numpy(self._scales(rep).copy()), Q_MAX)
        return element + np.log2(STEPS) + latents.flatten(1).sum(1).numpy()

    def encode(self, rep: LearnedRepresentations) -> np.ndarray:
        """All representations as one range-coded stream (uint32 words)."""
        enc = constriction.stream.queue.RangeEncoder()
        elements, steps, values = self._models()
        if elements is not None:
            enc.encode(rep.cluster.astype(np.int32), elements)
        enc.encode(rep.step.astype(np.int32), steps)
        if rep.q.size:
            enc.encode(rep.q.ravel(), values, np.zeros(rep.q.size), self._scales(rep).ravel().copy())
        return enc.get_compressed()

    def decode(self, words: np.ndarray, items: int, shape: tuple[int, int, int]) -> LearnedRepresentations:
        """The apprentice's side: the stream of ``items`` representations (latent shape C×h×w) back, exactly."""
        dec = constriction.stream.queue.RangeDecoder(words)
        elements, steps, values = self._models()
        cluster = dec.decode(elements, items).astype(np.int64) if elements is not None else np.zeros(items, np.int64)
        step = dec.decode(steps, items).astype(np.int64)
        rep = LearnedRepresentations(cluster, step, np.zeros((items, *shape), np.int32))
        if rep.q.size:
            flat = dec.decode(values, np.zeros(rep.q.size), self._scales(rep).ravel().copy())
            rep.q = flat.astype(np.int32).reshape(rep.q.shape)
        return rep

    def _models(self):
        m = constriction.stream.model
        probs = torch.softmax(self.logits.double(), 0).numpy()
        elements = m.Categorical(probs, perfect=False) if self.n_clusters > 1 else None
        return elements, m.Uniform(STEPS), m.QuantizedLaplace(-Q_MAX, Q_MAX)


__all__ = ["Codec", "LearnedLanguage", "LearnedRepresentations", "STEPS", "fit_codec", "ladder"]
