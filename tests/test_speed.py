"""The speed benchmark's code path at tiny sizes: every field of the JSON exists and is finite (no timing
assertions: timings on shared CPUs are noise; the targets are checked by reading the benchmark's output)."""

import json
import math

import pytest
import torch

from benchmarks.speed import TARGETS, print_speed_table, run_speed_benchmark
from semready.config import build_config
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


def test_fast_path_is_measured_against_the_same_step_without_it(tiny_npz, monkeypatch):
    # With amp/compile the benchmark adds the full step with both switched off (same model, same views), and
    # compiles the minimal step's encoders too, so full/minimal stays like for like.
    real, compiled = torch.compile, []

    def spy(module, **kwargs):  # dynamo's eager backend: the real graph capture, without inductor's C++ build
        compiled.append(module)
        return real(module, backend="eager")

    monkeypatch.setattr(torch, "compile", spy)
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz, amp=True, compile=True))
    r = run_speed_benchmark(cfg, f"npz:{tiny_npz}", rounds=2, batches=2, route_batch=40, warmup_rounds=1)
    assert len(compiled) == 4 and len({id(m) for m in compiled}) == 4  # trainer's and minimal's encoders
    assert r["phases"]["full_plain"]["images_per_s"] > 0
    assert math.isfinite(r["full_over_plain_full_time_ratio"]) and r["full_over_plain_full_time_ratio"] > 0
    plain = run_speed_benchmark(build_config("quick", overrides=tiny_overrides(tiny_npz)), f"npz:{tiny_npz}",
                                rounds=1, batches=1, route_batch=40, warmup_rounds=0)
    assert "full_plain" not in plain["phases"] and "full_over_plain_full_time_ratio" not in plain


@pytest.mark.slow
def test_gpu_check_script_runs_its_whole_flow_on_the_cpu(tmp_path, tiny_npz):
    # The GPU session that runs benchmarks/gpu_check.sh has minutes of device time: its flow (both speed runs,
    # the training, the evaluation, the table) is checked here on the CPU at tiny sizes first.
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "quick", "ROUNDS": "1",
           "BATCH": "32", "TRAIN_MINUTES": "0.01", "DATA": f"npz:{tiny_npz}", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(["bash", str(script), str(tmp_path / "gpu")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| speed_")]
    assert [line.split()[1] for line in table] == ["speed_fp32", "speed_bf16"]
    assert table[0].split("|")[9].strip() == "-"  # fp32 has no fast path to compare with
    assert float(table[1].split("|")[9]) > 0  # bf16 measured against the same step in fp32
    run_line = next(line for line in proc.stdout.splitlines() if line.startswith("paper_run:"))
    assert "ACC/NMI/ARI" in run_line and "1 process(es)" in run_line


def test_routing_batches_are_full_on_a_small_dataset(tiny_npz, monkeypatch):
    # 120 items, routing batches of 512 asked for: every timed batch holds the items it is counted for
    from semready.teacher.infer import TrainedRun

    seen, real = [], TrainedRun.assign_batch

    def spy(self, images):
        seen.append(len(images))
        return real(self, images)

    monkeypatch.setattr(TrainedRun, "assign_batch", spy)
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz))
    r = run_speed_benchmark(cfg, f"npz:{tiny_npz}", rounds=2, batches=3, route_batch=512, warmup_rounds=0)
    assert seen and set(seen) == {120} and r["phases"]["routing"]["batch"] == 120
