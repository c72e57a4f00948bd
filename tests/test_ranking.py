"""Confidence ranking and split policies: cluster confidence C_l (hand table, empty clusters), descending ranks
with stable ties, the per-item / per-cluster split tables (all / none / mixed members, empty clusters), the
paper's cluster-level policies (whole clusters by C_l: floor and budget), the paper's learnability sqrt(c·C) with
clipping, and the thresholds of the confidence, budget and complexity policies (exact ⌈value·N⌉ counts, float
edges, ties, the largest top-f set within budget), with their one-line errors."""

import math

import numpy as np
import pytest

from semready.errors import SemreadyError
from semready.split.policies import check_policy, complexity_threshold, learnable_clusters, learnable_threshold
from semready.split.ranking import cluster_confidence, rank_and_split, ranks_descending
from semready.split.scores import paper_learnability

# -- cluster confidence --------------------------------------------------------------------------------------


def test_cluster_confidence_hand_table_with_empty_clusters():
    #  item:      0    1    2    3    4    5
    clusters = np.array([0, 0, 2, 2, 2, 3])
    confidence = np.array([0.2, 0.6, 1.0, 0.5, 0.0, 0.9])
    # C_0 = (0.2+0.6)/2 = 0.4; C_1 empty -> 0; C_2 = (1+0.5+0)/3 = 0.5; C_3 = 0.9; C_4 empty -> 0
    got = cluster_confidence(clusters, confidence, 5)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, [0.4, 0.0, 0.5, 0.9, 0.0], rtol=0, atol=1e-12)


def test_cluster_confidence_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    m = 7
    clusters = rng.integers(0, m - 2, size=50)  # the last two clusters stay empty
    confidence = rng.random(50)
    expected = []
    for c in range(m):
        members = [float(confidence[i]) for i in range(50) if clusters[i] == c]
        expected.append(sum(members) / len(members) if members else 0.0)
    np.testing.assert_allclose(cluster_confidence(clusters, confidence, m), expected, rtol=1e-12)


def test_cluster_confidence_all_empty():
    got = cluster_confidence(np.zeros(0, dtype=np.int64), np.zeros(0), 3)
    assert got.tolist() == [0.0, 0.0, 0.0]


# -- ranks ----------------------------------------------------------------------------------------------------


def test_ranks_descending_highest_first_ties_in_input_order():
    scores = np.array([0.2, 0.9, 0.2, 0.5, 0.9])
    # 0.9 (item 1) -> 1, 0.9 (item 4) -> 2, 0.5 -> 3, 0.2 (item 0) -> 4, 0.2 (item 2) -> 5
    assert ranks_descending(scores).tolist() == [4, 1, 5, 3, 2]


def test_ranks_descending_matches_a_plain_loop_and_is_a_permutation():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=40).astype(float)  # many ties
    n = len(scores)
    expected = [1 + sum(scores[j] > scores[i] for j in range(n)) + sum(scores[j] == scores[i] for j in range(i))
                for i in range(n)]
    got = ranks_descending(scores)
    assert got.tolist() == expected
    assert sorted(got.tolist()) == list(range(1, n + 1))


def test_ranks_descending_empty_and_single():
    assert ranks_descending(np.zeros(0)).tolist() == []
    assert ranks_descending(np.array([0.3])).tolist() == [1]


# -- the split tables ------------------------------------------------------------------------------------------


def _split_fixture():
    """Clusters designed for the half rule: learnable count / size per cluster (threshold 0.5):
    0: 2/4 (exact half -> learnable), 1: 1/3 (memorizable), 2: 1/1 (learnable), 3: empty (memorizable),
    4: 1/2 (exact half -> learnable), 5: 0/2 (memorizable), 6: 2/3 (learnable)."""
    clusters = np.array([0, 0, 0, 0, 1, 1, 1, 2, 4, 4, 5, 5, 6, 6, 6])
    learn = np.array([0.9, 0.5, 0.1, 0.4, 0.6, 0.2, 0.3, 0.7, 0.8, 0.0, 0.49, 0.3, 0.55, 0.51, 0.2])
    confidence = np.linspace(0.1, 0.95, len(clusters))
    return clusters, confidence, learn, 7


