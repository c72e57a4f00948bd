"""The regen learnability: the share of an item the semantic language regenerates."""

import numpy as np
import torch

from semready.data import load_data
from semready.data.inject import inject
from semready.data.pixels import pixel_vectors
from semready.split.regen import RegenerationModel, cross_fitted_unexplained


def test_unexplained_share_by_hand():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 0.0]])
    model = RegenerationModel(means=torch.zeros(2, 3), basis=torch.tensor([[1.0, 0.0, 0.0]]), resolution=32)
    u = model.unexplained(x, np.array([0, 0, 1]))
    np.testing.assert_allclose(u, [0.0, 1.0, 16 / 25], atol=1e-6)


def test_semantic_poor_items_are_left_unexplained():
    clean = load_data("sample")
    clean.images, clean.labels = clean.images[:600], clean.labels[:600]
    s = inject(clean, {"noise": 30, "scrambled": 30}, seed=0)
    clusters = np.where(s.data.labels >= 0, s.data.labels, 0)
    u, model = cross_fitted_unexplained(s.data.images, clusters, 10, rank=64)
    from sklearn.metrics import roc_auc_score

    for fam, floor in (("noise", 0.99), ("scrambled", 0.85)):
        m = (s.family == fam) | (s.family == "clean")
        assert roc_auc_score(s.family[m] == fam, u[m]) > floor, fam
    assert u[s.family == "clean"].mean() < u[s.family == "noise"].mean()
    assert model.means.shape == (11, 3 * 32 * 32) and model.basis.shape == (64, 3 * 32 * 32)


def test_cross_fitting_does_not_explain_an_item_by_memorising_it():
    # A cluster with a single member: a model fitted on it would explain it perfectly (u = 0).
    imgs = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clusters = np.zeros(40, dtype=np.int64)
    clusters[7] = 1
    u, _ = cross_fitted_unexplained(imgs, clusters, 2, rank=4)
    assert u[7] > 0.5


def test_model_round_trips_and_downsamples(tmp_path):
    imgs = torch.randint(0, 256, (20, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    assert pixel_vectors(imgs, 32).shape == (20, 3 * 32 * 32)
    u, model = cross_fitted_unexplained(imgs, np.zeros(20, dtype=np.int64), 1, rank=5, resolution=32)
    model.save(tmp_path / "r.safetensors")
    loaded = RegenerationModel.load(tmp_path / "r.safetensors")
    assert torch.equal(loaded.basis, model.basis) and loaded.resolution == 32
    np.testing.assert_allclose(loaded.unexplained_images(imgs, np.zeros(20, dtype=np.int64)),
                               model.unexplained_images(imgs, np.zeros(20, dtype=np.int64)))
