"""Pixel statistics of a stream: items as float vectors, and their mean per content element.

Both the split (the regen model, :mod:`semready.split.regen`) and the semantic language
(:mod:`semready.comm.language`) describe items around their cluster's mean image; this is their one home.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pixel_vectors(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 N×3×H×W -> float N×D in [0, 1], area-downsampled so that the longer side is ≤ resolution."""
    x = images.float() / 255.0
    h, w = x.shape[-2:]
    if max(h, w) > resolution:
        scale = resolution / max(h, w)
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    return x.reshape(len(x), -1)


def cluster_means(x: torch.Tensor, clusters: np.ndarray, n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean item μ_l of each cluster (rows 0..M-1; the global mean for a cluster with no item) and, as row M, the
    global mean; plus the M cluster sizes. ``x``: N×D float items, ``clusters``: their cluster per item."""
    g_mean = x.mean(dim=0)
    sums = torch.zeros(n_clusters, x.shape[1]).index_add_(0, torch.from_numpy(np.asarray(clusters, np.int64)), x)
    counts = torch.from_numpy(np.bincount(clusters, minlength=n_clusters)).float()
    means = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], g_mean)
    return torch.cat([means, g_mean[None]]), counts