def test_rank_and_split_item_table():
    clusters, confidence, learn, m = _split_fixture()
    items, _ = rank_and_split(clusters, confidence, learn, m, learn >= 0.5)
    n = len(clusters)
    assert set(items) == {"index", "cluster", "confidence", "learnability", "rank", "split"}
    assert all(len(v) == n for v in items.values())
    assert items["index"].tolist() == list(range(n))
    assert items["cluster"].tolist() == clusters.tolist()
    np.testing.assert_array_equal(items["confidence"], confidence)
    np.testing.assert_array_equal(items["learnability"], learn)
    # learnable iff learnability >= threshold (0.5 itself is learnable, 0.49 is not)
    expected = ["learnable" if x >= 0.5 else "memorizable" for x in learn]
    assert items["split"].tolist() == expected
    assert items["split"][1] == "learnable" and items["split"][10] == "memorizable"
    # every item in exactly one split; the counts add up
    n_l = int((items["split"] == "learnable").sum())
    n_m = int((items["split"] == "memorizable").sum())
    assert n_l + n_m == n and n_l == sum(x >= 0.5 for x in learn)
    # the rank is by learnability, most learnable first
    assert items["rank"].tolist() == ranks_descending(learn).tolist()
    assert items["rank"][int(np.argmax(learn))] == 1 and items["rank"][int(np.argmin(learn))] == n


def test_rank_and_split_cluster_table_all_none_mixed_and_empty_cluster():
    clusters, confidence, learn, m = _split_fixture()
    _, table = rank_and_split(clusters, confidence, learn, m, learn >= 0.5)
    assert set(table) == {"cluster", "size", "confidence", "rank", "learnable_share", "split"}
    assert table["cluster"].tolist() == list(range(m))
    assert table["size"].tolist() == [4, 3, 1, 0, 2, 2, 3]
    assert int(table["size"].sum()) == len(clusters)
    # learnable members / size: 2/4, 1/3, 1/1, empty, 1/2, 0/2, 2/3
    np.testing.assert_allclose(table["learnable_share"], [0.5, 1 / 3, 1.0, 0.0, 0.5, 0.0, 2 / 3])
    assert table["split"].tolist() == ["mixed", "mixed", "learnable", "memorizable", "mixed", "memorizable",
                                       "mixed"]
    np.testing.assert_allclose(table["confidence"], cluster_confidence(clusters, confidence, m))
    assert table["confidence"][3] == 0.0
    assert table["rank"].tolist() == ranks_descending(table["confidence"]).tolist()


def test_rank_and_split_cluster_rule_matches_a_plain_loop():
    rng = np.random.default_rng(11)
    m, n = 9, 60
    clusters = rng.integers(0, m - 1, size=n)  # cluster m-1 stays empty
    learnable = rng.random(n) < 0.7
    learnable[clusters == 2] = True  # one all-learnable and one all-memorizable cluster at least
    learnable[clusters == 5] = False
    items, table = rank_and_split(clusters, rng.random(n), rng.random(n), m, learnable)
    for c in range(m):
        members = [i for i in range(n) if clusters[i] == c]
        flags = {bool(learnable[i]) for i in members}
        want = {frozenset({True}): "learnable", frozenset({False}): "memorizable"}.get(frozenset(flags), "mixed")
        if not members:
            want = "memorizable"
        assert table["split"][c] == want, c
        assert table["size"][c] == len(members)
    assert table["split"][2] == "learnable" and table["split"][5] == "memorizable"
    assert table["split"][m - 1] == "memorizable"
    assert items["split"].tolist() == ["learnable" if f else "memorizable" for f in learnable]


def test_rank_and_split_all_or_nothing():
    clusters, confidence, learn, m = _split_fixture()
    items, table = rank_and_split(clusters, confidence, learn, m, np.zeros(len(learn), bool))
    assert set(items["split"].tolist()) == {"memorizable"}
    assert set(table["split"].tolist()) == {"memorizable"}
    items, table = rank_and_split(clusters, confidence, learn, m, np.ones(len(learn), bool))
    assert set(items["split"].tolist()) == {"learnable"}
    # every non-empty cluster learnable, the empty one (3) memorizable
    assert [s for c, s in enumerate(table["split"]) if c != 3] == ["learnable"] * 6
    assert table["split"][3] == "memorizable"


# -- the paper's cluster-level policies ----------------------------------------------------------------------------


