"""The clustering benchmark's code path, on a few hundred real images (skipped where ../shared is absent)."""

from pathlib import Path

import pytest

from benchmarks.clustering import print_table, run_clustering_benchmark

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "cifar10_test.npz").is_file(), reason="shared benchmark data not present")
def test_clustering_benchmark_smoke(tmp_path, capsys):
    r = run_clustering_benchmark(DATA, minutes=0.01, work_dir=tmp_path, progress=False, train_limit=300,
                                 test_limit=200)
    methods = [row["method"] for row in r["rows"]]
    assert methods[0] == "k-means on raw pixels" and methods[-1] == "full method: k-means on its features"
    assert any("instance-only" in m for m in methods)
    for row in r["rows"]:
        assert 0 <= row["nmi"] <= 1 and 0 <= row["acc"] <= 1
    assert r["views_images_per_s"] > 0 and r["test_items"] == 200
    print_table(r)
    assert "full method" in capsys.readouterr().out
