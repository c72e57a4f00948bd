"""Ranking deep clusters by confidence and splitting X into learnable X_l and memorizable X_m (Sec. III-B).

Definitions (PROTOCOL.md §2, with the change stated in docs/method.md):
- item confidence c_i = max_l P_il (eq. 3, against the trained bank);
- cluster confidence C_l = mean c_i over the cluster's members (0 for an empty cluster); clusters are ranked
  by C_l, most confident first;
- learnability s_i ∈ [0, 1], by score:
  ``paper``: s_i = sqrt(c_i · C_{l(i)}) — the paper's confidence ranking, item and cluster combined;
  ``regen``: s_i = 1 − u_i, the share of the item the semantic language regenerates (:mod:`semready.regen`);
- split: a threshold on s_i chosen by a policy: ``confidence`` (value = the floor: learnable iff s_i ≥ value),
  ``budget`` (value = the memorizable fraction: the ⌈value·N⌉ least learnable items, up to ties, are
  memorizable), ``complexity`` (value = a budget in nats per item: the largest learnable set — the top 100 %,
  90 %, …, 10 % by learnability — whose semantic language keeps its complexity Γ̂ per item
  (:func:`semready.complexity.heldout_complexity_per_item`) within the budget).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from semready.config import RankConfig
from semready.errors import SemreadyError
from semready.regen import RegenerationModel, cross_fitted_unexplained

DEFAULT_FLOOR = 0.5
POLICIES = ("confidence", "budget", "complexity")
SCORES = ("regen", "paper")


def cluster_confidence(clusters: np.ndarray, confidence: np.ndarray, n_clusters: int) -> np.ndarray:
    sums = np.bincount(clusters, weights=confidence, minlength=n_clusters)
    sizes = np.bincount(clusters, minlength=n_clusters)
    return np.divide(sums, sizes, out=np.zeros(n_clusters), where=sizes > 0)


def ranks_descending(scores: np.ndarray) -> np.ndarray:
    """1 for the highest score; ties keep input order."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def paper_learnability(item_conf: np.ndarray, cluster_conf_of_item: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(item_conf, 0, 1) * np.clip(cluster_conf_of_item, 0, 1))


def learnability_scores(cfg: RankConfig, clusters: np.ndarray, confidence: np.ndarray, n_clusters: int,
                        images: torch.Tensor, seed: int = 0
                        ) -> tuple[np.ndarray, RegenerationModel | None]:
    """Per-item learnability for a stream, and the regen language fitted on it (None for ``paper``)."""
    if cfg.score == "paper":
        return paper_learnability(confidence, cluster_confidence(clusters, confidence, n_clusters)[clusters]), None
    u, model = cross_fitted_unexplained(images, clusters, n_clusters, cfg.regen_rank, cfg.regen_resolution, seed)
    return 1.0 - u, model


def check_policy(policy: str, value: float) -> None:
    """Refuse an unknown policy or an out-of-range value before any work."""
    if policy not in POLICIES:
        raise SemreadyError(f"unknown split policy {policy!r}: choose one of {', '.join(POLICIES)}")
    if policy == "complexity":
        if not (np.isfinite(value) and value > 0):
            raise SemreadyError(f"--value {value} is not a complexity budget: give nats per item > 0 "
                                "(see Γ in kpis.json, e.g. 2000)")
    elif not 0.0 <= value <= 1.0:
        raise SemreadyError(f"--value {value} is out of range for policy {policy!r}: use a number in [0, 1]")


def learnable_threshold(learn: np.ndarray, policy: str, value: float,
                        complexity_of: Callable[[np.ndarray], float] | None = None) -> float:
    """The learnability at or above which an item is learnable, for a policy and its value.

    ``complexity_of(mask)`` (the ``complexity`` policy) returns Γ̂ per item of a language built on the masked
    items.
    """
    check_policy(policy, value)
    if policy == "confidence":
        return float(value)
    if policy == "complexity":
        if complexity_of is None:
            raise SemreadyError("the complexity policy needs the stream's items: split through "
                                "semready.pipeline.split or `semready split`")
        return complexity_threshold(learn, value, complexity_of)
    k = int(np.ceil(value * len(learn) - 1e-9))  # items to memorize
    if k >= len(learn):
        return float("inf")
    return float(np.sort(learn)[k])


def complexity_threshold(learn: np.ndarray, budget: float, complexity_of: Callable[[np.ndarray], float],
                         fractions: tuple[float, ...] = tuple(np.linspace(1.0, 0.1, 10))) -> float:
    """The threshold of the largest top-f learnable set (f = 100 %, 90 %, …) whose Γ̂ per item ≤ budget."""
    ordered = np.sort(learn)[::-1]
    needed = []
    for f in fractions:
        threshold = float(ordered[max(1, int(round(f * len(learn)))) - 1])
        gamma = complexity_of(learn >= threshold)
        needed.append(gamma)
        if gamma <= budget:
            return threshold
    raise SemreadyError(f"no learnable set keeps the language complexity within {budget:g} nats per item (the top "
                        f"{fractions[-1]:.0%} needs {min(needed):.0f}): raise --value")


def rank_and_split(clusters: np.ndarray, confidence: np.ndarray, learn: np.ndarray, n_clusters: int,
                   threshold: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-item and per-cluster tables (column name -> array). Every item lands in exactly one split."""
    c_conf = cluster_confidence(clusters, confidence, n_clusters)
    learnable = learn >= threshold
    sizes = np.bincount(clusters, minlength=n_clusters)
    n_learnable = np.bincount(clusters, weights=learnable, minlength=n_clusters)
    items = {
        "index": np.arange(len(clusters)),
        "cluster": clusters,
        "confidence": confidence,
        "learnability": learn,
        "rank": ranks_descending(learn),
        "split": np.where(learnable, "learnable", "memorizable"),
    }
    cluster_split = np.where(n_learnable * 2 >= np.maximum(sizes, 1), "learnable", "memorizable")
    table = {
        "cluster": np.arange(n_clusters),
        "size": sizes,
        "confidence": c_conf,
        "rank": ranks_descending(c_conf),
        "split": np.where(sizes > 0, cluster_split, "memorizable"),
    }
    return items, table
