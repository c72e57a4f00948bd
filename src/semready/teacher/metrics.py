"""Clustering quality where labels exist: ACC (Hungarian matching), NMI and ARI (scikit-learn)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def clustering_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """ACC: the best one-to-one matching of clusters to classes (Hungarian), as a fraction of items matched.

    Args:
        labels: true classes, int (N,).
        clusters: predicted clusters, int (N,).

    Returns:
        ACC in [0, 1].

    >>> clustering_accuracy(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 2]))
    0.75
    """
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    n_rows, n_cols = int(clusters.max()) + 1, int(labels.max()) + 1
    counts = np.zeros((n_rows, n_cols), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def clustering_scores(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """ACC, NMI and ARI of a clustering against labels (docs/protocol.md §8).

    Args:
        labels: true classes, int (N,).
        clusters: predicted clusters, int (N,).

    Returns:
        ``{"acc", "nmi", "ari"}``.

    >>> clustering_scores(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]))
    {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0}
    """
    return {
        "acc": clustering_accuracy(labels, clusters),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "ari": float(adjusted_rand_score(labels, clusters)),
    }


def kmeans_clusters(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means on L2-normalised features (the usual linear-probe-free clustering protocol).

    Args:
        features: float N×F.
        k: the number of clusters.
        seed: k-means' random state.

    Returns:
        Each item's cluster, int (N,).
    """
    from sklearn.cluster import KMeans

    f = features / np.linalg.norm(features, axis=1, keepdims=True).clip(min=1e-12)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(f)
