"""The speed benchmark's code path at tiny sizes: every field of the JSON exists and is finite (no timing
assertions: timings on shared CPUs are noise; the targets are checked by reading the benchmark's output)."""

import json
import math

from semready.config import build_config
from semready.experiments.speed import TARGETS, print_speed_table, run_speed_benchmark
from tests.conftest import tiny_overrides

PHASES = ("minimal", "full", "views", "bare_inference", "routing")


def test_speed_benchmark_smoke(tmp_path, tiny_npz, capsys):
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz))
    r = run_speed_benchmark(cfg, f"npz:{tiny_npz}", rounds=2, batches=2, route_batch=40, warmup_rounds=1)
    json.dumps(r)  # JSON-able as written by --out
    for name in PHASES:
        p = r["phases"][name]
        for key in ("images_per_s", "seconds_per_batch", "peak_mib", "extra_mib"):
            assert math.isfinite(p[key]) and p[key] >= 0, (name, key)
        assert p["images_per_s"] > 0
    ratios = [k for k in r if "ratio" in k]
    assert set(TARGETS) <= set(ratios)
    for key in ratios + ["negative_selection_seconds_per_batch", "negative_selection_share_of_full_step"]:
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert set(r["targets_met"]) == set(TARGETS)
    print_speed_table(r)
    assert "full_over_minimal_time_ratio" in capsys.readouterr().out
