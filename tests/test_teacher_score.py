"""The default learnability (``teacher``): typicality in the teacher's embedding (k-NN, leave-one-out, a reference
subset), the description-length test's knee, and the rule that combines them — each against a plain loop or a
hand table — with the edges."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semready.config import RankConfig
from semready.errors import SemreadyError
from semready.split import scores
from semready.split.regen import cross_fitted_unexplained
from semready.split.typicality import TypicalityModel


def _loop_typicality(z: np.ndarray, ref: np.ndarray, ref_index: np.ndarray, k: int, stream: bool) -> np.ndarray:
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    out = []
    for i, zi in enumerate(z):
        sims = [float(zi @ r) for j, r in zip(ref_index, ref, strict=True) if not (stream and j == i)]
        top = sorted(sims, reverse=True)[:k]
        out.append((1 + sum(top) / len(top)) / 2)
    return np.array(out)


def test_typicality_of_the_stream_leaves_each_item_out_of_its_own_neighbourhood():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(25, 6))
    model = TypicalityModel.fit(z, k=4)
    got = model.score(z, stream=True)
    want = _loop_typicality(z, z, np.arange(25), 4, stream=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # with itself included every item would look more typical (its own similarity is 1)
    assert (model.score(z, stream=False) > got).all()


def test_typicality_by_hand_on_a_line():
    # unit vectors at angles 0, 0, 90, 180 degrees; k = 1: the nearest other item
    z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    got = TypicalityModel.fit(z, k=1).score(z, stream=True)
    # items 0 and 1: each other's twin, cos 1 -> 1.0; item 2: best cos 0 -> 0.5; item 3: best cos 0 (item 2) -> 0.5
    np.testing.assert_allclose(got, [1.0, 1.0, 0.5, 0.5], atol=1e-6)


def test_typicality_reference_subset_is_fixed_and_leaves_out_only_the_item_itself():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 5)).astype(np.float32)
    model = TypicalityModel.fit(z, k=3, max_reference=15, seed=2)
    assert len(model.reference) == 15 and len(set(model.index.tolist())) == 15
    assert torch.equal(model.index, TypicalityModel.fit(z, k=3, max_reference=15, seed=2).index)
    want = _loop_typicality(z, z[model.index.numpy()], model.index.numpy(), 3, stream=True)
    np.testing.assert_allclose(model.score(z, stream=True), want, atol=1e-6)


def test_typicality_new_items_use_the_whole_reference_and_edges():
    rng = np.random.default_rng(3)
    z, new = rng.normal(size=(12, 4)), rng.normal(size=(5, 4))
    model = TypicalityModel.fit(z, k=20)  # k capped at the reference size − 1
    assert model.k == 11
    np.testing.assert_allclose(model.score(new), _loop_typicality(new, z, np.arange(12), 11, stream=False),
                               atol=1e-6)
    single = TypicalityModel.fit(z[:1])
    assert single.score(z[:1], stream=True).tolist() == [0.5]  # no neighbour: neither typical nor atypical
    assert model.score(np.zeros((0, 4))).shape == (0,)


def test_typicality_round_trips_and_refuses_a_foreign_file(tmp_path):
    z = F.normalize(torch.randn(9, 3), dim=1)
    model = TypicalityModel.fit(z, k=2)
    model.save(tmp_path / "t.safetensors")
    back = TypicalityModel.load(tmp_path / "t.safetensors")
    assert torch.equal(back.reference, model.reference) and torch.equal(back.index, model.index) and back.k == 2
    from safetensors.torch import save_file

    save_file({"means": torch.zeros(2, 2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(SemreadyError, match="is not a typicality model"):
        TypicalityModel.load(tmp_path / "x.safetensors")


def test_description_knee_by_hand():
    r = np.array([0.9, 0.8, 0.85, 0.1, 0.95])
    # median 0.85; |r − 0.85| = .05 .05 0 .75 .1 -> MAD 0.05; κ = 0.85 − 1.5 · 1.4826 · 0.05 = 0.738805
    assert scores.description_knee(r) == pytest.approx(0.85 - 1.5 * 1.4826 * 0.05)
    assert scores.description_knee(np.full(4, 0.7)) == pytest.approx(0.7)  # no spread: κ = the median
    assert scores.description_knee(np.array([0.0, 0.0, 0.0])) == 1e-6  # never 0 (it divides)
    assert scores.description_knee(np.zeros(0)) == 1e-6


def test_teacher_learnability_by_hand():
    t = np.array([0.8, 0.2, 0.9, 1.4, -0.5, 0.3])
    r = np.array([0.9, 0.6, 0.3, 0.7, 0.61, -0.2])
    got = scores.teacher_learnability(t, r, 0.6)
    # passes (r ≥ .6): (1 + t)/2 with t clipped to [0, 1]; fails: (r/κ)/2 clipped to [0, 1/2]
    np.testing.assert_allclose(got, [0.9, 0.6, 0.25, 1.0, 0.5, 0.0], atol=1e-12)
    passes = r >= 0.6
    assert (got[passes] >= 0.5).all() and (got[~passes] < 0.5).all()


def test_learnability_scores_teacher_branch_is_its_parts():
    g = torch.Generator().manual_seed(6)
    ramps = torch.linspace(0, 200, 8).round().to(torch.uint8).view(1, 1, 1, 8).expand(26, 3, 8, 8).clone()
    ramps += torch.randint(0, 50, (26, 1, 1, 1), generator=g, dtype=torch.uint8)  # shifted ramps ...
    ramps += torch.randint(0, 10, (26, 3, 8, 8), generator=g, dtype=torch.uint8)  # ... with a little noise
    images = torch.cat([ramps, torch.randint(0, 256, (4, 3, 8, 8), generator=g, dtype=torch.uint8)])
    clusters = np.arange(30) % 3
    conf = np.linspace(0.2, 0.9, 30)
    z = np.random.default_rng(4).normal(size=(30, 8))
    cfg = RankConfig(score="teacher", regen_rank=4, regen_resolution=8)
    learn, model = scores.learnability_scores(cfg, clusters * 0, conf, 1, images, seed=1, embeddings=z)
    # M = 1 here: one pixel element (the partition itself is checked in test_pixel_elements_*)
    u, _ = cross_fitted_unexplained(images, np.zeros(30, np.int64), 1, 4, 8, 1)
    r = 1 - u
    med = np.median(r)
    knee = max(med - 1.5 * 1.4826 * np.median(np.abs(r - med)), 1e-6)
    typ = _loop_typicality(z, z, np.arange(30), 10, stream=True)
    want = [(1 + t) / 2 if ri >= knee else ri / knee / 2 for t, ri in zip(typ, r, strict=True)]
    np.testing.assert_allclose(learn, want, atol=1e-6)
    assert knee > 0.1 and (r < knee).any() and (r >= knee).any()  # both branches of the rule are exercised
    assert model.gate_knee == pytest.approx(knee) and model.regen is not None and model.typicality is not None
    with pytest.raises(SemreadyError, match="needs the teacher's embeddings"):
        scores.learnability_scores(cfg, clusters * 0, conf, 1, images, seed=1)


def test_the_description_test_sends_noise_to_the_bottom_even_in_a_confident_dense_cluster():
    """Random items collapse to one dense, confident point: C_l and typicality high; the test still ranks them last."""
    g = torch.Generator().manual_seed(7)
    smooth = torch.linspace(0, 255, 16).round().to(torch.uint8).view(1, 1, 1, 16).expand(40, 3, 16, 16).clone()
    smooth += torch.randint(0, 8, (40, 1, 1, 1), generator=g, dtype=torch.uint8)  # 40 shifted ramps
    noise = torch.randint(0, 256, (8, 3, 16, 16), generator=g, dtype=torch.uint8)
    images = torch.cat([smooth, noise])
    clusters = np.r_[np.zeros(40, np.int64), np.ones(8, np.int64)]
    conf = np.r_[np.full(40, 0.5), np.full(8, 0.99)]  # the noise cluster is the confident one
    z = np.r_[np.random.default_rng(0).normal(size=(40, 4)), np.tile([[1.0, 0, 0, 0]], (8, 1))]  # noise: one point
    learn, _ = scores.learnability_scores(RankConfig(score="teacher", regen_rank=4, regen_resolution=16), clusters,
                                          conf, 2, images, seed=0, embeddings=z)
    assert learn[40:].max() < min(0.5, learn[:40].min())  # every noise item below every ramp, and failing the test
    assert (learn[:40] >= 0.5).mean() >= 0.75  # most ramps pass it (the knee sits 1.5 σ below their median)


# -- edges the mutation run showed untested --------------------------------------------------------------------------


def test_typicality_stream_scores_in_several_blocks_leave_each_item_out():
    z = np.random.default_rng(8).normal(size=(23, 5))
    model = TypicalityModel.fit(z, k=3)
    want = _loop_typicality(z, z, np.arange(23), 3, stream=True)
    np.testing.assert_allclose(model.score(z, stream=True, batch_size=7), want, atol=1e-6)  # blocks of 7, 7, 7, 2


def test_typicality_with_k_capped_by_the_reference():
    z = np.random.default_rng(9).normal(size=(12, 4))
    model = TypicalityModel.fit(z, k=20)
    assert model.k == 11  # every other item of a 12-item stream
    np.testing.assert_allclose(model.score(z, stream=True), _loop_typicality(z, z, np.arange(12), 11, stream=True),
                               atol=1e-6)


def test_typicality_default_seed_is_zero():
    z = np.random.default_rng(1).normal(size=(40, 5))
    assert torch.equal(TypicalityModel.fit(z, max_reference=15).index,
                       TypicalityModel.fit(z, max_reference=15, seed=0).index)
    assert not torch.equal(TypicalityModel.fit(z, max_reference=15, seed=0).index,
                           TypicalityModel.fit(z, max_reference=15, seed=1).index)


@pytest.mark.parametrize("tensors", [
    {"reference": torch.zeros(3, 2), "index": torch.arange(2), "k": torch.tensor(1)},  # index shorter
    {"reference": torch.zeros(3, 2), "index": torch.zeros(3, 1), "k": torch.tensor(1)},  # index not 1-D
    {"reference": torch.zeros(3), "index": torch.arange(3), "k": torch.tensor(1)},  # reference not 2-D
    {"reference": torch.zeros(3, 2), "index": torch.arange(3), "k": torch.tensor([1, 2])},  # k not one number
])
def test_typicality_load_refuses_malformed_files_naming_the_fix(tmp_path, tensors):
    from safetensors.torch import save_file

    save_file(tensors, str(tmp_path / "t.safetensors"))
    with pytest.raises(SemreadyError) as info:
        TypicalityModel.load(tmp_path / "t.safetensors")
    assert str(info.value) == (f"{tmp_path / 't.safetensors'} is not a typicality model (wrong tensors): re-split "
                               "the run (`semready split RUN`) to write it again")


def test_typicality_load_of_a_file_that_is_not_safetensors_names_the_fix(tmp_path):
    (tmp_path / "t.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SemreadyError, match=r"re-split the run \(`semready split RUN`\) to write it again"):
        TypicalityModel.load(tmp_path / "t.safetensors")


def test_the_teacher_branch_error_and_its_pixel_elements_model():
    images = torch.zeros(6, 3, 4, 4, dtype=torch.uint8)
    cfg = RankConfig(score="teacher", regen_rank=2, regen_resolution=4)
    with pytest.raises(SemreadyError) as info:
        scores.learnability_scores(cfg, np.arange(6) % 2, np.ones(6), 2, images)
    assert str(info.value) == ("the teacher score needs the teacher's embeddings of the stream: split through "
                               "semready.api.split or `semready split`")
    images = torch.cat([torch.zeros(3, 3, 4, 4), torch.full((3, 3, 4, 4), 200.0)]).byte()
    _, model = scores.learnability_scores(cfg, np.arange(6) % 2, np.ones(6), 2, images, embeddings=np.eye(6))
    assert model.regen.means.shape == (3, 3 * 4 * 4)  # M = 2 content elements and the global mean


def test_pixel_elements_numbered_by_first_appearance_and_capped():
    dark, light = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 250.0)
    images = torch.cat([light[:1], dark, light[1:], dark[:1]]).byte()
    assert scores.pixel_elements(images, 2, 4).tolist() == [0, 1, 1, 0, 1]
    assert scores.pixel_elements(images[:1], 5, 4).tolist() == [0]  # k capped at the items


def test_pixel_elements_are_sklearn_kmeans_on_the_pixel_vectors():
    from sklearn.cluster import KMeans

    from semready.data.pixels import pixel_vectors

    g = torch.Generator().manual_seed(3)
    images = torch.cat([torch.randint(0, 60, (10, 3, 8, 8), generator=g), torch.randint(100, 160, (10, 3, 8, 8),
                        generator=g), torch.randint(200, 256, (10, 3, 8, 8), generator=g)]).byte()
    got = scores.pixel_elements(images, 3, 8, seed=1)
    want = KMeans(n_clusters=3, n_init=3, random_state=1).fit_predict(pixel_vectors(images, 8).numpy())
    assert len(set(zip(got.tolist(), want.tolist(), strict=True))) == 3  # the same partition, renumbered
    assert got.tolist() == [0] * 10 + [1] * 10 + [2] * 10


def test_pixel_elements_follow_the_seed_on_data_without_clear_clusters():
    from sklearn.cluster import KMeans

    from semready.data.pixels import pixel_vectors

    images = torch.randint(0, 256, (60, 3, 4, 4), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    x = pixel_vectors(images, 4).numpy()

    def partition(labels):
        return {frozenset(np.flatnonzero(labels == v).tolist()) for v in set(labels.tolist())}

    for seed in (0, 5):
        want = KMeans(n_clusters=6, n_init=3, random_state=seed).fit_predict(x)
        assert partition(scores.pixel_elements(images, 6, 4, seed=seed)) == partition(want)
    assert scores.pixel_elements(images, 6, 4).tolist() == scores.pixel_elements(images, 6, 4, seed=0).tolist()
    z = np.random.default_rng(0).normal(size=(60, 4))
    cfg = RankConfig(score="teacher", regen_rank=3, regen_resolution=4)
    first, _ = scores.learnability_scores(cfg, np.zeros(60, np.int64), np.ones(60), 6, images, seed=5, embeddings=z)
    again, _ = scores.learnability_scores(cfg, np.zeros(60, np.int64), np.ones(60), 6, images, seed=5, embeddings=z)
    np.testing.assert_array_equal(first, again)  # the elements' k-means takes the split's seed
    u, _ = cross_fitted_unexplained(images, scores.pixel_elements(images, 6, 4, seed=5), 6, 3, 4, 5)
    r = 1 - u
    typ = TypicalityModel.fit(z).score(z, stream=True)
    np.testing.assert_allclose(first, scores.teacher_learnability(typ, r, scores.description_knee(r)), atol=1e-9)
