"""Clustering quality where labels exist: ACC (Hungarian matching), NMI and ARI (scikit-learn)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def clustering_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Best one-to-one matching of clusters to classes (Hungarian), as a fraction of items matched."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    n_rows, n_cols = int(clusters.max()) + 1, int(labels.max()) + 1
    counts = np.zeros((n_rows, n_cols), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def clustering_scores(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    return {
        "acc": clustering_accuracy(labels, clusters),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "ari": float(adjusted_rand_score(labels, clusters)),
    }


def kmeans_clusters(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means on L2-normalised features (the usual linear-probe-free clustering protocol)."""
    from sklearn.cluster import KMeans

    f = features / np.linalg.norm(features, axis=1, keepdims=True).clip(min=1e-12)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(f)
