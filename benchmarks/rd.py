"""Rate–distortion benchmark: python benchmarks/rd.py [--run RUN] [--targets 26,30,34,38,42] [--items 300]
[--out benchmarks/results/rd.json].

Without ``--run``: the first ``--stream-items`` items of the embedded sample at ``--image-size`` (an npz in
``--work``, a fresh temporary folder unless given) train a tiny teacher (quick preset, ``--epochs`` epochs), split
by its default policy. Then :func:`semready.api.rd_sweep` sends the first ``--items`` held-out items at every target
through jpeg, webp, jpeg2000, avif, png and best and through the vanilla and disentangled languages (what ``semready
rd`` does; with ``--learned`` the learned language's too), and writes RUN/rd.json. The tables printed are those of
``semready rd``; the JSON holds rd.json plus the run's settings and timings.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import write_result

from semready import api
from semready.config import build_config
from semready.data import load_data


def train_tiny(work: Path, stream_items: int, image_size: int, epochs: int, seed: int) -> Path:
    """A quick-preset teacher on the embedded sample's first ``stream_items`` items, split by its default policy."""
    x = load_data("sample").images[:stream_items]
    if image_size != x.shape[-1]:
        x = F.interpolate(x.float(), size=image_size, mode="area").round().to(torch.uint8)
    work.mkdir(parents=True, exist_ok=True)
    npz = work / "stream.npz"
    np.savez(npz, x=x.permute(0, 2, 3, 1).numpy())
    run = work / "run"
    cfg = build_config("quick", overrides={"data": {"spec": f"npz:{npz}"}, "train": {"epochs": epochs, "seed": seed}})
    api.train(run, cfg, progress=False)
    return run


def run_rd_benchmark(run: str | Path | None, targets: str, items: int, stream_items: int = 1000,
                     image_size: int = 16, epochs: int = 2, seed: int = 0, work: str | Path | None = None,
                     learned: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    trained = run is None
    if trained:
        run = train_tiny(Path(work or tempfile.mkdtemp(prefix="semready_rd_")), stream_items, image_size, epochs,
                         seed)
    t_sweep = time.perf_counter()
    result = api.rd_sweep(run, targets, max_items=items, learned=learned)
    return {"benchmark": "rd", "run": str(run), "trained_here": trained,
            "stream_items": stream_items if trained else None, "image_size": image_size if trained else None,
            "epochs": epochs if trained else None, "torch": torch.__version__, "rd": result,
            "train_seconds": t_sweep - t0 if trained else 0.0, "sweep_seconds": time.perf_counter() - t_sweep,
            "wall_seconds": time.perf_counter() - t0}


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(width=200)  # the tables are wide; a narrow terminal would cut every label
    for table in api.rd_tables(result["rd"]):
        console.print(table)
    console.print({"run": result["run"], "seconds per curve": {k: round(v, 1) for k, v in
                                                                result["rd"]["seconds"].items()},
                   "train_seconds": round(result["train_seconds"]), "wall_seconds": round(result["wall_seconds"])})


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", default=None, help="a trained run to sweep (default: train a tiny one)")
    ap.add_argument("--targets", default="26,30,34,38,42", help="PSNR targets in dB, comma-separated")
    ap.add_argument("--items", type=int, default=300, help="held-out items sent at every target")
    ap.add_argument("--stream-items", type=int, default=1000, help="sample items the tiny run trains on")
    ap.add_argument("--image-size", type=int, default=16, help="items' side in pixels (tiny run)")
    ap.add_argument("--epochs", type=int, default=2, help="teacher epochs (tiny run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="folder for the tiny run (default: a new temporary folder)")
    ap.add_argument("--learned", action="store_true", help="also the learned language's curves (2 codecs)")
    ap.add_argument("--out", default="benchmarks/results/rd.json")
    args = ap.parse_args()
    result = run_rd_benchmark(args.run, args.targets, args.items, args.stream_items, args.image_size, args.epochs,
                              args.seed, args.work, args.learned)
    print_table(result)
    write_result(result, args.out)
