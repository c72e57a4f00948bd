"""Semantic-communication benchmark: python benchmarks/semcom.py [--minutes 3] [--out results.json].

The classical, vanilla semantic and disentangled schemes on cifar10_test + 20 % noise/scrambled items:
mean |Z_i|, total bits per item, semantic impact, fidelity pass rate and language complexity, from real
bitstreams. See benchmarks.semcom.

Semantic-communication benchmark (issue 4): the three schemes on cifar10_test + 20 % semantic-poor items.

Stream: cifar10_test (10,000 items) plus ``noise`` and ``scrambled`` items, together ``fraction`` of the mixed
stream (half each). The teacher trains on the stream (quick preset, a wall-clock budget), the run is split by
its default policy, and :func:`semready.comm.simulate.simulate` sends the held-out half of the stream through the
classical, vanilla and disentangled schemes. Everything goes through the library API a user would call.
"""


from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import parse_args, write_result

from semready.comm.simulate import kpi_table, run_split, simulate
from semready.comm.system import SCHEMES
from semready.config import build_config
from semready.data import load_data
from semready.data.inject import count_for_fraction, inject
from semready.errors import SemreadyError
from semready.pipeline import train
from semready.rundir import RunDir


def build_stream(data_dir: Path, fraction: float, seed: int, work: Path) -> tuple[Path, np.ndarray]:
    clean = load_data(f"npz:{data_dir / 'cifar10_test.npz'}")
    k = count_for_fraction(len(clean), fraction)
    stream = inject(clean, {"noise": k // 2, "scrambled": k - k // 2}, seed=seed)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "stream.npz"
    np.savez(path, x=stream.data.images.permute(0, 2, 3, 1).numpy())
    return path, stream.family


def split_by_family(run: Path, family: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of each family the run's split put in X_m (what the disentangled scheme sends classically)."""
    memorizable = ~run_split(run)[1]
    return {f: {"items": int((family == f).sum()), "memorizable_share": float(memorizable[family == f].mean())}
            for f in np.unique(family)}


def per_family_kpis(run: Path, family: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Mean bits and fidelity pass rate per scheme and family, from kpis_items.csv."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    rows = RunDir(run).read_kpi_item_rows()
    for scheme in SCHEMES:
        sel = [r for r in rows if r["scheme"] == scheme]
        fam = family[np.array([int(r["index"]) for r in sel])]
        bits = np.array([float(r["bits"]) for r in sel])
        passed = np.array([int(r["passed"]) for r in sel])
        out[scheme] = {f: {"mean_bits": float(bits[fam == f].mean()), "pass_rate": float(passed[fam == f].mean())}
                       for f in np.unique(fam)}
    return out


def run_semcom_benchmark(data_dir: str | Path, fraction: float = 0.2, minutes: float = 3.0, seed: int = 0,
                         work_dir: str | Path = "benchmarks/results/semcom_run") -> dict[str, Any]:
    data_dir = Path(data_dir)
    if not (data_dir / "cifar10_test.npz").is_file():
        raise SemreadyError(f"benchmark data {data_dir / 'cifar10_test.npz'} not found: pass --data-dir pointing "
                            "at shared/data")
    t0 = time.perf_counter()
    work = Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    stream_path, family = build_stream(data_dir, fraction, seed, work)
    cfg = build_config("quick", overrides={"data": {"spec": f"npz:{stream_path}"},
                                           "train": {"max_minutes": minutes, "epochs": 10_000, "seed": seed}})
    run = work / "run"
    trained = train(run, cfg, progress=False)
    t_sim = time.perf_counter()
    kpis = simulate(run)
    return {"benchmark": "semcom", "fraction": fraction, "minutes": minutes, "seed": seed,
            "torch": torch.__version__, "teacher_epochs": trained["epochs"],
            "split": {k: trained[k] for k in ("score", "policy", "value", "threshold", "learnable", "memorizable")},
            "split_by_family": split_by_family(run, family), "kpis": kpis,
            "per_family": per_family_kpis(run, family), "simulate_seconds": time.perf_counter() - t_sim,
            "wall_seconds": time.perf_counter() - t0}


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console

    k = result["kpis"]
    s = k["settings"]
    title = (f"Semantic communication on cifar10_test + {result['fraction']:.0%} noise/scrambled: "
             f"{s['items_sent']} items sent, PSNR >= {s['fidelity_psnr_db']} dB, classical "
             f"{s['classical_codec']}, R = {s['rate_bps']:.0f} bit/s")
    Console().print(kpi_table(k, title))
    Console().print({"comparison": k["comparison"], "split_by_family": result["split_by_family"]})


if __name__ == "__main__":
    args = parse_args(__doc__, 3.0, "benchmarks/results/semcom.json", "teacher training budget")
    result = run_semcom_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
