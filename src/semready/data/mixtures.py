"""Mixture streams of a chosen content complexity (docs/protocol.md §3), for the paper's Fig. 2 / Fig. 3 sweep.

A stream mixes K structured content elements (classes of the content pools: CIFAR-10, CIFAR-100,
ImageNet-10/Dogs or their stand-ins, the embedded sample) with a fraction ρ of semantic-poor items in three
equal families (:func:`poor_counts`, :mod:`semready.data.inject`): ``noise`` and ``scrambled`` items, each its
own content element, and ``rare`` items — real images of U further pool elements that the stream holds nowhere
else, spread evenly over them (:func:`rare_per_element`). The rare items of one such element count together as
one content element (they share content), so with p the distribution of the structured elements and q that of
the N_m semantic-poor items' elements, the content complexity in nats — the entropy of the stream's content
elements — is

    H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·H(q),        h_b the binary entropy,

where H(q) = ln N_m when every semantic-poor item is its own element (no rare items, or one per element), and
below ln N_m otherwise. A sweep raises H_c by raising K and ρ together (:func:`default_levels`), and keeps U
large enough that a rare element holds at most ``RARE_RATIO`` of a structured element's items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from semready.data.inject import CLEAN, FAMILIES, inject
from semready.data.sources import ImageData
from semready.errors import SemreadyError

RHOS = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50)
RARE_RATIO = 0.5  # a rare element holds at most this share of the smallest structured element's items
MIN_ELEMENTS = 3  # structured content elements of the least complex level


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


def content_complexity(element_counts: np.ndarray, n_poor: int, rare_counts: np.ndarray | None = None) -> float:
    """H_c (nats) of a stream with these structured-element counts and ``n_poor`` semantic-poor items.

    Args:
        element_counts: items per structured content element, (K,); zeros are ignored.
        n_poor: N_m, the semantic-poor items of every family.
        rare_counts: how those items that are ``rare`` group into content elements, items per element, (U,);
            None or empty: every semantic-poor item is its own element.

    Returns:
        H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·H(q) in nats; H(q) = ln N_m without rare groups.

    >>> round(float(content_complexity(np.array([10, 10]), 0)), 4)
    0.6931
    >>> round(float(content_complexity(np.array([2, 2]), 4, np.array([2]))), 4)  # elements of 2, 2, 1, 1, 2
    1.5596
    """
    counts = np.asarray(element_counts, dtype=np.float64)
    counts = counts[counts > 0]
    rare = np.asarray([] if rare_counts is None else rare_counts, dtype=np.float64)
    rare = rare[rare > 0]
    if rare.sum() > n_poor:
        raise SemreadyError(f"{int(rare.sum())} rare items but only {n_poor} semantic-poor items in all: count "
                            "the rare items among the semantic-poor ones")
    n = counts.sum() + n_poor
    if n == 0:
        raise SemreadyError("a stream with no items has no content complexity: add items")
    rho = n_poor / n
    p = counts / counts.sum() if counts.sum() else counts
    h_p = float(-(p * np.log(p)).sum()) if len(p) else 0.0
    h_q = 0.0
    if n_poor:  # singletons 1/N_m each, and one element per rare group
        singles = n_poor - rare.sum()
        h_q = singles / n_poor * math.log(n_poor) + float((rare / n_poor * np.log(n_poor / rare)).sum())
    return binary_entropy(rho) + (1 - rho) * h_p + rho * h_q


def _spread(total: int, parts: int) -> np.ndarray:
    """``total`` items over ``parts`` bins, balanced, the remainder to the first ones, int (parts,)."""
    per = np.full(parts, total // parts if parts else 0)
    per[: total % parts if parts else 0] += 1
    return per


def poor_counts(n_poor: int) -> dict[str, int]:
    """The semantic-poor items of a stream per family: thirds, the remainder to ``noise`` then ``scrambled``.

    Args:
        n_poor: N_m.

    Returns:
        family (``FAMILIES``) -> items, summing to N_m.

    >>> poor_counts(10)
    {'noise': 4, 'scrambled': 3, 'rare': 3}
    """
    return {f: int(c) for f, c in zip(FAMILIES, _spread(n_poor, len(FAMILIES)), strict=True)}


@dataclass(frozen=True)
class Level:
    """One content-complexity level of a sweep.

    Attributes:
        name: ``L1``, ``L2``, ... in order of complexity.
        elements: K, the structured content elements.
        rho: ρ, the semantic-poor fraction.
        items: N, the stream's size.
        unseen: U, the pool's content elements outside the stream that its rare items are drawn from.

    >>> level = Level("L1", 4, 0.1, 100, 2)
    >>> level.n_poor, per_element(level).tolist(), rare_per_element(level).tolist()
    (10, [23, 23, 22, 22], [2, 1])
    """

    name: str
    elements: int  # K structured content elements
    rho: float  # semantic-poor fraction
    items: int  # N
    unseen: int  # U elements outside the stream, the sources of its rare items

    @property
    def n_poor(self) -> int:
        """N_m = round(ρ·N)."""
        return int(round(self.rho * self.items))

    @property
    def n_rare(self) -> int:
        """The ``rare`` third of N_m (:func:`poor_counts`)."""
        return poor_counts(self.n_poor)["rare"]

    @property
    def complexity(self) -> float:
        """H_c for a balanced draw (the stream's own counts give the exact value: MixtureStream.complexity)."""
        return content_complexity(per_element(self), self.n_poor, rare_per_element(self))


def per_element(level: Level) -> np.ndarray:
    """Items per structured element of a level: balanced, the remainder to the first ones.

    Args:
        level: the level.

    Returns:
        int (K,), summing to N − N_m.
    """
    return _spread(level.items - level.n_poor, level.elements)


def rare_per_element(level: Level) -> np.ndarray:
    """Rare items per unseen element of a level: balanced over its U elements, the remainder to the first ones.

    Args:
        level: the level.

    Returns:
        int (U,), summing to the level's rare items.
    """
    if level.n_rare and not level.unseen:
        raise SemreadyError(f"level {level.name} has {level.n_rare} rare items but no content element outside its "
                            f"{level.elements} to draw them from: add a pool (--content) or give it unseen elements")
    return _spread(level.n_rare, level.unseen)


def rare_enough(level: Level) -> bool:
    """Whether each unseen element supplies at most ``RARE_RATIO`` of the smallest structured element's items.

    Args:
        level: the level.

    Returns:
        True when the level's rare items are rare (or it has none).

    >>> rare_enough(Level("L", 3, 0.5, 60, 2)), rare_enough(Level("L", 3, 0.5, 60, 1))
    (True, False)
    """
    if not level.n_rare:
        return True
    return bool(level.unseen > 0 and rare_per_element(level).max() <= RARE_RATIO * per_element(level).min())


def default_levels(max_elements: int, items: int, count: int = 6) -> list[Level]:
    """``count`` levels from (3 elements, ρ 5 %) to (the most the pools allow, ρ 50 %), K and ρ rising together.

    Every level draws its rare items from all the pool's other elements (U = E − K); the most complex level
    takes the largest K whose rare elements stay rare (:func:`rare_enough`), so K tops out below E.

    Args:
        max_elements: E, the content elements the pools hold.
        items: N per stream.
        count: how many levels.

    Returns:
        The levels, least complex first.

    >>> [(lv.name, lv.elements, lv.unseen, lv.rho) for lv in default_levels(10, 1000, 3)]
    [('L1', 3, 7, 0.05), ('L2', 4, 6, 0.25), ('L3', 5, 5, 0.5)]
    """
    tops = [k for k in range(MIN_ELEMENTS, max_elements)
            if rare_enough(Level("top", k, RHOS[-1], items, max_elements - k))]
    if not tops:
        raise SemreadyError(f"the --content pools hold {max_elements} content element(s), too few to leave unseen "
                            f"ones for the rare items beside {MIN_ELEMENTS} structured ones: add a pool (--content)")
    ks = np.round(np.linspace(MIN_ELEMENTS, max(tops), count)).astype(int)  # repeats are fine: ρ still rises
    rhos = np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(RHOS)), RHOS)
    return [Level(f"L{i + 1}", int(k), float(round(r, 3)), items, max_elements - int(k))
            for i, (k, r) in enumerate(zip(ks, rhos, strict=True))]


