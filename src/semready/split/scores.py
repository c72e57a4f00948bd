"""Per-item learnability s_i ∈ [0, 1]: how well the teacher's knowledge explains an item (higher = more learnable).

- ``paper``: s_i = sqrt(c_i · C_{l(i)}), the paper's confidence ranking (Sec. III-B) with item and cluster
  combined: c_i = max_l P_il (eq. 3), C_l the cluster's confidence (:func:`~semready.split.ranking.cluster_confidence`);
- ``regen``: s_i = 1 − u_i, the share of the item that the regen model regenerates from its content element
  (:mod:`semready.split.regen`, two-fold cross-fitted).
"""

from __future__ import annotations

import numpy as np
import torch

from semready.config import RankConfig
from semready.split.ranking import cluster_confidence
from semready.split.regen import RegenerationModel, cross_fitted_unexplained

SCORES = ("regen", "paper")


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


def learnability_scores(cfg: RankConfig, clusters: np.ndarray, confidence: np.ndarray, n_clusters: int,
                        images: torch.Tensor, seed: int = 0
                        ) -> tuple[np.ndarray, RegenerationModel | None]:
    """Per-item learnability of a stream under ``cfg.score``, and the regen model fitted on it.

    Args:
        cfg: the run's rank settings (score, regen rank and resolution).
        clusters: each item's deep cluster l(i), int (N,).
        confidence: each item's confidence c_i, float (N,).
        n_clusters: M.
        images: the stream, uint8 N×C×H×W (read by ``regen`` only).
        seed: the cross-fitting folds' seed.

    Returns:
        (learnability (N,), the regen model fitted on the whole stream — None for ``paper``).
    """
    if cfg.score == "paper":
        return paper_learnability(confidence, cluster_confidence(clusters, confidence, n_clusters)[clusters]), None
    u, model = cross_fitted_unexplained(images, clusters, n_clusters, cfg.regen_rank, cfg.regen_resolution, seed)
    return 1.0 - u, model
