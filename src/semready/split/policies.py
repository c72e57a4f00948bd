"""Split policies: the learnability threshold at or above which an item is learnable (X_l), else memorizable.

- ``confidence``: value = the floor; learnable iff s_i ≥ value;
- ``budget``: value = the memorizable fraction; the ⌈value·N⌉ least learnable items (up to ties) are memorizable;
- ``complexity``: value = a budget in nats per item; the largest learnable set — the top 100 %, 90 %, …, 10 % by
  learnability — whose semantic language keeps its complexity Γ̂ per item
  (:func:`semready.comm.complexity.heldout_complexity_per_item`) within the budget. The paper: "categorizing
  particular semantic deep clusters … as X_m is a function of the lowest tolerable level of confidence … based on
  the tolerable language complexity in (1)".

Cluster-level policies, the paper's own rule (Sec. III-B: deep clusters are ranked by confidence and the least
confident are "categorized as X_m"): whole clusters go to X_m, least confident C_l first; every member of a
cluster shares its split.

- ``cluster-floor``: value = the floor on C_l; a cluster is learnable iff C_l ≥ value;
- ``cluster-budget``: value = the memorizable fraction; the fewest least-confident clusters that together hold at
  least ⌈value·N⌉ items are memorizable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from semready.errors import SemreadyError

# the split a trained run starts with (re-split with any policy): learnable iff s_i ≥ 0.5 — under the teacher
# score, exactly the items that pass the description test (docs/method.md)
DEFAULT_POLICY = "confidence"
DEFAULT_FLOOR = 0.5
CLUSTER_POLICIES = ("cluster-floor", "cluster-budget")
POLICIES = ("confidence", "budget", "complexity", "cluster-floor", "cluster-budget")  # a literal: the CLI reads it


def check_policy(policy: str, value: float) -> None:
    """Refuse an unknown policy or an out-of-range value before any work (a one-line :class:`SemreadyError`).

    Args:
        policy: one of :data:`POLICIES`.
        value: a floor or fraction in [0, 1], or for ``complexity`` a budget > 0 in nats per item.

    >>> check_policy("budget", 0.2)
    """
    if policy not in POLICIES:
        raise SemreadyError(f"unknown split policy {policy!r}: choose one of {', '.join(POLICIES)}")
    if policy == "complexity":
        if not (np.isfinite(value) and value > 0):
            raise SemreadyError(f"--value {value} is not a complexity budget: give nats per item > 0 "
                                "(see Γ in kpis.json, e.g. 2000)")
    elif policy.endswith("budget"):
        if not 0.0 < value < 1.0:
            raise SemreadyError(f"--value {value} is not a memorizable fraction for policy {policy!r}: use a number "
                                "strictly between 0 and 1, e.g. 0.1")
    elif not 0.0 <= value <= 1.0:
        raise SemreadyError(f"--value {value} is out of range for policy {policy!r}: use a number in [0, 1]")


def learnable_threshold(learn: np.ndarray, policy: str, value: float,
                        complexity_of: Callable[[np.ndarray], float] | None = None, allow_empty: bool = False) -> float:
    """The learnability at or above which an item is learnable, for a policy and its value.

    Args:
        learn: learnability per item, shape (N,).
        policy: one of :data:`POLICIES`.
        value: the policy's value (floor, memorizable fraction, or nats per item).
        complexity_of: for ``complexity``: maps a boolean mask (N,) of learnable items to Γ̂ per item of a
            language built on them.
        allow_empty: accept a floor no item meets (the split after training; a user's re-split is refused).

    Returns:
        The threshold (``inf`` when the budget memorizes every item).

    >>> learnable_threshold(np.array([0.9, 0.1, 0.5, 0.7]), "budget", 0.5)
    0.7
    """
    check_policy(policy, value)
    if policy in CLUSTER_POLICIES:
        raise SemreadyError(f"policy {policy!r} splits whole clusters: use learnable_clusters")
    if policy == "confidence":
        if len(learn) and not (learn >= value).any() and not allow_empty:
            raise SemreadyError(f"no item reaches the learnability floor {value:g} (the highest is "
                                f"{float(learn.max()):.3f}): lower --value, or use --policy budget")
        return float(value)
    if policy == "complexity":
        if complexity_of is None:
            raise SemreadyError("the complexity policy needs the stream's items: split through "
                                "semready.api.split or `semready split`")
        return complexity_threshold(learn, value, complexity_of)
    k = int(np.ceil(value * len(learn) - 1e-9))  # items to memorize
    if k >= len(learn):
        return float("inf")
    return float(np.sort(learn)[k])


def complexity_threshold(learn: np.ndarray, budget: float, complexity_of: Callable[[np.ndarray], float],
                         fractions: tuple[float, ...] = tuple(np.linspace(1.0, 0.1, 10))) -> float:
    """The threshold of the largest top-f learnable set (f = 100 %, 90 %, …) whose Γ̂ per item ≤ ``budget``.

    Args:
        learn: learnability per item, shape (N,).
        budget: Γ̂ per item allowed, nats.
        complexity_of: maps a boolean mask (N,) of learnable items to Γ̂ per item (nats) of a language built on
            them (docs/protocol.md §7).
        fractions: the top fractions tried, largest first.

    Returns:
        The learnability threshold of the first fraction within budget.

    >>> complexity_threshold(np.array([0.9, 0.1, 0.5]), 2.0, lambda mask: float(mask.sum()))
    0.5
    """
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


def learnable_clusters(cluster_conf: np.ndarray, sizes: np.ndarray, policy: str, value: float) -> np.ndarray:
    """Which whole clusters are learnable under a cluster-level policy (the paper's confidence ranking).

    Args:
        cluster_conf: C_l per cluster, float (M,).
        sizes: members per cluster, int (M,).
        policy: ``cluster-floor`` or ``cluster-budget``.
        value: the floor on C_l, or the memorizable fraction of the items.

    Returns:
        bool (M,): True for a learnable cluster (an empty cluster is memorizable).

    >>> learnable_clusters(np.array([0.9, 0.2, 0.6]), np.array([5, 3, 2]), "cluster-floor", 0.5).tolist()
    [True, False, True]
    >>> learnable_clusters(np.array([0.9, 0.2, 0.6]), np.array([5, 3, 2]), "cluster-budget", 0.4).tolist()
    [True, False, False]
    """
    check_policy(policy, value)
    if policy not in CLUSTER_POLICIES:
        raise SemreadyError(f"policy {policy!r} is item-level: use learnable_threshold")
    cluster_conf, sizes = np.asarray(cluster_conf, dtype=float), np.asarray(sizes)
    present = sizes > 0
    if policy == "cluster-floor":
        keep = present & (cluster_conf >= value)
        if not keep.any():
            best = float(cluster_conf[present].max()) if present.any() else 0.0
            raise SemreadyError(f"no cluster reaches the confidence floor {value:g} (the most confident has C_l = "
                                f"{best:.3f}): lower --value, or use --policy cluster-budget")
        return keep
    need = int(np.ceil(value * sizes.sum() - 1e-9))
    keep = present.copy()
    memorized = 0
    for cluster in np.argsort(np.where(present, cluster_conf, np.inf), kind="stable"):
        if memorized >= need:
            break
        keep[cluster] = False
        memorized += int(sizes[cluster])
    if not keep.any():
        raise SemreadyError(f"a memorizable budget of {value:g} takes every cluster: lower --value")
    return keep
