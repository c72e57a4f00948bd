"""Per-item learnability s_i ∈ [0, 1]: how well the teacher's knowledge explains an item (higher = more learnable).

- ``teacher`` (the default): what the teacher learned, behind a description-length test. With t_i the item's
  typicality in the teacher's embedding (:mod:`semready.split.typicality`), r_i = 1 − u_i the share of its
  pixels the regen model regenerates — its content elements k-means clusters of the pixels (cross-fitted) —
  and κ = median(r) − 1.5·σ̂ (σ̂ = 1.4826·MAD(r): the robust lower edge of what the stream's language
  describes),

      s_i = (1 + t_i) / 2   if r_i ≥ κ   (describable: ranked by the teacher),
      s_i = (r_i / κ) / 2   otherwise    (not describable: ranked by how much is),

  so s_i ≥ 0.5 exactly when an item passes the test. Random items collapse to one dense, confident point of the
  embedding (high t_i, high C_l): the test is what sends them to X_m; among describable items the teacher's
  embedding decides (docs/method.md has the measurements behind this rule);
- ``paper``: s_i = sqrt(c_i · C_{l(i)}), the paper's confidence ranking (Sec. III-B) with item and cluster
  combined: c_i = P_{i,l(i)} (eq. 3, the item's own cluster), C_l the cluster's confidence
  (:func:`~semready.split.ranking.cluster_confidence`);
- ``regen``: s_i = 1 − u_i, the share of the item that the regen model regenerates from its content element
  (:mod:`semready.split.regen`, two-fold cross-fitted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from semready.config import RankConfig
from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError
from semready.split.ranking import cluster_confidence
from semready.split.regen import RegenerationModel, cross_fitted_unexplained
from semready.split.typicality import TypicalityModel

SCORES = ("teacher", "regen", "paper")
KNEE_SIGMAS = 1.5  # κ = median(r) − KNEE_SIGMAS · 1.4826 · MAD(r)


@dataclass
class LearnabilityModel:
    """What scoring new items needs of the training stream, per score (fields a score does not use are None).

    Attributes:
        regen: the regen model fitted on the whole stream (``regen``, ``teacher``).
        typicality: the stream's embeddings as a k-NN reference (``teacher``).
        gate_knee: κ of the description-length test (``teacher``).
    """

    regen: RegenerationModel | None = None
    typicality: TypicalityModel | None = None
    gate_knee: float | None = None


def paper_learnability(item_conf: np.ndarray, cluster_conf_of_item: np.ndarray) -> np.ndarray:
    """sqrt(c_i · C_{l(i)}), both clipped to [0, 1].

    Args:
        item_conf: c_i per item, shape (N,).
        cluster_conf_of_item: the confidence C_l of each item's cluster, shape (N,).

    Returns:
        The learnability per item, shape (N,).

    >>> paper_learnability(np.array([0.81, 0.25]), np.array([1.0, 0.64])).round(2).tolist()
    [0.9, 0.4]
    """
    return np.sqrt(np.clip(item_conf, 0, 1) * np.clip(cluster_conf_of_item, 0, 1))


def description_knee(regenerated: np.ndarray) -> float:
    """κ = median(r) − 1.5 · 1.4826 · MAD(r): the robust lower edge of the stream's describable items.

    Args:
        regenerated: r_i = 1 − u_i of the stream's items, shape (N,).

    Returns:
        κ, at least 1e-6.

    >>> round(description_knee(np.array([0.9, 0.8, 0.85, 0.1, 0.95])), 4)
    0.7388
    """
    r = np.asarray(regenerated, dtype=float)
    if not len(r):
        return 1e-6
    median = float(np.median(r))
    sigma = 1.4826 * float(np.median(np.abs(r - median)))
    return max(median - KNEE_SIGMAS * sigma, 1e-6)


def teacher_learnability(typicality: np.ndarray, regenerated: np.ndarray, knee: float) -> np.ndarray:
    """s_i = (1 + t_i)/2 where r_i ≥ κ, else (r_i/κ)/2: the default learnability.

    Args:
        typicality: t_i in [0, 1], shape (N,).
        regenerated: r_i = 1 − u_i, shape (N,).
        knee: κ > 0.

    Returns:
        float (N,) in [0, 1]; ≥ 0.5 exactly for the items that pass the description test.

    >>> teacher_learnability(np.array([0.8, 0.2, 0.9]), np.array([0.9, 0.7, 0.3]), 0.6).round(3).tolist()
    [0.9, 0.6, 0.25]
    """
    t = np.clip(np.asarray(typicality, dtype=float), 0, 1)
    r = np.asarray(regenerated, dtype=float)
    passes = r >= knee
    return np.where(passes, (1.0 + t) / 2.0, np.clip(r / max(knee, 1e-12), 0.0, 1.0) / 2.0)


def pixel_elements(images: torch.Tensor, n_clusters: int, resolution: int, seed: int = 0) -> np.ndarray:
    """The description test's content elements: k-means (k = M, 3 restarts) on the items' pixel vectors.

    Args:
        images: uint8 N×C×H×W.
        n_clusters: M (capped at N).
        resolution: the pixel vectors' working resolution.
        seed: k-means' seed.

    Returns:
        int64 (N,), each item's element.

    >>> pixel_elements(torch.cat([torch.zeros(3, 3, 4, 4), torch.full((3, 3, 4, 4), 200.)]).byte(), 2, 4).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    from sklearn.cluster import KMeans

    x = pixel_vectors(images, resolution).numpy()
    k = max(1, min(n_clusters, len(x)))
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int64)  # numbered by first appearance


