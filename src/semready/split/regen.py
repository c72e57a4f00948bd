"""What the semantic path can regenerate, and each item's unexplained share of energy (learnability ``regen``).

The semantic path sends an item as its content element (deep cluster l) plus a short refinement; the
apprentice regenerates it from the cluster's mean image μ_l and a refinement basis U shared by all content
elements (rank r, the principal directions of the stream's pixels at a working resolution of at most
``resolution``×``resolution``). The share of the item's energy around μ_l that the model leaves
unexplained,

    u_i = ‖(x_i − μ_l) − UᵀU(x_i − μ_l)‖² / ‖x_i − μ_l‖²,

is small for structured items and close to 1 for semantic-poor ones: the energy of uniform noise or of
scrambled pixels is spread over all D directions, so a rank-r model explains about r/D of it. The regen
learnability of an item is 1 − u_i.

Cross-fitting: within a stream, each item is scored by a model fitted on the *other* half of the stream
(two random folds), so the model never explains an item by having memorised it. A cluster with no members
in the fitting fold uses the fold's global mean. New data (``route``) is scored by the model fitted on the
whole training stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semready.data.pixels import cluster_means, pixel_vectors
from semready.teacher.checkpoint import read_model_tensors, write_model_tensors

EPS = 1e-8


@dataclass
class RegenerationModel:
    """The apprentice's regeneration model: cluster means μ_l and a shared rank-r refinement basis U.

    Attributes:
        means: float (M + 1)×D, the cluster means, then the global mean.
        basis: U, float r×D with orthonormal rows.
        resolution: the working resolution of the pixel vectors (D = C·h·w at that resolution).

    >>> x, clusters = torch.rand(20, 12), np.arange(20) % 2
    >>> model = RegenerationModel.fit(x, clusters, n_clusters=2, rank=3, resolution=2)
    >>> model.means.shape, model.basis.shape, model.unexplained(x, clusters).shape
    (torch.Size([3, 12]), torch.Size([3, 12]), (20,))
    """

    means: torch.Tensor  # (M + 1)×D: per-cluster mean images, then the global mean
    basis: torch.Tensor  # r×D, orthonormal rows: the shared refinement directions
    resolution: int

    @classmethod
    def fit(cls, x: torch.Tensor, clusters: np.ndarray, n_clusters: int, rank: int,
            resolution: int) -> RegenerationModel:
        """Fit μ_l and U (randomised SVD of the centred pixels) on a set of items.

        Args:
            x: pixel vectors, float N×D (:func:`~semready.data.pixels.pixel_vectors`).
            clusters: each item's cluster, int (N,).
            n_clusters: M.
            rank: r, capped at N − 1 and D (0 gives an empty basis).
            resolution: the working resolution ``x`` was made at (stored for new items).

        Returns:
            The fitted model.
        """
        means, _ = cluster_means(x, clusters, n_clusters)
        g_mean = means[-1]
        r = min(rank, len(x) - 1, x.shape[1])
        if r < 1:
            basis = x.new_zeros(0, x.shape[1])
        else:
            # the randomised SVD draws from torch's global generator: a fixed private draw makes the basis (and
            # every learnability) depend on the data alone, and leaves the caller's generator untouched
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                _, _, v = torch.svd_lowrank(x - g_mean, q=min(r + 8, min(x.shape)), niter=3)
            basis = v[:, :r].t().contiguous()
        return cls(means, basis, resolution)

    def unexplained(self, x: torch.Tensor, clusters: np.ndarray) -> np.ndarray:
        """u_i, the unexplained share of each item's energy around its cluster mean.

        Args:
            x: pixel vectors, float N×D.
            clusters: each item's cluster, int (N,).

        Returns:
            float (N,), in [0, 1].
        """
        d = x - self.means[torch.from_numpy(clusters)]
        resid = d - (d @ self.basis.t()) @ self.basis
        return ((resid ** 2).sum(1) / ((d ** 2).sum(1) + EPS)).clamp(0, 1).numpy()

    def nearest_element(self, x: torch.Tensor) -> np.ndarray:
        """Each item's nearest content element: the index of the closest cluster mean μ_l (the global mean is
        not an element).

        Args:
            x: pixel vectors, float N×D.

        Returns:
            int64 (N,), in 0..M−1.
        """
        return torch.cdist(x, self.means[:-1]).argmin(dim=1).numpy().astype(np.int64)

    def unexplained_images(self, images: torch.Tensor, clusters: np.ndarray) -> np.ndarray:
        """u_i of uint8 images N×C×H×W (brought to the model's working resolution), float (N,)."""
        return self.unexplained(pixel_vectors(images, self.resolution), clusters)

    def save(self, path: Path) -> None:
        """Write the model to a safetensors file, atomically."""
        write_model_tensors(path, {"means": self.means, "basis": self.basis,
                                   "resolution": torch.tensor(self.resolution)})

    @classmethod
    def load(cls, path: Path) -> RegenerationModel:
        """Read a model :meth:`save` wrote; a foreign or malformed file is a one-line :class:`SemreadyError`."""
        t = read_model_tensors(path, "regen model", lambda t: t["means"].ndim == 2 and t["basis"].ndim == 2
                               and t["means"].shape[1] == t["basis"].shape[1] and t["resolution"].numel() == 1)
        return cls(t["means"].float(), t["basis"].float(), int(t["resolution"]))


def cross_fitted_unexplained(images: torch.Tensor, clusters: np.ndarray, n_clusters: int, rank: int = 128,
                             resolution: int = 32, seed: int = 0) -> tuple[np.ndarray, RegenerationModel]:
    """u_i for every item of a stream (two-fold cross-fitted) and the model fitted on the whole stream.

    Args:
        images: the stream, uint8 N×C×H×W.
        clusters: each item's deep cluster, int (N,).
        n_clusters: M.
        rank: r of the refinement basis.
        resolution: the working resolution.
        seed: the folds' seed.

    Returns:
        (u float (N,) in [0, 1], the model fitted on all N items).

    >>> images = torch.randint(0, 256, (16, 3, 4, 4), dtype=torch.uint8)
    >>> u, model = cross_fitted_unexplained(images, np.arange(16) % 2, 2, rank=4, resolution=4)
    >>> u.shape, model.basis.shape
    ((16,), torch.Size([4, 48]))
    """
    x = pixel_vectors(images, resolution)
    fold = np.random.default_rng(seed).integers(0, 2, len(x))
    u = np.ones(len(x))  # a one-item stream has nothing else to learn from: fully unexplained
    for k in (0, 1):
        fit_on, score = fold != k, fold == k
        if fit_on.any() and score.any():
            model = RegenerationModel.fit(x[torch.from_numpy(fit_on)], clusters[fit_on], n_clusters, rank,
                                          resolution)
            u[score] = model.unexplained(x[torch.from_numpy(score)], clusters[score])
    return u, RegenerationModel.fit(x, clusters, n_clusters, rank, resolution)
