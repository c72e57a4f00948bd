"""The ``rare`` family in the reproduction's mixture streams: drawn from pool elements the stream holds nowhere
else, balanced over them, counted by their element in H_c, and refused up front when the pools cannot supply it."""

import numpy as np
import pytest
import torch

from semready.cli import main
from semready.data import load_data
from semready.data.mixtures import (
    Level,
    build_mixture,
    default_levels,
    max_items,
    pool_content,
    poor_counts,
    rare_enough,
    rare_per_element,
)
from semready.data.sources import ImageData
from semready.errors import SemreadyError


@pytest.fixture(scope="module")
def pool():
    return pool_content([load_data("sample")])


def test_poor_items_split_in_thirds_the_remainder_to_noise_then_scrambled():
    from semready.data.inject import CLEAN, FAMILIES
    from semready.experiments.reproduce import FAMILY_ORDER

    assert FAMILY_ORDER == (CLEAN, *FAMILIES)  # results.csv's per-family columns cover every family
    table = {0: (0, 0, 0), 1: (1, 0, 0), 2: (1, 1, 0), 3: (1, 1, 1), 4: (2, 1, 1), 5: (2, 2, 1), 100: (34, 33, 33)}
    for n, (noise, scrambled, rare) in table.items():
        assert poor_counts(n) == {"noise": noise, "scrambled": scrambled, "rare": rare}, n


def test_rare_items_are_real_images_of_elements_the_stream_holds_nowhere_else(pool):
    level = Level("L3", 4, 0.3, 400, 5)  # 120 poor items: 40 rare over 5 unseen elements, 8 each
    stream = build_mixture(pool, level, seed=7)
    rare = stream.family == "rare"
    assert rare.sum() == 40 and (stream.data.labels[rare] == -1).all()
    assert (stream.rare_element[~rare] == -1).all()
    structured = {pool.classes.index(c) for c in stream.data.classes}  # the stream's K elements in the pool
    elements, counts = np.unique(stream.rare_element[rare], return_counts=True)
    assert len(structured) == 4 and not structured & set(elements.tolist())
    assert counts.tolist() == [8] * 5
    flat = pool.images.reshape(len(pool.images), -1).numpy()
    for pos in np.flatnonzero(rare):  # each rare item is an unmodified pool image of the element it names
        hits = np.flatnonzero((flat == stream.data.images[pos].reshape(-1).numpy()).all(axis=1))
        assert len(hits) and stream.rare_element[pos] in pool.labels[hits]
    seen = {bytes(stream.data.images[p].numpy()) for p in np.flatnonzero(rare)}
    assert len(seen) == 40  # no pool image drawn twice


def test_rarity_rule_and_the_levels_it_allows():
    # 60 items at ρ 0.5: 30 clean over 3 elements (10 each), 10 rare; half of 10 is 5 per unseen element
    assert [rare_enough(Level("L", 3, 0.5, 60, u)) for u in (1, 2, 3)] == [False, True, True]
    assert rare_per_element(Level("L", 3, 0.5, 60, 3)).tolist() == [4, 3, 3]
    assert rare_enough(Level("L", 3, 0.01, 60, 0))  # ρ·N rounds to 0 poor items: nothing to draw
    with pytest.raises(SemreadyError, match="no content element outside"):
        rare_per_element(Level("L", 3, 0.5, 60, 0))
    # the top level (ρ 0.5) with K = 3: 1000 → 333 clean per element and 167 rare per unseen element for 2000
    # items, 500 → 166 and 83 for 1000 items; half of a structured element's share is the limit
    assert [(lv.elements, lv.unseen) for lv in default_levels(5, 1000, 2)] == [(3, 2), (3, 2)]
    for elements, items in ((5, 2000), (4, 1000)):
        with pytest.raises(SemreadyError, match="add a pool"):
            default_levels(elements, items)


def test_max_items_counts_the_rare_supply():
    # one element of 4 items is the only unseen one: rare = ⌊round(0.3·N) / 3⌋ <= 4 holds up to N = 48
    assert max_items(np.array([100, 100, 100, 4]), [Level("L", 3, 0.3, 0, 1)]) == 48
    # a large unseen element: the structured ones decide, ⌊100·3 / 0.7⌋ = 428 (128 poor, 3 × 100 clean, 42 rare)
    assert max_items(np.array([100, 100, 100, 100]), [Level("L", 3, 0.3, 0, 1)]) == 428
    with pytest.raises(SemreadyError, match="more for its rare items"):
        max_items(np.array([100, 100, 100]), [Level("L", 3, 0.3, 0, 1)])


def test_build_mixture_refuses_unseen_elements_too_small():
    labels = np.repeat(np.arange(4), [40, 40, 40, 2])  # the fourth element holds 2 images, the level wants 4 rare
    images = torch.randint(0, 256, (122, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    toy = ImageData(images, labels, list("abcd"), "toy")
    level = Level("L1", 3, 0.2, 60, 1)
    assert level.n_rare == 4
    with pytest.raises(SemreadyError, match="rare items from 1 content elements outside its 3"):
        build_mixture(toy, level, seed=0)


def test_reproduce_refuses_pools_without_room_for_rare_items_before_writing(tmp_path, capsys):
    g = np.random.default_rng(0)
    npz = tmp_path / "four.npz"
    np.savez(npz, x=g.integers(0, 256, (200, 16, 16, 3), dtype=np.uint8), y=np.arange(200) % 4)
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "--out", str(out), "--content", f"npz:{npz}", "--seeds", "1", "--levels", "2",
              "--items", "100"])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "4 content element(s)" in err and "rare items" in err and "add a pool (--content)" in err
    assert not out.exists()