def test_cluster_floor_keeps_exactly_the_clusters_at_or_above_the_floor():
    conf = np.array([0.9, 0.2, 0.6, 0.0, 0.5, 0.49])
    sizes = np.array([5, 3, 2, 0, 4, 1])
    keep = learnable_clusters(conf, sizes, "cluster-floor", 0.5)
    assert keep.tolist() == [True, False, True, False, True, False]  # 0.5 itself kept, 0.49 not, empty never


def test_cluster_budget_cuts_least_confident_whole_clusters_until_the_budget_is_met():
    conf = np.array([0.9, 0.2, 0.6, 0.0, 0.5, 0.3])
    sizes = np.array([5, 3, 2, 0, 4, 6])  # 20 items; ascending confidence among present: 1 (3), 5 (6), 4 (4), 2, 0
    for value, memorized in [(0.05, {1}), (0.15, {1}), (0.16, {1, 5}), (0.45, {1, 5}), (0.46, {1, 5, 4}),
                             (0.65, {1, 5, 4}), (0.7, {1, 5, 4, 2})]:
        keep = learnable_clusters(conf, sizes, "cluster-budget", value)
        got = {c for c in range(6) if not keep[c] and sizes[c] > 0}
        assert got == memorized, value
        need = math.ceil(round(value * 20, 9))
        assert sizes[~keep].sum() >= need  # at least the budget ...
        # ... and the last cluster cut was needed: without it the budget is not met
        assert sizes[~keep].sum() - sizes[max(got, key=lambda c: conf[c])] < need, value
    assert not learnable_clusters(conf, sizes, "cluster-budget", 0.05)[3]  # empty: memorizable


def test_cluster_policies_refuse_what_cannot_be_met():
    conf, sizes = np.array([0.9, 0.2]), np.array([5, 5])
    with pytest.raises(SemreadyError, match="no cluster reaches the confidence floor 0.95"):
        learnable_clusters(conf, sizes, "cluster-floor", 0.95)
    with pytest.raises(SemreadyError, match="takes every cluster"):
        learnable_clusters(conf, sizes, "cluster-budget", 0.6)
    with pytest.raises(SemreadyError, match="item-level"):
        learnable_clusters(conf, sizes, "budget", 0.5)
    with pytest.raises(SemreadyError, match="whole clusters"):
        learnable_threshold(np.array([0.2, 0.8]), "cluster-floor", 0.5)


def test_cluster_policies_count_only_clusters_with_members():
    conf = np.array([0.9, 0.95, 0.3, 0.6])
    sizes = np.array([5, 0, 1, 4])  # cluster 1 is empty however confident; cluster 2 holds a single item
    assert learnable_clusters(conf, sizes, "cluster-floor", 0.5).tolist() == [True, False, False, True]
    assert learnable_clusters(conf, sizes, "cluster-floor", 0.2).tolist() == [True, False, True, True]
    # budget 0.1 of 10 items: the single item of the least confident cluster is enough
    assert learnable_clusters(conf, sizes, "cluster-budget", 0.1).tolist() == [True, False, False, True]


def test_cluster_floor_error_names_the_most_confident_cluster_with_members():
    with pytest.raises(SemreadyError) as info:
        learnable_clusters(np.array([0.9, 0.99]), np.array([5, 0]), "cluster-floor", 0.95)
    assert "the most confident has C_l = 0.900" in str(info.value)
    with pytest.raises(SemreadyError) as info:
        learnable_clusters(np.array([0.5, 0.7]), np.array([0, 0]), "cluster-floor", 0.6)
    assert "the most confident has C_l = 0.000" in str(info.value)


def test_confidence_floor_nothing_meets_is_an_error():
    with pytest.raises(SemreadyError, match="no item reaches the learnability floor 0.9"):
        learnable_threshold(np.array([0.2, 0.8]), "confidence", 0.9)


# -- learnability ------------------------------------------------------------------------------------------------


def test_paper_learnability_by_hand():
    c = np.array([0.36, 0.64, 1.0, 0.0, 0.5])
    big_c = np.array([0.25, 1.0, 0.49, 0.9, 0.5])
    # sqrt(0.09)=0.3, sqrt(0.64)=0.8, sqrt(0.49)=0.7, 0, sqrt(0.25)=0.5
    np.testing.assert_allclose(paper_learnability(c, big_c), [0.3, 0.8, 0.7, 0.0, 0.5], atol=1e-12)


