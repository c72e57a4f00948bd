"""Semantic-communication benchmark: python benchmarks/semcom.py [--minutes 3] [--image-size 16] [--out results.json].

One stream, one run, every control (issue 14). Stream: cifar10_test (10,000 items, resized to --image-size) plus
``noise`` and ``scrambled`` items, together ``fraction`` of the mixed stream. A teacher trains on it (quick preset,
a wall-clock budget), the run is split by its default policy and :func:`semready.comm.simulate.simulate` sends the
held-out part through the classical, vanilla and disentangled schemes (kpis.json, what a user gets). Then, on the
same language items and the same sent items:

- **split controls** (rows), each with vanilla and disentangled: the teacher's split; an untrained teacher (its
  clusters as content elements and its own default score, split at the same size); no teacher at all (pixel
  k-means elements, split by the pixel-PCA residual — regen with one element — at the same size); a random split
  of the same size (the teacher's elements). Columns: the same-items |Z_i| reduction (both schemes on X_l), the
  all-items reduction, total bits per item with and without the dictionary, ι, PSNR and semantic pass rates.
- **element controls**: the disentangled language on the teacher's split with content elements from the teacher,
  one element, pixel k-means and random elements — mean |Z_i| on X_l, so only the elements differ.
- the fair classical baseline (``best``) and the stream length at which the disentangled dictionary breaks even.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import write_result

from semready.comm.controls import SPLIT_CONTROLS, run_element_controls
from semready.comm.simulate import kpi_table, language_mask, run_items, simulate
from semready.config import build_config
from semready.data import load_data
from semready.data.inject import count_for_fraction, inject
from semready.errors import SemreadyError
from semready.experiments.reproduce import memorizable_by_family, per_family_kpis
from semready.pipeline import train
from semready.rundir import RunDir


def build_stream(data_dir: Path, fraction: float, seed: int, image_size: int, work: Path) -> tuple[Path, np.ndarray]:
    clean = load_data(f"npz:{data_dir / 'cifar10_test.npz'}", image_size=image_size)
    k = count_for_fraction(len(clean), fraction)
    stream = inject(clean, {"noise": k // 2, "scrambled": k - k // 2}, seed=seed)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "stream.npz"
    np.savez(path, x=stream.data.images.permute(0, 2, 3, 1).numpy())
    return path, stream.family


def run_semcom_benchmark(data_dir: str | Path, fraction: float = 0.2, minutes: float = 3.0, seed: int = 0,
                         image_size: int = 16, work_dir: str | Path = "benchmarks/results/semcom_run",
                         reuse: bool = False) -> dict[str, Any]:
    data_dir = Path(data_dir)
    if not (data_dir / "cifar10_test.npz").is_file():
        raise SemreadyError(f"benchmark data {data_dir / 'cifar10_test.npz'} not found: pass --data-dir pointing "
                            "at shared/data")
    t0 = time.perf_counter()
    work = Path(work_dir)
    run = work / "run"
    if reuse and RunDir(run).kpis.is_file():  # the same stream, teacher and kpis.json: rerun the controls only
        files = RunDir(run)
        recorded = json.loads((work / "stream.json").read_text()) if (work / "stream.json").is_file() else None
        if recorded != {"fraction": fraction, "seed": seed, "image_size": image_size}:
            raise SemreadyError(f"--reuse: {work} holds a stream of {recorded}, not of these arguments: rerun "
                                "without --reuse")
        family = np.load(work / "family.npy")
        cfg, split = files.read_config(), files.read_split()
        trained = {"epochs": files.read_json(files.state, "rerun without --reuse")["epoch"],
                   "learnable": int(files.read_samples()["learnable"].sum()),
                   **{k: split.get(k) for k in ("score", "policy", "value", "threshold")}}
        trained["memorizable"] = len(family) - trained["learnable"]
        t_sim = time.perf_counter()
        kpis = files.read_json(files.kpis, "rerun without --reuse")
    else:
        shutil.rmtree(work, ignore_errors=True)
        stream_path, family = build_stream(data_dir, fraction, seed, image_size, work)
        np.save(work / "family.npy", family)  # what --reuse reads back, with the arguments that made it
        (work / "stream.json").write_text(json.dumps({"fraction": fraction, "seed": seed, "image_size": image_size}))
        cfg = build_config("quick", overrides={"data": {"spec": f"npz:{stream_path}"},
                                               "train": {"max_minutes": minutes, "epochs": 10_000, "seed": seed}})
        trained = train(run, cfg, progress=False)
        t_sim = time.perf_counter()
        kpis = simulate(run, controls=SPLIT_CONTROLS)
    t_controls = time.perf_counter()
    if "controls" not in kpis:  # --reuse of a kpis.json simulated without them
        kpis = simulate(run, controls=SPLIT_CONTROLS)
    own = run_items(run)
    in_fit = language_mask(len(own), cfg.comm.language_fraction, cfg.train.seed)
    controls = {"classical": kpis["classical"], "split_controls": kpis["controls"],
                "element_controls": run_element_controls(own, in_fit, cfg.model.clusters, cfg.comm, seed)}
    memorizable = ~RunDir(run).read_samples()["learnable"]
    return {"benchmark": "semcom", "fraction": fraction, "minutes": minutes, "seed": seed, "image_size": image_size,
            "torch": torch.__version__, "teacher_epochs": trained["epochs"],
            "split": {k: trained[k] for k in ("score", "policy", "value", "threshold", "learnable", "memorizable")},
            "memorizable_share_by_family": memorizable_by_family(memorizable, family),
            "kpis": kpis, "per_family": per_family_kpis(RunDir(run).read_kpi_item_rows(), family),
            **controls, "simulate_seconds": t_controls - t_sim, "controls_seconds": time.perf_counter() - t_controls,
            "wall_seconds": time.perf_counter() - t0}


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)  # the tables are wide; a narrow terminal would cut every label
    k = result["kpis"]
    s = k["settings"]
    console.print(kpi_table(k, f"kpis.json: {s['items_sent']} items sent at {result['image_size']}×"
                               f"{result['image_size']}, PSNR >= {s['fidelity_psnr_db']} dB, classical "
                               f"{s['classical_codec']}"))
    t = Table(title="Split controls: vanilla vs disentangled on the same language and sent items "
                    f"(classical best: {result['classical']['total_bits_per_item']:.0f} bits/item)")
    for col in ("split", "same-items |Z| red. %", "all-items red. %", "total red. %", "dis total bits/item",
                "dis excl. dict", "dis ι", "dis PSNR pass", "dis cos pass", "dis cluster pass", "break-even items"):
        t.add_column(col, justify="right")
    for name, r in result["split_controls"].items():
        d = r["disentangled"]
        t.add_row(name, _fmt(r["same_items_reduction_pct"], "+.1f"), _fmt(r["all_items_reduction_pct"], "+.1f"),
                  _fmt(r["total_bits_reduction_pct"], "+.1f"), _fmt(d["total_bits_per_item"], ".0f"),
                  _fmt(d["total_bits_per_item_excluding_dictionary"], ".0f"), _fmt(d["semantic_impact"], ".1f"),
                  _fmt(d["fidelity_pass_rate"], ".3f"), _fmt(d["semantic_cosine_pass_rate"], ".3f"),
                  _fmt(d["semantic_cluster_pass_rate"], ".3f"), _fmt(r["break_even_items"], ",.0f"))
    console.print(t)
    e = Table(title="Element controls: the disentangled language on the teacher's split, mean |Z_i| on X_l")
    for col in ("content elements", "mean |Z| on X_l", "total bits/item", "dictionary bits", "spans K_l"):
        e.add_column(col, justify="right")
    for name, r in result["element_controls"].items():
        e.add_row(name, _fmt(r["mean_representation_bits_learnable"], ".1f"), _fmt(r["total_bits_per_item"], ".0f"),
                  _fmt(r["dictionary_bits"], ",.0f"), str(r["element_spans"]))
    console.print(e)
    console.print({"memorizable_share_by_family": result["memorizable_share_by_family"],
                   "teacher_epochs": result["teacher_epochs"], "wall_seconds": round(result["wall_seconds"])})


if __name__ == "__main__":
    import argparse

    from _common import SHARED_DATA

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(SHARED_DATA))
    ap.add_argument("--minutes", type=float, default=3.0, help="teacher training budget")
    ap.add_argument("--image-size", type=int, default=16, help="items' side in pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/semcom.json")
    ap.add_argument("--reuse", action="store_true", help="keep the trained run and its kpis.json; rerun the controls")
    args = ap.parse_args()
    result = run_semcom_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed, image_size=args.image_size,
                                  reuse=args.reuse)
    print_table(result)
    write_result(result, args.out)
