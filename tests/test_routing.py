"""Routing a run's own items agrees with its samples.csv exactly — also for items that sit on the threshold —
because the router recomputes the paper score from the split's full-precision cluster confidences (clusters.csv
rounds them to 6 decimals)."""

import csv

import numpy as np
import pytest

from semready import api
from semready.rundir import RunDir
from tests.conftest import train_tiny


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_routing_the_runs_own_items_reproduces_its_split_on_the_threshold(tmp_path, tiny_npz):
    run = train_tiny(tmp_path / "run", tiny_npz, epochs=2, score="paper")
    files = RunDir(run)
    # the budget policy puts the threshold exactly on an item's learnability: that item sits on the edge
    result = api.split(run, policy="budget", value=0.5)
    exact = np.array(files.read_split()["cluster_confidence"])
    rounded = np.array([float(r["confidence"]) for r in files.read_cluster_rows()])
    assert np.allclose(exact, rounded, atol=5e-7) and not np.array_equal(exact, rounded)  # 6 decimals vs full
    np.testing.assert_array_equal(files.read_cluster_confidence(len(exact)), exact)

    api.route(run, f"npz:{tiny_npz}", tmp_path / "routed.csv")
    routed, own = _rows(tmp_path / "routed.csv"), files.read_sample_rows()
    assert [r["split"] for r in routed] == [r["split"] for r in own]
    assert [r["cluster"] for r in routed] == [r["cluster"] for r in own]
    learn = np.array([float(r["learnability"]) for r in own])
    on_edge = np.isclose(learn, result["threshold"], atol=1e-6)
    assert on_edge.any() and (np.array([r["split"] for r in routed])[on_edge] == "learnable").all()


def test_a_run_split_before_full_precision_falls_back_to_clusters_csv(tmp_path, tiny_npz):
    run = train_tiny(tmp_path / "run", tiny_npz, epochs=2, score="paper")
    files = RunDir(run)
    split = files.read_split()
    del split["cluster_confidence"]
    files.write_split(split)
    rounded = [float(r["confidence"]) for r in files.read_cluster_rows()]
    assert files.read_cluster_confidence(len(rounded)).tolist() == rounded


def test_the_paper_cluster_policy_moves_whole_clusters_and_routing_follows_them(tmp_path, tiny_npz):
    """cluster-budget: the least confident whole clusters are memorizable; samples.csv, clusters.csv, split.json and
    routing agree item by item."""
    run = train_tiny(tmp_path / "run", tiny_npz, epochs=2, score="teacher", clusters=8)
    files = RunDir(run)
    result = api.split(run, policy="cluster-budget", value=0.3)
    own, table = files.read_sample_rows(), files.read_cluster_rows()
    conf = {int(r["cluster"]): float(r["confidence"]) for r in table if int(r["size"]) > 0}
    sizes = {int(r["cluster"]): int(r["size"]) for r in table}
    memorized = {int(r["cluster"]) for r in table if r["split"] == "memorizable" and int(r["size"]) > 0}
    # by hand: walk the clusters from the least confident, stop once 30 % of the items are memorizable
    need, taken, want = int(np.ceil(0.3 * len(own) - 1e-9)), 0, set()
    for c in sorted(conf, key=lambda c: (conf[c], c)):
        if taken >= need:
            break
        want.add(c)
        taken += sizes[c]
    assert memorized == want and result["threshold"] is None
    assert sorted(result["learnable_clusters"]) == sorted(set(conf) - want)
    assert {r["split"] for r in table} <= {"learnable", "memorizable"}  # never mixed under a cluster policy
    for r in own:
        assert r["split"] == ("memorizable" if int(r["cluster"]) in want else "learnable")
    assert result["memorizable"] == taken
    api.route(run, f"npz:{tiny_npz}", tmp_path / "routed.csv")
    routed = _rows(tmp_path / "routed.csv")
    assert [r["split"] for r in routed] == [r["split"] for r in own]


def test_routing_new_items_with_the_teacher_score_by_hand(tmp_path, tiny_npz):
    """New items: typicality against the stream's embeddings (k nearest), the description test with the regen
    model fitted on the whole stream and split.json's knee."""
    import torch

    from semready.data import load_data
    from semready.split.regen import RegenerationModel
    from semready.split.typicality import TypicalityModel
    from semready.teacher.infer import load_run

    run = train_tiny(tmp_path / "run", tiny_npz, epochs=2, score="teacher")
    files = RunDir(run)
    api.split(run, policy="budget", value=0.25)
    sample = load_data("sample")
    new = tmp_path / "new.npz"
    np.savez(new, x=sample.images[200:240].permute(0, 2, 3, 1).numpy())
    api.route(run, f"npz:{new}", tmp_path / "routed.csv")
    routed = _rows(tmp_path / "routed.csv")
    split = files.read_split()
    a = load_run(run, "cpu").assign_all(sample.images[200:240])
    ref = TypicalityModel.load(files.typicality)
    regen = RegenerationModel.load(files.regen)
    from semready.data.pixels import pixel_vectors

    x = pixel_vectors(sample.images[200:240], regen.resolution)
    nearest = torch.cdist(x, regen.means[:-1]).argmin(1).numpy()  # each new item's nearest pixel element
    u = regen.unexplained(x, nearest)
    assert regen.means.shape[0] == 4  # M = 3 pixel elements and the global mean
    for i, r in enumerate(routed):
        sims = sorted((float(x) for x in torch.from_numpy(a.embeddings[i]) @ ref.reference.t()), reverse=True)
        typ = (1 + sum(sims[:ref.k]) / ref.k) / 2
        r_i, knee = 1 - u[i], split["gate_knee"]
        want = (1 + typ) / 2 if r_i >= knee else r_i / knee / 2
        assert float(r["learnability"]) == pytest.approx(want, abs=2e-6)
        assert r["split"] == ("learnable" if want >= split["threshold"] else "memorizable")
