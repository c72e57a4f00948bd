"""Scaling benchmark: python benchmarks/scaling.py [--out FILE.json] [--steps 5].

How time and memory grow with the number of items N, the number of clusters M and the bank size K, three sizes
each, quick preset (small CNN, batch 256, 32×32 images) on the embedded sample:
- N: one training epoch (N/256 steps, clusters active) and the end-of-training assignment of all N items;
- M and K: the full training step (eq. 2-4, cluster-aware negatives), median of ``--steps`` steps. The bank
  is filled with random unit keys and the prototypes with random keys (priming 65,536 real keys, or k-means
  with 1,000 centroids, would dominate the run; a step costs the same either way).
Memory: ``extra_mib`` is the peak of live torch allocations during the measured call above what was live before
(torch.profiler's allocation log); ``rss_mib`` the process's peak RSS while it ran; a training epoch is too long
to profile, so it reports the RSS growth over the epoch (benchmarks.speed.peak_memory).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import write_result

from benchmarks.speed import peak_memory
from semready.config import build_config
from semready.data import load_data
from semready.teacher.infer import TrainedRun
from semready.teacher.train import Trainer, epoch_generator


def trainer_for(data, clusters: int = 10, bank: int = 4096) -> Trainer:
    cfg = build_config("quick", overrides={"model": {"clusters": clusters}, "bank": {"size": bank},
                                           "train": {"device": "cpu"}})
    t = Trainer(cfg, data, Path(tempfile.mkdtemp(prefix="semready-scaling-")), progress=False)
    g = torch.Generator().manual_seed(0)
    tm = t.teacher
    with torch.no_grad():
        tm.bank.enqueue(F.normalize(torch.randn(bank, cfg.model.embed_dim, generator=g), dim=1))
        tm.cluster_head.seed(tm.bank.keys[torch.randperm(bank, generator=g)[:clusters]])
    t.epoch = cfg.train.warmup_epochs  # clusters active
    return t


def step_cost(data, steps: int, **sizes) -> dict:
    t = trainer_for(data, **sizes)
    gen = epoch_generator(0, 0)
    views = [t.views(data.images[i * 256:(i + 1) * 256], gen) for i in range(2)]
    t.step_on_views(*views[0])  # warm-up
    times = []
    for s in range(steps):
        t0 = time.perf_counter()
        t.step_on_views(*views[s % 2])
        times.append(time.perf_counter() - t0)
    mem = peak_memory(lambda: t.step_on_views(*views[0]), t.device, calls=1)
    sec = statistics.median(times)
    return {**sizes, "step_seconds": sec, "images_per_s": 256 / sec, "extra_mib": mem["extra_mib"],
            "rss_mib": mem["peak_mib"]}


def items_cost(data, n: int) -> dict:
    sub = load_data("sample")
    sub.images, sub.labels = data.images[:n].clone(), None
    t = trainer_for(sub)
    t0 = time.perf_counter()
    mem = peak_memory(lambda: t.run_epoch(None), t.device, calls=1, log=False)  # RSS only: no profiler
    epoch = time.perf_counter() - t0
    run = TrainedRun(t.run_dir, t.cfg, t.teacher, t.device, tuple(sub.images.shape[1:]))
    t0 = time.perf_counter()
    run.assign_all(sub.images)
    assign = time.perf_counter() - t0
    assign_mem = peak_memory(lambda: run.assign_all(sub.images), t.device, calls=1)
    return {"items": n, "epoch_seconds": epoch, "steps": t.steps_per_epoch,
            "images_per_s": t.steps_per_epoch * t.batch_size / epoch, "epoch_rss_growth_mib": mem["extra_mib"],
            "assign_seconds": assign, "assign_extra_mib": assign_mem["extra_mib"],
            "data_mib": sub.images.numel() / 2**20, "rss_mib": max(mem["peak_mib"], assign_mem["peak_mib"])}


def print_tables(result: dict) -> None:
    print(f"items N (one epoch + assigning all N; {result['threads']} threads)")
    print("| N | epoch s | train img/s | epoch RSS growth MiB | assign s | assign extra MiB | data MiB "
          "| peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in result["items"]:
        print(f"| {r['items']:,} | {r['epoch_seconds']:.1f} | {r['images_per_s']:.0f} "
              f"| {r['epoch_rss_growth_mib']:.0f} | {r['assign_seconds']:.2f} | {r['assign_extra_mib']:.0f} "
              f"| {r['data_mib']:.1f} | {r['rss_mib']:.0f} |")
    for key, name in (("clusters", "clusters M (K 4,096)"), ("bank", "bank K (M 10)")):
        print(f"\n{name}: one full training step, batch 256")
        print(f"| {key} | step ms | img/s | step extra MiB | peak RSS MiB |")
        print("|---|---|---|---|---|")
        for r in result[key]:
            print(f"| {r[key]:,} | {1000 * r['step_seconds']:.0f} | {r['images_per_s']:.0f} | {r['extra_mib']:.0f} "
                  f"| {r['rss_mib']:.0f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--items", type=int, nargs=3, default=[1000, 2000, 4000])
    ap.add_argument("--clusters", type=int, nargs=3, default=[10, 100, 1000])
    ap.add_argument("--bank", type=int, nargs=3, default=[4096, 16384, 65536])
    ap.add_argument("--out", default="benchmarks/results/scaling.json")
    args = ap.parse_args()
    data = load_data("sample")
    t0 = time.perf_counter()
    result = {"benchmark": "scaling", "preset": "quick", "batch_size": 256, "threads": torch.get_num_threads(),
              "torch": torch.__version__,
              "items": [items_cost(data, n) for n in args.items],
              "clusters": [step_cost(data, args.steps, clusters=m) for m in args.clusters],
              "bank": [step_cost(data, args.steps, bank=k) for k in args.bank]}
    result["wall_seconds"] = time.perf_counter() - t0
    print_tables(result)
    write_result(result, args.out)
