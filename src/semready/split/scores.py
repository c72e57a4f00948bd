"""Per-item learnability s_i ∈ [0, 1]: how well the teacher's knowledge explains an item (higher = more learnable).

- ``teacher`` (the default): s_i = sqrt(C_{l(i)} · t_i) · g_i — the paper's cluster confidence C_l of the item's
  deep cluster, the item's typicality t_i in the teacher's embedding (:mod:`semready.split.typicality`), and a
  description-length gate g_i = min(1, (1 − u_i) / κ) with u_i the regen model's unexplained share and κ half the
  stream's median 1 − u: an item whose pixels no short description regenerates (noise, scrambled pixels) is
  memorizable however confidently the teacher files it — random items collapse to one dense, confident point;
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
from semready.errors import SemreadyError
from semready.split.ranking import cluster_confidence
from semready.split.regen import RegenerationModel, cross_fitted_unexplained
from semready.split.typicality import TypicalityModel

SCORES = ("teacher", "regen", "paper")
GATE_SHARE = 0.5  # κ = GATE_SHARE × the stream's median regenerated share 1 − u


@dataclass
class LearnabilityModel:
    """What scoring new items needs of the training stream, per score (fields a score does not use are None).

    Attributes:
        regen: the regen model fitted on the whole stream (``regen``, ``teacher``).
        typicality: the stream's embeddings as a k-NN reference (``teacher``).
        gate_knee: κ of the description-length gate (``teacher``).
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


def description_gate(regenerated: np.ndarray, knee: float) -> np.ndarray:
    """g_i = min(1, (1 − u_i) / κ): 1 for items a short description regenerates, falling to 0 for those it cannot.

    Args:
        regenerated: 1 − u_i per item, shape (N,).
        knee: κ > 0.

    Returns:
        float (N,) in [0, 1].

    >>> description_gate(np.array([0.9, 0.3, 0.05]), knee=0.45).round(3).tolist()
    [1.0, 0.667, 0.111]
    """
    return np.clip(np.asarray(regenerated, dtype=float) / max(knee, 1e-12), 0.0, 1.0)


def teacher_learnability(cluster_conf_of_item: np.ndarray, typicality: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """s_i = sqrt(C_{l(i)} · t_i) · g_i, the default learnability.

    Args:
        cluster_conf_of_item: C_l of each item's cluster, shape (N,).
        typicality: t_i in [0, 1], shape (N,).
        gate: g_i in [0, 1], shape (N,).

    Returns:
        float (N,) in [0, 1].

    >>> teacher_learnability(np.array([0.81, 0.64]), np.array([1.0, 0.25]), np.array([1.0, 0.5])).round(2).tolist()
    [0.9, 0.2]
    """
    return np.sqrt(np.clip(cluster_conf_of_item, 0, 1) * np.clip(typicality, 0, 1)) * np.clip(gate, 0, 1)


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
    c_of_item = cluster_confidence(clusters, confidence, n_clusters)[clusters]
    if cfg.score == "paper":
        return paper_learnability(confidence, c_of_item), LearnabilityModel()
    u, regen = cross_fitted_unexplained(images, clusters, n_clusters, cfg.regen_rank, cfg.regen_resolution, seed)
    if cfg.score == "regen":
        return 1.0 - u, LearnabilityModel(regen=regen)
    if embeddings is None:
        raise SemreadyError("the teacher score needs the teacher's embeddings of the stream: split through "
                            "semready.api.split or `semready split`")
    typicality = TypicalityModel.fit(embeddings, seed=seed)
    knee = GATE_SHARE * float(np.median(1.0 - u)) if len(u) else GATE_SHARE
    learn = teacher_learnability(c_of_item, typicality.score(embeddings, stream=True), description_gate(1.0 - u, knee))
    return learn, LearnabilityModel(regen, typicality, knee)