def test_paper_learnability_clips_both_factors_to_unit_interval():
    c = np.array([1.5, -0.2, 0.64, 2.0, 0.25])
    big_c = np.array([0.49, 0.8, 2.0, 3.0, -1.0])
    # clip: (1, 0.49) -> 0.7; (0, 0.8) -> 0; (0.64, 1) -> 0.8; (1, 1) -> 1; (0.25, 0) -> 0
    got = paper_learnability(c, big_c)
    np.testing.assert_allclose(got, [0.7, 0.0, 0.8, 1.0, 0.0], atol=1e-12)
    assert not np.isnan(got).any()


# -- policies -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_confidence_policy_threshold_is_the_floor(value):
    learn = np.array([0.9, 0.1, 0.5, 1.0])
    assert learnable_threshold(learn, "confidence", value) == value


def test_budget_policy_memorizes_exactly_ceil_value_n_least_learnable():
    rng = np.random.default_rng(5)
    learn = rng.permutation(np.linspace(0.0, 1.0, 10))  # distinct scores
    order = np.argsort(learn)
    for value in [0.05, 0.1, 0.15, 0.25, 0.3, 0.5, 0.7, 0.95, 0.99]:
        k = math.ceil(round(value * 10, 9))  # 0.3*10 and 0.7*10 are not exact in floating point
        thr = learnable_threshold(learn, "budget", value)
        memorizable = learn < thr
        assert int(memorizable.sum()) == k, value
        # ... and they are the k least learnable ones
        assert set(np.flatnonzero(memorizable).tolist()) == set(order[:k].tolist()), value


@pytest.mark.parametrize("value,n,k", [(0.07, 100, 7), (0.14, 100, 14), (0.28, 100, 28), (0.56, 100, 56),
                                       (0.28, 25, 7), (0.1 * 3, 10, 3), (0.57, 100, 57), (0.29, 100, 29)])
def test_budget_policy_float_edge_values(value, n, k):
    # value·n is 7.000000000000001, 14.000000000000002, ... in floating point: still exactly k items
    learn = np.arange(n) / n
    assert int((learn < learnable_threshold(learn, "budget", value)).sum()) == k


def test_budget_policy_refuses_zero_and_one():
    learn = np.array([0.9, 0.1, 0.5, 0.7, 0.0])
    for value in (0.0, 1.0):
        with pytest.raises(SemreadyError, match="strictly between 0 and 1"):
            learnable_threshold(learn, "budget", value)
    assert learnable_threshold(learn, "budget", 0.999) == float("inf")  # ⌈0.999·5⌉ = 5: every item


def test_budget_policy_docstring_example():
    assert learnable_threshold(np.array([0.9, 0.1, 0.5, 0.7]), "budget", 0.5) == 0.7


def test_budget_policy_ties_at_the_cut_stay_together():
    learn = np.array([0.5, 0.1, 0.5, 0.9, 0.5])
    # value 0.4 -> k = 2; the second-least learnable ties with two more at 0.5: all three stay learnable
    thr = learnable_threshold(learn, "budget", 0.4)
    assert thr == 0.5
    assert (learn < thr).tolist() == [False, True, False, False, False]
    # value 0.8 -> k = 4: the three tied at 0.5 are memorizable with 0.1, only 0.9 is learnable
    thr = learnable_threshold(learn, "budget", 0.8)
    assert thr == 0.9
    assert (learn >= thr).tolist() == [False, False, False, True, False]


class _SizeComplexity:
    """A fake Γ̂ per item: the size of the learnable set times ``per_item``, with a log of the calls."""

    def __init__(self, per_item=1.0):
        self.per_item = per_item
        self.calls = []

    def __call__(self, mask):
        assert mask.dtype == bool
        self.calls.append(int(mask.sum()))
        return float(mask.sum()) * self.per_item