@dataclass
class MixtureStream:
    """A level's stream.

    Attributes:
        data: N items; labels: the structured element (0..K−1), −1 for semantic-poor items.
        family: ``clean``, ``noise``, ``scrambled`` or ``rare`` per item, str (N,).
        rare_element: the pool content element of each rare item, −1 for the others, int (N,).
    """

    data: ImageData  # labels: the structured element (0..K-1), -1 for semantic-poor items
    family: np.ndarray  # "clean" / "noise" / "scrambled" / "rare"
    rare_element: np.ndarray  # the pool element a rare item shows, -1 elsewhere

    @property
    def complexity(self) -> float:
        """H_c (nats) from the stream's own counts (rare items grouped by their element)."""
        clean = self.family == CLEAN
        rare = self.rare_element[self.rare_element >= 0]
        return content_complexity(np.bincount(self.data.labels[clean]), int((~clean).sum()),
                                  np.unique(rare, return_counts=True)[1])


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


def _fits(sizes: np.ndarray, level: Level) -> bool:
    """Whether sorted-descending element sizes fill the level whichever elements its draw picks."""
    # structured elements come from those holding per.max(); the rare ones from the rest holding their share.
    # The K + U largest elements holding max(rare share) guarantees U are left after any choice of K.
    if per_element(level).max() > sizes[level.elements - 1]:
        return False
    return not level.n_rare or rare_per_element(level).max() <= sizes[level.elements + level.unseen - 1]


