"""Mixture streams of a chosen content complexity (docs/protocol.md §3), for the paper's Fig. 2 / Fig. 3 sweep.

A stream mixes K structured content elements (classes of the content pools: CIFAR-10, CIFAR-100,
ImageNet-10/Dogs or their stand-ins, the embedded sample) with a fraction ρ of semantic-poor items — half
``noise``, half ``scrambled`` (:mod:`semready.data.inject`) — each its own content element. Its content
complexity in nats, with p the distribution of the structured elements and N_m the semantic-poor items:

    H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·ln N_m,        h_b the binary entropy.

A sweep raises H_c by raising K and ρ together (:func:`default_levels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from semready.data.inject import CLEAN, inject
from semready.data.sources import ImageData
from semready.errors import SemreadyError

RHOS = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50)


def binary_entropy(rho: float) -> float:
    """h_b(ρ) in nats.

    Args:
        rho: a probability in [0, 1].

    Returns:
        −ρ ln ρ − (1 − ρ) ln(1 − ρ); 0 at the ends.

    >>> round(binary_entropy(0.5), 4)
    0.6931
    """
    return 0.0 if rho in (0.0, 1.0) else -(rho * math.log(rho) + (1 - rho) * math.log(1 - rho))


def content_complexity(element_counts: np.ndarray, n_poor: int) -> float:
    """H_c (nats) of a stream with these structured-element counts and ``n_poor`` semantic-poor items.

    Args:
        element_counts: items per structured content element, (K,); zeros are ignored.
        n_poor: N_m, the semantic-poor items, each its own content element.

    Returns:
        H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·ln N_m in nats.

    >>> round(float(content_complexity(np.array([10, 10]), 0)), 4)
    0.6931
    """
    counts = np.asarray(element_counts, dtype=np.float64)
    counts = counts[counts > 0]
    n = counts.sum() + n_poor
    if n == 0:
        raise SemreadyError("a stream with no items has no content complexity: add items")
    rho = n_poor / n
    p = counts / counts.sum() if counts.sum() else counts
    h_p = float(-(p * np.log(p)).sum()) if len(p) else 0.0
    return binary_entropy(rho) + (1 - rho) * h_p + (rho * math.log(n_poor) if n_poor else 0.0)


@dataclass(frozen=True)
class Level:
    """One content-complexity level of a sweep.

    Attributes:
        name: ``L1``, ``L2``, ... in order of complexity.
        elements: K, the structured content elements.
        rho: ρ, the semantic-poor fraction.
        items: N, the stream's size.

    >>> level = Level("L1", 4, 0.1, 100)
    >>> level.n_poor, per_element(level).tolist()
    (10, [23, 23, 22, 22])
    """

    name: str
    elements: int  # K structured content elements
    rho: float  # semantic-poor fraction
    items: int  # N

    @property
    def n_poor(self) -> int:
        """N_m = round(ρ·N)."""
        return int(round(self.rho * self.items))

    @property
    def complexity(self) -> float:
        """H_c for a balanced draw (the stream's own counts give the exact value: MixtureStream.complexity)."""
        return content_complexity(per_element(self), self.n_poor)


def default_levels(max_elements: int, items: int, count: int = 6) -> list[Level]:
    """``count`` levels from (3 elements, ρ 5 %) to (all elements, ρ 50 %), K and ρ rising together.

    Args:
        max_elements: the content elements the pools hold (at least 3).
        items: N per stream.
        count: how many levels.

    Returns:
        The levels, least complex first.

    >>> [(lv.name, lv.elements, lv.rho) for lv in default_levels(10, 1000, 3)]
    [('L1', 3, 0.05), ('L2', 6, 0.25), ('L3', 10, 0.5)]
    """
    if max_elements < 3:
        raise SemreadyError(f"the content pools hold {max_elements} class(es): a sweep needs at least 3")
    ks = np.round(np.linspace(3, max_elements, count)).astype(int)  # repeats are fine: ρ still rises
    rhos = np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(RHOS)), RHOS)
    return [Level(f"L{i + 1}", int(k), float(round(r, 3)), items) for i, (k, r) in enumerate(zip(ks, rhos,
                                                                                              strict=True))]


@dataclass
class MixtureStream:
    """A level's stream.

    Attributes:
        data: N items; labels: the structured element (0..K−1), −1 for semantic-poor items.
        family: ``clean``, ``noise`` or ``scrambled`` per item, str (N,).
    """

    data: ImageData  # labels: the structured element (0..K-1), -1 for semantic-poor items
    family: np.ndarray  # "clean" / "noise" / "scrambled"

    @property
    def complexity(self) -> float:
        """H_c (nats) from the stream's own counts."""
        clean = self.family == CLEAN
        return content_complexity(np.bincount(self.data.labels[clean]), int((~clean).sum()))


