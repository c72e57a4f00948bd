"""The issue-13 teacher studies' measuring code (benchmarks/teacher_recipe.py, dynamics.py, heldout.py), checked on
hand-made inputs whose answers are worked out below."""

import numpy as np
import torch

from benchmarks.cscore_study import against_cscores, merge
from benchmarks.dynamics import scores_from
from benchmarks.teacher_recipe import knn_label_accuracy


def test_knn_label_accuracy_by_hand():
    # two tight pairs on the unit circle; each item's nearest other item is its pair partner
    x = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    assert knn_label_accuracy(x, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn_label_accuracy(x, np.array([0, 1, 1, 0]), k=1) == 0.0
    # k = 2: item 0's neighbours are 1 (same pair) and then 3 (closer to it than 2): labels 0,0,1,1 -> 1/2 each
    assert knn_label_accuracy(x, np.array([0, 0, 1, 1]), k=2) == 0.5
    # scale does not matter (cosine), and an item is never its own neighbour
    assert knn_label_accuracy(5 * x, np.array([0, 0, 1, 1]), k=1) == 1.0


def test_merge_keeps_both_sections_and_does_not_touch_its_inputs():
    base = {"train": {"epochs": 10, "seed": 0}}
    out = merge(base, {"train": {"lr": 0.1}, "loss": {"tau": 0.2}})
    assert out == {"train": {"epochs": 10, "seed": 0, "lr": 0.1}, "loss": {"tau": 0.2}}
    assert base == {"train": {"epochs": 10, "seed": 0}}


def test_dynamics_scores_by_hand():
    z = np.eye(3, 4)
    rows = [  # epoch 1 is warm-up and must be left out of every mean
        {"epoch": 1, "z": z, "align": np.array([9.0, 9.0, 9.0]), "cluster": np.array([5, 5, 5]),
         "confidence": np.array([9.0, 9.0, 9.0])},
        {"epoch": 2, "z": z, "align": np.array([0.2, 0.4, 0.6]), "cluster": np.array([0, 1, 1]),
         "confidence": np.array([0.5, 0.5, 0.9])},
        {"epoch": 3, "z": z, "align": np.array([0.4, 0.4, 0.0]), "cluster": np.array([0, 1, 2]),
         "confidence": np.array([0.7, 0.3, 0.1])},
    ]
    s = scores_from(rows, warmup=1, seed=0)
    np.testing.assert_allclose(s["learning speed: mean view alignment over epochs"], [0.3, 0.4, 0.3])
    # final clusters (0, 1, 2): item 2 was in cluster 1 at epoch 2 -> stable half the epochs
    np.testing.assert_allclose(s["assignment stability: share of epochs in the final cluster"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(s["mean cluster-head confidence over epochs"], [0.6, 0.4, 0.5])
    np.testing.assert_allclose(s["final view alignment"], [0.4, 0.4, 0.0])
    # orthogonal unit embeddings: every neighbour's cosine is 0, t = (1 + 0)/2 for all
    np.testing.assert_allclose(s["snapshot typicality: t_i averaged over epochs"], [0.5, 0.5, 0.5])


def test_against_cscores_by_hand():
    cs = np.array([0.1, 0.2, 0.3, 0.4])
    low = np.array([True, False, False, False])
    # the same order as the C-scores: ρ = 1, and the lowest item has the lowest learnability (AUROC 1)
    assert against_cscores(np.array([1.0, 2.0, 3.0, 4.0]), cs, low) == {"spearman": 1.0, "auroc_low10": 1.0}
    # reversed: ρ = −1 and the lowest item is ranked most learnable (AUROC 0)
    assert against_cscores(np.array([4.0, 3.0, 2.0, 1.0]), cs, low) == {"spearman": -1.0, "auroc_low10": 0.0}