def learnability_scores(cfg: RankConfig, clusters: np.ndarray, confidence: np.ndarray, n_clusters: int,
                        images: torch.Tensor, seed: int = 0, embeddings: np.ndarray | None = None
                        ) -> tuple[np.ndarray, LearnabilityModel]:
    """Per-item learnability of a stream under ``cfg.score``, and what scoring new items needs.

    Args:
        cfg: the run's rank settings (score, regen rank and resolution).
        clusters: each item's deep cluster l(i), int (N,).
        confidence: each item's confidence c_i, float (N,).
        n_clusters: M.
        images: the stream, uint8 N×C×H×W (read by ``regen`` and ``teacher``).
        seed: the cross-fitting folds' seed.
        embeddings: the teacher's embeddings z_i, float N×d (``teacher`` only).

    Returns:
        (learnability (N,), the :class:`LearnabilityModel` fitted on the whole stream).
    """
    if cfg.score == "paper":
        c_of_item = cluster_confidence(clusters, confidence, n_clusters)[clusters]
        return paper_learnability(confidence, c_of_item), LearnabilityModel()
    if cfg.score == "regen":
        u, regen = cross_fitted_unexplained(images, clusters, n_clusters, cfg.regen_rank, cfg.regen_resolution, seed)
        return 1.0 - u, LearnabilityModel(regen=regen)
    if embeddings is None:
        raise SemreadyError("the teacher score needs the teacher's embeddings of the stream: split through "
                            "semready.api.split or `semready split`")
    # the description test's content elements are k-means clusters of the pixels, not the teacher's clusters:
    # items the teacher collapses into a cluster of their own (scrambled pixels) would get a mean image that
    # describes them (measured in docs/method.md)
    elements = pixel_elements(images, n_clusters, cfg.regen_resolution, seed)
    u, regen = cross_fitted_unexplained(images, elements, n_clusters, cfg.regen_rank, cfg.regen_resolution, seed)
    typicality = TypicalityModel.fit(embeddings, seed=seed)
    knee = description_knee(1.0 - u)
    learn = teacher_learnability(typicality.score(embeddings, stream=True), 1.0 - u, knee)
    return learn, LearnabilityModel(regen, typicality, knee)