def pool_content(pools: list[ImageData]) -> ImageData:
    """Concatenate labelled pools into one, their classes as distinct content elements.

    Args:
        pools: labelled image sets of one item shape.

    Returns:
        One :class:`ImageData`; labels offset so that no two pools share one, classes named ``spec:class``.

    >>> pool = ImageData(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), np.array([0, 1, 0, 1]), ["a", "b"], "toy")
    >>> merged = pool_content([pool, pool])
    >>> merged.labels.tolist(), merged.classes
    ([0, 1, 0, 1, 2, 3, 2, 3], ['toy:a', 'toy:b', 'toy:a', 'toy:b'])
    """
    images, labels, classes = [], [], []
    for pool in pools:
        if pool.labels is None:
            raise SemreadyError(f"content pool {pool.spec} has no labels: content elements need classes (npz "
                                "with 'y', cifar, folder)")
        images.append(pool.images)
        labels.append(pool.labels + len(classes))
        names = pool.classes or [str(c) for c in range(int(pool.labels.max()) + 1)]
        classes.extend(f"{pool.spec}:{c}" for c in names)
    shapes = {tuple(i.shape[1:]) for i in images}
    if len(shapes) > 1:
        raise SemreadyError(f"content pools have different item shapes {sorted(shapes)}: load them at one "
                            "image size")
    return ImageData(torch.cat(images), np.concatenate(labels), classes, "+".join(p.spec for p in pools))


def per_element(level: Level) -> np.ndarray:
    """Items per structured element of a level: balanced, the remainder to the first ones.

    Args:
        level: the level.

    Returns:
        int (K,), summing to N − N_m.
    """
    n_clean = level.items - level.n_poor
    per = np.full(level.elements, n_clean // level.elements)
    per[: n_clean % level.elements] += 1
    return per


def max_items(element_sizes: np.ndarray, levels: list[Level]) -> int:
    """The largest stream size every level can draw without repeating an item (elements chosen by size).

    Args:
        element_sizes: items per content element of the pools, (E,).
        levels: the planned levels (their ``items`` is ignored).

    Returns:
        The largest N.

    >>> max_items(np.array([50, 50, 50]), [Level("L1", 3, 0.5, 0)])
    300
    """
    sizes = np.sort(np.asarray(element_sizes))[::-1]
    best = None
    for lv in levels:
        if lv.elements > len(sizes):
            raise SemreadyError(f"level {lv.name} needs {lv.elements} content elements, the pools hold "
                                f"{len(sizes)}: add a pool (e.g. cifar100) or use fewer --levels")
        # the k-th largest element must hold its share: ⌈(1 − ρ)·N / K⌉ ≤ sizes[K − 1]
        n = int(np.floor(sizes[lv.elements - 1] * lv.elements / (1 - lv.rho)))
        while n > 0 and per_element(Level(lv.name, lv.elements, lv.rho, n)).max() > sizes[lv.elements - 1]:
            n -= 1
        best = n if best is None else min(best, n)
    return int(best or 0)


def build_mixture(pool: ImageData, level: Level, seed: int) -> MixtureStream:
    """Draw a level's stream from the pool: K random elements (among those large enough), balanced, plus
    ρ·N noise/scrambled items (half each).

    Args:
        pool: the labelled content pool (:func:`pool_content`).
        level: the level.
        seed: seeds the draw and the injection.

    Returns:
        The :class:`MixtureStream`, N items.

    >>> pool = ImageData(torch.zeros(60, 3, 8, 8, dtype=torch.uint8), np.arange(60) % 3, ["a", "b", "c"], "toy")
    >>> stream = build_mixture(pool, Level("L1", 2, 0.2, 20), seed=0)
    >>> len(stream.data), round(float(stream.complexity), 3)
    (20, 1.332)
    """
    rng = np.random.default_rng(seed)
    per = per_element(level)
    sizes = np.bincount(pool.labels)
    eligible = np.flatnonzero(sizes >= per.max())
    if level.elements > len(eligible):
        raise SemreadyError(f"level {level.name} needs {level.elements} content elements with {per.max()} items "
                            f"each, the pools hold {len(eligible)}: lower --items or add a pool")
    chosen = rng.choice(eligible, level.elements, replace=False)
    idx = np.concatenate([rng.choice(np.flatnonzero(pool.labels == e), n, replace=False)
                          for e, n in zip(chosen, per, strict=True)])
    relabel = {int(e): i for i, e in enumerate(chosen)}
    labels = np.array([relabel[int(e)] for e in pool.labels[idx]], dtype=np.int64)
    clean = ImageData(pool.images[torch.from_numpy(idx)].contiguous(), labels,
                      [pool.classes[e] for e in chosen] if pool.classes else None, f"{pool.spec}@{level.name}")
    half = level.n_poor // 2
    stream = inject(clean, {"noise": half, "scrambled": level.n_poor - half}, seed=seed)
    return MixtureStream(stream.data, stream.family)
