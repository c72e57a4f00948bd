"""Semantic-poor injection (docs/protocol.md §3): mix items that carry no learnable structure into a stream.

Families:
- ``noise``: i.i.d. uniform bytes;
- ``scrambled``: a real image of the stream with its pixel positions randomly permuted (each pixel keeps its
  RGB triple, so colour statistics survive and only structure is destroyed);
- ``rare``: real images of content elements seen nowhere else in the stream (drawn from a pool the
  caller provides, e.g. classes or a dataset the stream does not contain).

Every injected item is flagged (ground truth for detection benchmarks); the result is reproducible by seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from semready.data.sources import ImageData
from semready.errors import SemreadyError

FAMILIES = ("noise", "scrambled", "rare")
CLEAN = "clean"


@dataclass
class InjectedStream:
    """A stream with semantic-poor items mixed in, and the ground truth of what was injected.

    Attributes:
        data: the mixed stream, N items; labels of injected items are −1.
        family: ``clean`` or the injected family per item, str (N,).
        source_index: index in the clean stream (or in the rare pool) per item, int (N,); −1 for noise.
    """

    data: ImageData          # the mixed stream; labels of injected items are -1
    family: np.ndarray       # str per item: "clean" or the injected family
    source_index: np.ndarray  # int per item: index in the clean stream (or in the rare pool), -1 for noise

    @property
    def injected(self) -> np.ndarray:
        """Whether each item was injected, bool (N,)."""
        return self.family != CLEAN


def _noise(n: int, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen)


def _scrambled(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n, c, h, w = images.shape
    flat = images.reshape(n, c, h * w)
    perms = torch.argsort(torch.rand(n, h * w, generator=gen), dim=1)  # one permutation per item
    return torch.gather(flat, 2, perms.unsqueeze(1).expand(n, c, h * w)).reshape(n, c, h, w).contiguous()


def count_for_fraction(clean_items: int, fraction: float) -> int:
    """How many items to inject so that they make up ``fraction`` of the mixed stream.

    Args:
        clean_items: items in the clean stream.
        fraction: the injected share of the mixed stream, in [0, 1).

    Returns:
        The count, rounded.

    >>> count_for_fraction(90, 0.1)
    10
    """
    if not 0.0 <= fraction < 1.0:
        raise SemreadyError(f"injection fraction {fraction} is out of range: use a value in [0, 1)")
    return int(round(clean_items * fraction / (1.0 - fraction)))


def inject(data: ImageData, counts: dict[str, int], seed: int = 0,
           rare_pool: torch.Tensor | None = None) -> InjectedStream:
    """Insert ``counts[family]`` semantic-poor items at random positions of ``data``.

    Args:
        data: the clean stream, uint8 N×3×H×W.
        counts: family (``FAMILIES``) -> how many items to inject.
        seed: seeds the items and their positions.
        rare_pool: uint8 P×3×H×W images of content the stream does not hold; needed for ``rare``.

    Returns:
        The :class:`InjectedStream`, N + Σ counts items.

    >>> data = ImageData(torch.zeros(8, 3, 8, 8, dtype=torch.uint8), np.zeros(8, dtype=np.int64), None, "zeros")
    >>> out = inject(data, {"noise": 2, "scrambled": 2}, seed=0)
    >>> len(out.data), int(out.injected.sum()), int((out.data.labels == -1).sum())
    (12, 4, 4)
    """
    unknown = set(counts) - set(FAMILIES)
    if unknown:
        raise SemreadyError(f"unknown semantic-poor family {sorted(unknown)[0]!r}: choose from "
                            f"{', '.join(FAMILIES)}")
    if any(c < 0 for c in counts.values()):
        raise SemreadyError("injection counts must be non-negative")
    gen = torch.Generator().manual_seed(seed)
    shape = tuple(data.images.shape[1:])
    parts, families, sources = [data.images], [np.full(len(data), CLEAN)], [np.arange(len(data))]
    n_noise, n_scr, n_rare = (counts.get(f, 0) for f in FAMILIES)
    if n_noise:
        parts.append(_noise(n_noise, shape, gen))
        families.append(np.full(n_noise, "noise"))
        sources.append(np.full(n_noise, -1))
    if n_scr:
        idx = torch.randint(len(data), (n_scr,), generator=gen)
        parts.append(_scrambled(data.images[idx], gen))
        families.append(np.full(n_scr, "scrambled"))
        sources.append(idx.numpy())
    if n_rare:
        if rare_pool is None or len(rare_pool) < n_rare:
            have = 0 if rare_pool is None else len(rare_pool)
            raise SemreadyError(f"'rare' needs {n_rare} pool images of unseen content, got {have}: pass a "
                                "larger rare_pool")
        if tuple(rare_pool.shape[1:]) != shape:
            raise SemreadyError(f"rare_pool items are {tuple(rare_pool.shape[1:])}, the stream's are {shape}: "
                                "convert the pool with the same image_size")
        idx = torch.randperm(len(rare_pool), generator=gen)[:n_rare]
        parts.append(rare_pool[idx])
        families.append(np.full(n_rare, "rare"))
        sources.append(idx.numpy())
    images = torch.cat(parts)
    family = np.concatenate(families)
    source = np.concatenate(sources)
    order = torch.randperm(len(images), generator=gen)
    labels = None
    if data.labels is not None:
        labels = np.concatenate([data.labels, np.full(len(images) - len(data), -1)])[order.numpy()]
    mixed = ImageData(images[order].contiguous(), labels, data.classes, f"{data.spec}+injected")
    return InjectedStream(mixed, family[order.numpy()], source[order.numpy()])
