"""Ranking deep clusters by confidence (Sec. III-B) and the per-item / per-cluster tables of a split.

- item confidence c_i = P_{i,l(i)} (eq. 3 for the item's own cluster, against the trained bank;
  :mod:`semready.teacher.infer`);
- cluster confidence C_l = mean c_i over the cluster's members (0 for an empty cluster); clusters are ranked by
  C_l, most confident first (rank 1);
- items are ranked by learnability (:mod:`semready.split.scores`), most learnable first; the split is the
  policy's decision (:mod:`semready.split.policies`): a threshold on learnability, or whole clusters cut from
  the bottom of the C_l ranking. Every item lands in exactly one of X_l, X_m.
"""

from __future__ import annotations

import numpy as np


def cluster_confidence(clusters: np.ndarray, confidence: np.ndarray, n_clusters: int) -> np.ndarray:
    """C_l, the mean confidence of each cluster's members (0 where a cluster has none).

    Args:
        clusters: each item's cluster, int (N,).
        confidence: each item's c_i, float (N,).
        n_clusters: M.

    Returns:
        float (M,).

    >>> cluster_confidence(np.array([0, 0, 2]), np.array([0.5, 1.0, 0.25]), 3).tolist()
    [0.75, 0.0, 0.25]
    """
    sums = np.bincount(clusters, weights=confidence, minlength=n_clusters)
    sizes = np.bincount(clusters, minlength=n_clusters)
    return np.divide(sums, sizes, out=np.zeros(n_clusters), where=sizes > 0)


def ranks_descending(scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest score; ties keep input order.

    Args:
        scores: float (N,).

    Returns:
        int64 (N,), a permutation of 1..N.

    >>> ranks_descending(np.array([0.2, 0.9, 0.2])).tolist()
    [2, 1, 3]
    """
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def rank_and_split(clusters: np.ndarray, confidence: np.ndarray, learn: np.ndarray, n_clusters: int,
                   learnable: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The split's tables, column name -> array.

    Args:
        clusters, confidence, learn: per item, shape (N,).
        n_clusters: M.
        learnable: the policy's decision per item, bool (N,) (:mod:`semready.split.policies`).

    Returns:
        (items: ``index, cluster, confidence, learnability, rank, split``, each (N,);
        clusters: ``cluster, size, confidence, rank, learnable_share, split``, each (M,) — a cluster's split is
        ``learnable`` or ``memorizable`` when all its members share it (always so under a cluster-level policy),
        ``mixed`` otherwise; an empty cluster is ``memorizable``).

    >>> items, table = rank_and_split(np.array([0, 0, 1]), np.array([0.9, 0.8, 0.3]),
    ...                               np.array([0.9, 0.2, 0.6]), 2, np.array([True, False, True]))
    >>> items["split"].tolist(), table["rank"].tolist(), table["split"].tolist()
    (['learnable', 'memorizable', 'learnable'], [1, 2], ['mixed', 'learnable'])
    """
    learnable = np.asarray(learnable, dtype=bool)
    c_conf = cluster_confidence(clusters, confidence, n_clusters)
    sizes = np.bincount(clusters, minlength=n_clusters)
    n_learnable = np.bincount(clusters, weights=learnable, minlength=n_clusters)
    share = np.divide(n_learnable, sizes, out=np.zeros(n_clusters), where=sizes > 0)
    items = {
        "index": np.arange(len(clusters)),
        "cluster": clusters,
        "confidence": confidence,
        "learnability": learn,
        "rank": ranks_descending(learn),
        "split": np.where(learnable, "learnable", "memorizable"),
    }
    table = {
        "cluster": np.arange(n_clusters),
        "size": sizes,
        "confidence": c_conf,
        "rank": ranks_descending(c_conf),
        "learnable_share": share,
        "split": np.select([sizes == 0, share == 1.0, share == 0.0], ["memorizable", "learnable", "memorizable"],
                           "mixed"),
    }
    return items, table
