"""Data loading benchmark: python benchmarks/data_loading.py [--items 20000] [--workers 0 2 4] [--out FILE.json].

Images per second through ``semready.data`` for:
- the embedded sample (``sample``: an npz in memory, nothing to decode), ``load_data`` and ``iter_batches``;
- a folder of ``--items`` 32×32 PNGs written from the sample (image k is sample image k mod 4000, its pixels rolled
  by k // 4000 so that no two files are alike), read as ``folder:`` and as a ``list:`` file, with 0 workers (the
  path before issue 16 item 3: every image decoded one after the other in the main process) and with each of
  ``--workers``, by ``iter_batches`` (batch 256, what ``semready route`` does) and by ``load_data``.
Each timing is one full pass, best of ``--repeat``; the first pass of a folder also warms the page cache.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import write_result
from PIL import Image

from semready.data import iter_batches, load_data


def write_pngs(folder: Path, items: int) -> float:
    """``items`` distinct 32×32 PNGs from the sample into ``folder``; returns the seconds it took."""
    t0 = time.perf_counter()
    x = load_data("sample").images.permute(0, 2, 3, 1).numpy()
    folder.mkdir(parents=True)
    for k in range(items):
        Image.fromarray(np.roll(x[k % len(x)], k // len(x), axis=1)).save(folder / f"{k:06d}.png")
    return time.perf_counter() - t0


def timed(fn, repeat: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return best, n


def stream(spec: str, workers: int | None) -> int:
    return sum(len(x) for x, _ in iter_batches(spec, 256, workers=workers))


def row(source: str, call: str, workers, seconds: float, n: int) -> dict:
    return {"source": source, "call": call, "workers": workers, "items": n, "seconds": round(seconds, 3),
            "images_per_s": round(n / seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/data_loading.json")
    args = ap.parse_args()
    rows = []
    for call, fn in (("load_data", lambda: len(load_data("sample"))), ("iter_batches", lambda: stream("sample", 0))):
        rows.append(row("sample (npz in memory)", call, "-", *timed(fn, args.repeat)))
    tmp = Path(tempfile.mkdtemp(prefix="semready-loading-"))
    try:
        folder = tmp / "pngs"
        written = write_pngs(folder, args.items)
        (tmp / "files.txt").write_text("".join(f"pngs/{f}\n" for f in sorted(os.listdir(folder))))
        stream(f"folder:{folder}", 0)  # warm the page cache
        for source, spec in ((f"folder of {args.items} PNGs", f"folder:{folder}"),
                             (f"list of {args.items} PNGs", f"list:{tmp / 'files.txt'}")):
            for workers in [0, *args.workers]:
                rows.append(row(source, "iter_batches", workers, *timed(
                    lambda s=spec, w=workers: stream(s, w), args.repeat)))
                if source.startswith("folder"):
                    rows.append(row(source, "load_data", workers, *timed(
                        lambda s=spec, w=workers: len(load_data(s, workers=w)), args.repeat)))
    finally:
        shutil.rmtree(tmp)
    print(f"{'source':<26} {'call':<13} {'workers':>7} {'items':>7} {'s':>8} {'images/s':>9}")
    for r in rows:
        print(f"{r['source']:<26} {r['call']:<13} {r['workers']!s:>7} {r['items']:>7} {r['seconds']:>8} "
              f"{r['images_per_s']:>9}")
    write_result({"benchmark": "data_loading", "items": args.items, "png_write_seconds": round(written, 1),
                  "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
