"""Pixel statistics of a stream: items as float vectors, and their mean per content element.

Both the split (the regen model, :mod:`semready.split.regen`) and the semantic language
(:mod:`semready.comm.language`) describe items around their cluster's mean image; this is their one home.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pixel_vectors(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Items as flat float vectors in [0, 1], area-downsampled so that the longer side is ≤ ``resolution``.

    Args:
        images: uint8 N×C×H×W, in memory or streamed (:class:`~semready.data.stream.StreamedImages`, whose own
            ``pixel_vectors`` computes them batch by batch, once).
        resolution: the longest side kept.

    Returns:
        float N×D, D = C·h·w after downsampling.

    >>> pixel_vectors(torch.full((2, 3, 8, 8), 255, dtype=torch.uint8), 4).shape
    torch.Size([2, 48])
    """
    if not isinstance(images, torch.Tensor):
        return images.pixel_vectors(resolution)
    x = images.float() / 255.0
    h, w = x.shape[-2:]
    if max(h, w) > resolution:
        scale = resolution / max(h, w)
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    return x.reshape(len(x), -1)


def cluster_means(x: torch.Tensor, clusters: np.ndarray, n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean item μ_l of each cluster, then the global mean, and the cluster sizes.

    Args:
        x: float N×D items.
        clusters: cluster per item, int (N,), in 0..M−1.
        n_clusters: M.

    Returns:
        (means: float (M + 1)×D, rows 0..M−1 the cluster means (the global mean for an empty cluster) and row M
        the global mean; counts: float (M,)).

    >>> means, counts = cluster_means(torch.tensor([[0.0], [2.0], [10.0]]), np.array([0, 0, 2]), 3)
    >>> means.flatten().tolist(), counts.tolist()
    ([1.0, 4.0, 10.0, 4.0], [2.0, 0.0, 1.0])
    """
    g_mean = x.mean(dim=0)
    sums = torch.zeros(n_clusters, x.shape[1]).index_add_(0, torch.from_numpy(np.asarray(clusters, np.int64)), x)
    counts = torch.from_numpy(np.bincount(clusters, minlength=n_clusters)).float()
    means = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], g_mean)
    return torch.cat([means, g_mean[None]]), counts
