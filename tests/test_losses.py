"""Each loss against a direct, loop-based computation of its equation; the deadlock floor; collapse."""

import math

import pytest
import torch
import torch.nn.functional as F

from semready.teacher.losses import (
    cluster_aware_negative_mask,
    cluster_discrimination,
    cluster_probabilities,
    instance_discrimination,
    marginal_entropy_deficit,
    normalized_marginal_entropy,
    total_loss,
)


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64),
                       dim=-1)


def test_instance_discrimination_matches_eq2_by_hand():
    a, b, bank = unit(4, 8, seed=1), unit(4, 8, seed=2), unit(6, 8, seed=3)
    tau = 0.1
    expected = 0.0
    for i in range(4):
        num = math.exp(float(a[i] @ b[i]) / tau)
        den = num + sum(math.exp(float(a[i] @ k) / tau) for k in bank)
        expected += -math.log(num / den)
    assert instance_discrimination(a, b, bank, tau).item() == pytest.approx(expected / 4, rel=1e-9)


def test_instance_discrimination_mask_restricts_negatives():
    a, b, bank = unit(3, 8, seed=4), unit(3, 8, seed=5), unit(5, 8, seed=6)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=torch.bool)
    tau = 0.2
    expected = 0.0
    for i in range(3):
        num = math.exp(float(a[i] @ b[i]) / tau)
        den = num + sum(math.exp(float(a[i] @ bank[j]) / tau) for j in range(5) if mask[i, j])
        expected += -math.log(num / den)
    assert instance_discrimination(a, b, bank, tau, mask).item() == pytest.approx(expected / 3, rel=1e-9)


def test_cluster_aware_mask_excludes_own_cluster_and_has_a_floor():
    bank_labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    q = torch.tensor([0, 2])
    mask = cluster_aware_negative_mask(q, bank_labels, min_negatives=2)
    assert mask[0].tolist() == [False, False, True, True, True, True, True, True]
    assert mask[1].tolist() == [True, True, True, True, False, False, False, False]
    # Only 4 keys outside cluster 2: with a floor of 5 that row falls back to the whole bank.
    mask = cluster_aware_negative_mask(q, bank_labels, min_negatives=5)
    assert mask[1].all() and not mask[0].all()


def test_no_deadlock_when_every_key_shares_the_query_cluster():
    """The prototype's deadlock: all bank keys carry the query's pseudo-label -> no negatives -> L_I = 0."""
    a, b, bank = unit(4, 8, seed=7), unit(4, 8, seed=8), unit(32, 8, seed=9)
    labels = torch.zeros(32, dtype=torch.long)
    mask = cluster_aware_negative_mask(torch.zeros(4, dtype=torch.long), labels, min_negatives=8)
    assert mask.all()
    loss = instance_discrimination(a, b, bank, 0.1, mask)
    assert loss.item() > 0.1  # negatives are present, so the loss (and its gradient) is not zero
    unfloored = instance_discrimination(a, b, bank, 0.1, mask & False)
    assert unfloored.item() == pytest.approx(0.0, abs=1e-12)  # what the floor prevents


def test_cluster_probabilities_match_eq3_by_hand():
    a, bank = unit(3, 6, seed=10), unit(7, 6, seed=11)
    labels = torch.tensor([0, 1, 1, 2, 0, 2, 2])
    tau = 0.1
    p = cluster_probabilities(a, bank, F.one_hot(labels, 3).double(), tau)
    for i in range(3):
        total = sum(math.exp(float(a[i] @ k) / tau) for k in bank)
        for cl in range(3):
            part = sum(math.exp(float(a[i] @ bank[j]) / tau) for j in range(7) if labels[j] == cl)
            assert p[i, cl].item() == pytest.approx(part / total, rel=1e-9)
    assert torch.allclose(p.sum(1), torch.ones(3, dtype=torch.float64))


def test_cluster_discrimination_is_mean_entropy_eq4():
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    ent = [-sum(x * math.log(x) for x in row if x > 0) for row in p.tolist()]
    assert cluster_discrimination(p).item() == pytest.approx(sum(ent) / 3, rel=1e-12)


def test_marginal_entropy_deficit_bounds():
    uniform = torch.full((4, 5), 0.2)
    collapsed = F.one_hot(torch.zeros(4, dtype=torch.long), 5).float()
    assert marginal_entropy_deficit(uniform).item() == pytest.approx(0.0, abs=1e-6)
    assert marginal_entropy_deficit(collapsed).item() == pytest.approx(math.log(5), rel=1e-6)
    assert normalized_marginal_entropy(torch.tensor([0, 1, 2, 3, 4]), 5) == pytest.approx(1.0)
    assert normalized_marginal_entropy(torch.tensor([2, 2, 2]), 5) == pytest.approx(0.0)


