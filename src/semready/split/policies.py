"""Split policies: the learnability threshold at or above which an item is learnable (X_l), else memorizable.

- ``confidence``: value = the floor; learnable iff s_i ≥ value;
- ``budget``: value = the memorizable fraction; the ⌈value·N⌉ least learnable items (up to ties) are memorizable;
- ``complexity``: value = a budget in nats per item; the largest learnable set — the top 100 %, 90 %, …, 10 % by
  learnability — whose semantic language keeps its complexity Γ̂ per item
  (:func:`semready.comm.complexity.heldout_complexity_per_item`) within the budget. The paper: "categorizing
  particular semantic deep clusters … as X_m is a function of the lowest tolerable level of confidence … based on
  the tolerable language complexity in (1)".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from semready.errors import SemreadyError

DEFAULT_FLOOR = 0.5
POLICIES = ("confidence", "budget", "complexity")


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
    elif not 0.0 <= value <= 1.0:
        raise SemreadyError(f"--value {value} is out of range for policy {policy!r}: use a number in [0, 1]")


def learnable_threshold(learn: np.ndarray, policy: str, value: float,
                        complexity_of: Callable[[np.ndarray], float] | None = None) -> float:
    """The learnability at or above which an item is learnable, for a policy and its value.

    Args:
        learn: learnability per item, shape (N,).
        policy: one of :data:`POLICIES`.
        value: the policy's value (floor, memorizable fraction, or nats per item).
        complexity_of: for ``complexity``: maps a boolean mask (N,) of learnable items to Γ̂ per item of a
            language built on them.

    Returns:
        The threshold (``inf`` when the budget memorizes every item).

    >>> learnable_threshold(np.array([0.9, 0.1, 0.5, 0.7]), "budget", 0.5)
    0.7
    """
    check_policy(policy, value)
    if policy == "confidence":
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
