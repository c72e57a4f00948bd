import numpy as np
import pytest
import torch

from semready.data import load_data
from semready.data.inject import count_for_fraction, inject
from semready.errors import SemreadyError


@pytest.fixture(scope="module")
def clean():
    d = load_data("sample")
    d.images, d.labels = d.images[:200], d.labels[:200]
    return d


def test_injection_counts_flags_and_no_item_lost(clean):
    pool = load_data("sample").images[3000:3100]
    s = inject(clean, {"noise": 10, "scrambled": 20, "rare": 5}, seed=1, rare_pool=pool)
    assert len(s.data) == 235
    assert {f: int((s.family == f).sum()) for f in ("clean", "noise", "scrambled", "rare")} == \
        {"clean": 200, "noise": 10, "scrambled": 20, "rare": 5}
    assert (s.data.labels[s.injected] == -1).all()
    # every clean item appears exactly once, unchanged
    clean_pos = np.nonzero(s.family == "clean")[0]
    assert sorted(s.source_index[clean_pos].tolist()) == list(range(200))
    for p in clean_pos[:20]:
        assert torch.equal(s.data.images[p], clean.images[s.source_index[p]])


def test_scrambled_items_are_pixel_permutations_of_real_images(clean):
    s = inject(clean, {"scrambled": 5}, seed=2)
    for p in np.nonzero(s.family == "scrambled")[0]:
        orig = clean.images[s.source_index[p]].reshape(3, -1)
        scr = s.data.images[p].reshape(3, -1)
        assert not torch.equal(orig, scr)
        # same multiset of RGB triples
        key = lambda t: sorted(map(tuple, t.t().tolist()))  # noqa: E731
        assert key(orig) == key(scr)


def test_rare_items_come_from_the_pool_and_noise_is_uniform(clean):
    pool = load_data("sample").images[3000:3010]
    s = inject(clean, {"rare": 10, "noise": 50}, seed=3, rare_pool=pool)
    rare = s.data.images[s.family == "rare"]
    assert sorted(s.source_index[s.family == "rare"].tolist()) == list(range(10))
    assert all(any(torch.equal(r, p) for p in pool) for r in rare)
    noise = s.data.images[s.family == "noise"].float()
    assert abs(noise.mean().item() - 127.5) < 2 and noise.std().item() > 70


def test_reproducible_by_seed(clean):
    a, b = inject(clean, {"noise": 5, "scrambled": 5}, seed=4), inject(clean, {"noise": 5, "scrambled": 5}, seed=4)
    assert torch.equal(a.data.images, b.data.images) and (a.family == b.family).all()
    c = inject(clean, {"noise": 5, "scrambled": 5}, seed=5)
    assert not torch.equal(a.data.images, c.data.images)


def test_fraction_and_bad_requests(clean):
    assert count_for_fraction(900, 0.1) == 100
    assert count_for_fraction(1000, 0.0) == 0
    with pytest.raises(SemreadyError, match="out of range"):
        count_for_fraction(10, 1.0)
    with pytest.raises(SemreadyError, match="unknown semantic-poor family"):
        inject(clean, {"blur": 3})
    with pytest.raises(SemreadyError, match="pool images"):
        inject(clean, {"rare": 3})


def test_detection_peers_rank_noise_first(clean):
    from benchmarks.detection import knn_distance, pca_residual, per_family
    from semready.data.pixels import pixel_vectors

    s = inject(clean, {"noise": 10, "scrambled": 10}, seed=6)
    px = pixel_vectors(s.data.images, 32).numpy()
    ref = pixel_vectors(load_data("sample").images[1000:1400], 32).numpy()
    knn = per_family(s, knn_distance(px, k=5))
    pca = per_family(s, pca_residual(px, ref, 32))
    assert set(knn) == {"noise", "scrambled"}  # no rare items injected: no rare row
    assert knn["noise"]["auroc"] > 0.95 and pca["noise"]["auroc"] > 0.95 and pca["scrambled"]["auroc"] > 0.9