def test_total_loss_weights():
    one = torch.tensor(1.0)
    assert total_loss(one, 2 * one, 3 * one, eta=1.0, epsilon=0.5, lam=2.0).item() == pytest.approx(8.0)


def _fit_cluster_head(points, clusters, anti_weight, steps=300, seed=0):
    """Learn only the prototypes (decision boundaries) by backprop through eq. 3-4 (+ anti-collapse)."""
    gen = torch.Generator().manual_seed(seed)
    protos = torch.nn.Parameter(F.normalize(torch.randn(clusters, points.shape[1], generator=gen), dim=1))
    opt = torch.optim.SGD([protos], lr=0.1, momentum=0.9)
    for _ in range(steps):
        membership = torch.softmax(points @ F.normalize(protos, dim=1).t() / 0.1, dim=1)
        p = cluster_probabilities(points, points, membership, tau=0.1)
        loss = cluster_discrimination(p) + anti_weight * marginal_entropy_deficit(membership)
        opt.zero_grad()
        loss.backward()
        opt.step()
    labels = (points @ F.normalize(protos, dim=1).t()).argmax(1)
    return labels


def test_toy_problem_collapses_without_anti_collapse_and_not_with_it():
    # Unstructured data: one Gaussian blob, so the only zero-entropy solution of eq. 4 is "one cluster".
    gen = torch.Generator().manual_seed(0)
    points = F.normalize(torch.randn(400, 8, generator=gen) * 0.3 + torch.tensor([1.0] + [0.0] * 7), dim=1)
    collapsed = _fit_cluster_head(points, 4, anti_weight=0.0)
    balanced = _fit_cluster_head(points, 4, anti_weight=5.0)
    assert normalized_marginal_entropy(collapsed, 4) < 0.2
    assert normalized_marginal_entropy(balanced, 4) > 0.9


def test_cluster_head_recovers_separated_clusters_with_anti_collapse():
    from semready.teacher.metrics import clustering_accuracy

    gen = torch.Generator().manual_seed(1)
    centers = F.normalize(torch.randn(4, 8, generator=gen), dim=1)
    truth = torch.arange(4).repeat_interleave(100)
    points = F.normalize(centers[truth] + 0.15 * torch.randn(400, 8, generator=gen), dim=1)
    labels = _fit_cluster_head(points, 4, anti_weight=5.0)
    assert clustering_accuracy(truth.numpy(), labels.numpy()) > 0.95


def test_shared_logits_and_counted_floor_give_the_same_losses():
    """The training step computes cos/τ once for eq. 2 and eq. 3 and counts negatives from cluster sizes."""
    from semready.teacher.losses import similarity_logits

    g = torch.Generator().manual_seed(0)
    a, b = F.normalize(torch.randn(16, 8, generator=g), dim=1), F.normalize(torch.randn(16, 8, generator=g), dim=1)
    bank = F.normalize(torch.randn(64, 8, generator=g), dim=1)
    q, labels = torch.randint(4, (16,), generator=g), torch.randint(4, (64,), generator=g)
    labels[labels == 3] = 2  # cluster 3 holds no key; queries of cluster 2 are starved below a floor of 40
    for floor in (1, 40, 100):
        counted = cluster_aware_negative_mask(q, labels, floor, clusters=4)
        assert torch.equal(counted, cluster_aware_negative_mask(q, labels, floor))
    mask = cluster_aware_negative_mask(q, labels, 40, clusters=4)
    assert mask[q == 2].all() and not mask[q == 0].all()
    logits = similarity_logits(a, bank, 0.1)
    assert torch.equal(instance_discrimination(a, b, bank, 0.1, mask, logits),
                       instance_discrimination(a, b, bank, 0.1, mask))
    membership = torch.softmax(torch.randn(64, 4, generator=g), dim=1)
    assert torch.equal(cluster_probabilities(a, bank, membership, 0.1, logits),
                       cluster_probabilities(a, bank, membership, 0.1))


def loop_mask(query_labels, bank_labels, floor):
    """B̃_i by a plain loop: the keys of other clusters, or the whole bank when they number < min(floor, K)."""
    k = len(bank_labels)
    rows = []
    for q in query_labels.tolist():
        row = [int(bank_labels[j]) != q for j in range(k)]
        rows.append(row if sum(row) >= min(floor, k) else [True] * k)
    return rows