def max_items(element_sizes: np.ndarray, levels: list[Level]) -> int:
    """The largest stream size every level can draw without repeating an item (elements chosen by size).

    Args:
        element_sizes: items per content element of the pools, (E,).
        levels: the planned levels (their ``items`` is ignored).

    Returns:
        The largest N.

    >>> max_items(np.array([50, 50, 50, 50]), [Level("L1", 3, 0.5, 0, 1)])
    300
    """
    sizes = np.sort(np.asarray(element_sizes))[::-1]
    best = None
    for lv in levels:
        if lv.elements + lv.unseen > len(sizes):
            raise SemreadyError(f"level {lv.name} needs {lv.elements} content elements and {lv.unseen} more for "
                                f"its rare items, the pools hold {len(sizes)}: add a pool (e.g. cifar100) or use "
                                "fewer --levels")
        # the k-th largest element must hold its share: ⌈(1 − ρ)·N / K⌉ ≤ sizes[K − 1]
        n = int(np.floor(sizes[lv.elements - 1] * lv.elements / (1 - lv.rho)))
        while n > 0 and not _fits(sizes, Level(lv.name, lv.elements, lv.rho, n, lv.unseen)):
            n -= 1
        best = n if best is None else min(best, n)
    return int(best or 0)


def build_mixture(pool: ImageData, level: Level, seed: int) -> MixtureStream:
    """Draw a level's stream from the pool: K random elements (among those large enough), balanced, plus
    ρ·N semantic-poor items in thirds (:func:`poor_counts`); the rare third are real images of U random other
    elements (among those large enough), balanced over them (:func:`rare_per_element`).

    Args:
        pool: the labelled content pool (:func:`pool_content`).
        level: the level.
        seed: seeds the draw and the injection.

    Returns:
        The :class:`MixtureStream`, N items.

    >>> pool = ImageData(torch.zeros(60, 3, 8, 8, dtype=torch.uint8), np.arange(60) % 3, ["a", "b", "c"], "toy")
    >>> stream = build_mixture(pool, Level("L1", 2, 0.2, 20, 1), seed=0)
    >>> len(stream.data), sorted(stream.family.tolist()).count("rare"), round(float(stream.complexity), 3)
    (20, 1, 1.332)
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
    rare_pool, rare_of = None, np.zeros(0, dtype=np.int64)
    if level.n_rare:
        share = rare_per_element(level)
        left = np.setdiff1d(np.flatnonzero(sizes >= share.max()), chosen)
        if len(left) < level.unseen:
            raise SemreadyError(f"level {level.name} draws its {level.n_rare} rare items from {level.unseen} content "
                                f"elements outside its {level.elements} with {share.max()} items each, the pools "
                                f"hold {len(left)}: add a pool (--content) or lower --items")
        unseen = rng.choice(left, level.unseen, replace=False)
        ridx = np.concatenate([rng.choice(np.flatnonzero(pool.labels == e), n, replace=False)
                               for e, n in zip(unseen, share, strict=True)])
        rare_pool, rare_of = pool.images[torch.from_numpy(ridx)], pool.labels[ridx].astype(np.int64)
    stream = inject(clean, poor_counts(level.n_poor), seed=seed, rare_pool=rare_pool)
    rare = stream.family == "rare"
    rare_element = np.full(len(stream.family), -1, dtype=np.int64)
    rare_element[rare] = rare_of[stream.source_index[rare]]
    return MixtureStream(stream.data, stream.family, rare_element)