def test_complexity_threshold_takes_the_largest_top_f_set_within_budget():
    rng = np.random.default_rng(2)
    learn = rng.permutation(np.linspace(0.05, 0.99, 20))  # distinct
    gamma = _SizeComplexity()
    budget = 13.0
    thr = complexity_threshold(learn, budget, gamma)
    chosen = learn >= thr
    # top-f sets have 20, 18, ..., 2 items: the largest within 13 has 12
    assert int(chosen.sum()) == 12
    assert gamma(chosen) <= budget
    # the next larger top-f set (14 items) exceeds the budget
    top14 = learn >= np.sort(learn)[::-1][13]
    assert int(top14.sum()) == 14 and gamma(top14) > budget
    # chosen = the 12 most learnable items
    assert set(np.flatnonzero(chosen).tolist()) == set(np.argsort(-learn)[:12].tolist())
    # the sets were tried from the largest down
    assert gamma.calls[:5] == [20, 18, 16, 14, 12]


def test_complexity_threshold_whole_set_when_within_budget():
    learn = np.linspace(0.0, 1.0, 10)
    gamma = _SizeComplexity()
    thr = complexity_threshold(learn, 10.0, gamma)
    assert thr == 0.0 and gamma.calls == [10]


def test_complexity_threshold_not_monotone_still_largest_first():
    learn = np.linspace(0.1, 1.0, 10)

    def gamma(mask):  # the 9- and 7-item sets are cheap, the rest are not
        return {9: 1.0, 7: 0.5}.get(int(mask.sum()), 100.0)

    thr = complexity_threshold(learn, 2.0, gamma)
    assert int((learn >= thr).sum()) == 9


def test_complexity_threshold_no_set_fits_is_an_error():
    learn = np.linspace(0.0, 1.0, 10)
    with pytest.raises(SemreadyError, match="raise --value"):
        complexity_threshold(learn, 0.5, _SizeComplexity())


def test_complexity_threshold_error_names_the_smallest_fraction_tried():
    # default fractions 100 %, 90 %, ..., 10 %: the message names the last (smallest), 10 %, and its Γ̂ (1 item)
    with pytest.raises(SemreadyError, match=r"the top 10% needs 1\): raise --value"):
        complexity_threshold(np.linspace(0.0, 1.0, 10), 0.5, _SizeComplexity())


def test_complexity_threshold_small_fraction_keeps_at_least_the_single_top_item():
    # 3 items: round(0.4·3) = 1 → the top item alone (threshold 0.9); round(0.1·3) = 0 → still the top item
    learn = np.array([0.9, 0.1, 0.5])
    gamma = _SizeComplexity()
    assert complexity_threshold(learn, 1.0, gamma, fractions=(1.0, 0.4)) == 0.9
    assert gamma.calls == [3, 1]
    assert complexity_threshold(learn, 1.0, _SizeComplexity(), fractions=(0.1,)) == 0.9
    assert complexity_threshold(np.array([0.3]), 1.0, _SizeComplexity(), fractions=(0.5,)) == 0.3


def test_learnable_threshold_complexity_policy_goes_through_complexity_of():
    learn = np.linspace(0.0, 1.0, 10)
    thr = learnable_threshold(learn, "complexity", 5.5, complexity_of=_SizeComplexity())
    assert int((learn >= thr).sum()) == 5
    with pytest.raises(SemreadyError):
        learnable_threshold(learn, "complexity", 5.5)  # no complexity_of


@pytest.mark.parametrize("policy,value", [
    ("nope", 0.5), ("", 0.5), ("Budget", 0.5),
    ("budget", -0.01), ("budget", 1.01), ("budget", float("nan")), ("budget", 0.0), ("budget", 1.0),
    ("cluster-budget", 0.0), ("cluster-budget", 1.0), ("cluster-floor", 1.5), ("cluster", 0.5),
    ("confidence", -0.5), ("confidence", 1.5),
    ("complexity", 0.0), ("complexity", -3.0), ("complexity", float("nan")), ("complexity", float("inf")),
])
def test_check_policy_refuses_unknown_or_out_of_range(policy, value):
    with pytest.raises(SemreadyError):
        check_policy(policy, value)
    with pytest.raises(SemreadyError):
        learnable_threshold(np.array([0.2, 0.8]), policy, value, complexity_of=_SizeComplexity())


@pytest.mark.parametrize("policy,value", [("budget", 1e-6), ("budget", 0.999999), ("confidence", 0.0),
                                          ("confidence", 1.0), ("complexity", 1e-6), ("complexity", 2000.0),
                                          ("cluster-floor", 0.0), ("cluster-floor", 1.0), ("cluster-budget", 0.5)])
def test_check_policy_accepts_edges(policy, value):
    check_policy(policy, value)  # no error