@pytest.mark.parametrize("clusters", [None, 4], ids=["summed", "counted"])
def test_negative_floor_at_its_edge(clusters):
    bank_labels = torch.tensor([0, 0, 0, 1, 1, 2])  # K = 6; queries of 0, 1, 2 have 3, 4, 5 negatives
    q = torch.tensor([0, 1, 2])
    own = [[False, False, False, True, True, True], [True, True, True, False, False, True],
           [True, True, True, True, True, False]]
    full = [True] * 6
    # floor 4: exactly 4 negatives keeps the mask, 3 (= floor − 1) falls back
    assert cluster_aware_negative_mask(q, bank_labels, 4, clusters).tolist() == [full, own[1], own[2]]
    # floor 5: now the row with 4 (= floor − 1) falls back too, the one with exactly 5 keeps its mask
    assert cluster_aware_negative_mask(q, bank_labels, 5, clusters).tolist() == [full, full, own[2]]
    assert cluster_aware_negative_mask(q, bank_labels, 3, clusters).tolist() == own
    assert cluster_aware_negative_mask(q, bank_labels, 6, clusters).tolist() == [full, full, full]
    for floor in range(0, 10):
        assert cluster_aware_negative_mask(q, bank_labels, floor, clusters).tolist() == \
            loop_mask(q, bank_labels, floor), floor


@pytest.mark.parametrize("clusters", [None, 5], ids=["summed", "counted"])
def test_negative_floor_is_capped_at_the_bank_size(clusters):
    """min_negatives > K: a row whose every key is a negative (K of them) keeps its mask; K − 1 falls back.

    (Without the cap the masks are the same — a row of K negatives is the whole bank — so what this pins is that
    the cap is K, not less: a cap of K − 1 would keep the row of K − 1 negatives.)"""
    bank_labels = torch.tensor([0, 0, 1, 1, 1, 2])  # K = 6
    q = torch.tensor([4, 3, 2, 1, 0])  # 6, 6, 5, 3, 4 negatives: clusters 3 and 4 hold no key
    for floor in (7, 100):
        mask = cluster_aware_negative_mask(q, bank_labels, floor, clusters)
        assert mask.tolist() == [[True] * 6] * 5
        assert mask.tolist() == loop_mask(q, bank_labels, floor)
    # at floor K the same holds; at floor K − 1 the row of K − 1 negatives keeps its own mask
    assert cluster_aware_negative_mask(q, bank_labels, 6, clusters).tolist() == [[True] * 6] * 5
    assert cluster_aware_negative_mask(q, bank_labels, 5, clusters)[2].tolist() == [True] * 5 + [False]
    # a bank with a single cluster: K − 0 negatives for a foreign query, 0 for its own (falls back)
    ones = torch.zeros(4, dtype=torch.long)
    assert cluster_aware_negative_mask(torch.tensor([1, 0]), ones, 9, clusters).tolist() == [[True] * 4] * 2
    assert cluster_aware_negative_mask(torch.tensor([1, 0]), ones, 0, clusters).tolist() == \
        [[True] * 4, [False] * 4]


@pytest.mark.parametrize("seed", range(6))
def test_summed_and_counted_masks_agree_with_a_loop_on_random_labels(seed):
    g = torch.Generator().manual_seed(seed)
    m, k, b = 5, 30, 20
    bank_labels = torch.randint(m, (k,), generator=g)
    if seed % 2:
        bank_labels[bank_labels == 4] = 3  # an empty cluster: its queries have K negatives
        bank_labels[:12] = 0  # a big cluster: its queries are starved under most floors
    q = torch.randint(m, (b,), generator=g)
    counts = {sum(int(x) != int(qi) for x in bank_labels) for qi in q}  # each row's negatives, counted by hand
    assert len(counts) >= 3
    mixed = 0
    for floor in sorted({0, 1, k - 1, k, k + 1, 256} | counts | {c + 1 for c in counts}):  # at and past each edge
        summed = cluster_aware_negative_mask(q, bank_labels, floor)
        counted = cluster_aware_negative_mask(q, bank_labels, floor, clusters=m)
        assert summed.dtype == counted.dtype == torch.bool and summed.shape == (b, k)
        assert torch.equal(summed, counted), floor
        expected = loop_mask(q, bank_labels, floor)
        assert summed.tolist() == expected, floor
        fell_back = [all(row) for row in expected]
        mixed += any(fell_back) and not all(fell_back)
    assert mixed >= len(counts) - 1  # the floors between the counts starve some rows and not others
