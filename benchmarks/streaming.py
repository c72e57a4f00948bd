"""Training from disk benchmark: python benchmarks/streaming.py [--items 50000] [--workers 1 2] [--epochs 1].

The teacher's training throughput with the stream in memory (``data.stream: false``, the path before issue 16
item 3: every image decoded once into one tensor, then indexed) against the stream left on disk
(``data.stream: true``: each batch decoded when the step needs it, by ``--workers`` DataLoader processes), on
- the embedded sample written as a folder of 4,000 PNGs, and
- a folder of ``--items`` distinct 32×32 PNGs (image k is sample image k mod 4000, its pixels rolled by k // 4000).
Every mode runs in a fresh process (the quick preset, ``--epochs`` epochs, no split) so its peak memory is its
own: ``load s`` is the time to the first step (the in-memory path decodes everything first), ``images/s`` the
training steps' throughput (best epoch), ``peak RSS`` the main process's maximum resident memory (the workers are
processes of their own), ``X in memory`` the size of the decoded stream the in-memory path holds.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import write_result
from data_loading import write_pngs


def child(spec: str, stream: bool, workers: int, epochs: int, out: str) -> None:
    """One mode, in this (fresh) process: load, train ``epochs`` epochs, print a JSON row."""
    from semready.config import build_config
    from semready.data import load_data
    from semready.teacher.train import Trainer

    cfg = build_config("quick", overrides={"data": {"spec": spec, "stream": stream, "workers": workers},
                                           "train": {"epochs": epochs, "warmup_epochs": epochs}})
    t0 = time.perf_counter()
    data = load_data(spec, workers=workers, stream=stream)
    loaded = time.perf_counter() - t0
    log = Trainer(cfg, data, Path(out), progress=False).fit()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": len(data), "load_seconds": round(loaded, 1),
                      "images_per_s": round(max(r["images_per_s"] for r in log)),
                      "epoch_seconds": round(min(r["seconds"] for r in log), 1), "peak_rss_mib": round(rss),
                      "stream_tensor_mib": round(len(data) * data.images[0].numel() / 2**20)}))


def run_mode(spec: str, stream: bool, workers: int, epochs: int, tmp: Path) -> dict:
    out = tmp / f"run-{int(time.time() * 1e6)}"
    cmd = [sys.executable, __file__, "--child", spec, str(int(stream)), str(workers), str(epochs), str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        spec, stream, workers, epochs, out = sys.argv[2:7]
        child(spec, stream == "1", int(workers), int(epochs), out)
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=50000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/streaming.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="semready-streaming-"))
    rows, written = [], {}
    try:
        for name, items in (("sample as 4,000 PNGs", 4000), (f"folder of {args.items:,} PNGs", args.items)):
            folder = tmp / f"pngs{items}"
            written[name] = round(write_pngs(folder, items), 1)
            spec = f"folder:{folder}"
            for stream, workers in ((False, 0), *((True, w) for w in args.workers)):
                r = run_mode(spec, stream, workers, args.epochs, tmp)
                rows.append({"source": name, "path": "disk (stream)" if stream else "memory", "workers": workers, **r})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(tmp)
    print(f"{'source':<24} {'path':<14} {'workers':>7} {'load s':>7} {'images/s':>9} {'peak RSS MiB':>13} "
          f"{'X in memory MiB':>16}")
    for r in rows:
        print(f"{r['source']:<24} {r['path']:<14} {r['workers']:>7} {r['load_seconds']:>7} {r['images_per_s']:>9} "
              f"{r['peak_rss_mib']:>13} {r['stream_tensor_mib'] if r['path'] == 'memory' else 0:>16}")
    write_result({"benchmark": "streaming", "items": args.items, "epochs": args.epochs, "png_write_seconds": written,
                  "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
