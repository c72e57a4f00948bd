"""Routing a run's own items agrees with its samples.csv exactly — also for items that sit on the threshold —
because the router recomputes the paper score from the split's full-precision cluster confidences (clusters.csv
rounds them to 6 decimals)."""

import csv

import numpy as np

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
