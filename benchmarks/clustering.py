"""Clustering benchmark: python benchmarks/clustering.py [--minutes 9] [--out results.json].

Prints one table (k-means on raw pixels, untrained network + k-means, instance-only ablation, full method)
and writes the JSON.

Clustering benchmark (issue: core): floors, the instance-only ablation and the full method, one run.

Protocol: teachers train on ``cifar10_train10k.npz`` (quick preset, equal wall-clock budget each); every
method is scored on ``cifar10_test.npz`` (10,000 images, never seen in training). "k-means" rows fit k-means
(k = 10, 10 restarts) on the test set's L2-normalised features (transductive, as in the clustering
literature); the "cluster head" row applies the trained head φ to the test set (inductive).
"""


from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import parse_args, write_result

from semready.config import SemreadyConfig, build_config
from semready.data import load_data
from semready.errors import SemreadyError
from semready.teacher.infer import TrainedRun
from semready.teacher.metrics import clustering_scores, kmeans_clusters
from semready.teacher.model import Teacher
from semready.teacher.train import Trainer
from semready.teacher.views import two_views


def instance_only(cfg: SemreadyConfig) -> SemreadyConfig:
    """The ablation: L_I with plain negatives; no L_D, no cluster-aware negatives, no anti-collapse."""
    return cfg.model_copy(update={
        "loss": cfg.loss.model_copy(update={"cluster_loss": False, "anti_collapse": False}),
        "bank": cfg.bank.model_copy(update={"cluster_aware_negatives": False}),
    })


def _train(cfg: SemreadyConfig, train_data, run_dir: Path, progress: bool) -> tuple[TrainedRun, dict]:
    trainer = Trainer(cfg, train_data, run_dir, progress=progress)
    log = trainer.fit()
    run = TrainedRun(run_dir, cfg, trainer.teacher.eval(), trainer.device, tuple(train_data.images.shape[1:]))
    speed = float(np.median([r["images_per_s"] for r in log]))
    return run, {"epochs": trainer.epoch, "train_seconds": trainer.seconds, "images_per_s": speed,
                 "final_marginal_entropy": log[-1]["marginal_entropy"], "final_cluster_sizes":
                 log[-1]["cluster_sizes"]}


def views_throughput(images: torch.Tensor, cfg: SemreadyConfig, batch: int = 256, batches: int = 20) -> float:
    """Images per second of the view pipeline alone (two perturbations per image, as in a training step)."""
    gen = torch.Generator().manual_seed(0)
    n = min(len(images), batch * batches)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        two_views(images[start:start + batch], cfg.views, gen)
    return n / (time.perf_counter() - t0)


def run_clustering_benchmark(data_dir: str | Path, minutes: float = 8.0, work_dir: str | Path | None = None,
                             seed: int = 0, progress: bool = True, train_limit: int | None = None,
                             test_limit: int | None = None) -> dict[str, Any]:
    data_dir = Path(data_dir)
    train_path, test_path = data_dir / "cifar10_train10k.npz", data_dir / "cifar10_test.npz"
    for p in (train_path, test_path):
        if not p.is_file():
            raise SemreadyError(f"benchmark data {p} not found: pass --data-dir pointing at shared/data")
    train_data = load_data(f"npz:{train_path}")
    test = load_data(f"npz:{test_path}")
    for data, limit in ((train_data, train_limit), (test, test_limit)):
        if limit:  # an evenly spaced subset (the test file is class-major), for smoke tests
            keep = np.linspace(0, len(data) - 1, limit).astype(np.int64)
            data.images, data.labels = data.images[keep], data.labels[keep]
    k = int(test.labels.max()) + 1
    base = build_config("quick", overrides={"train": {"seed": seed, "max_minutes": minutes, "epochs": 10_000,
                                                      "threads": torch.get_num_threads()},
                                            "model": {"clusters": k}})
    work = Path(work_dir) if work_dir else Path("benchmarks/results/clustering_runs")
    rows: list[dict[str, Any]] = []

    def add(method: str, clusters: np.ndarray, extra: dict | None = None) -> None:
        rows.append({"method": method, **clustering_scores(test.labels, clusters), **(extra or {})})

    t0 = time.perf_counter()
    pixels = test.images.reshape(len(test), -1).float().numpy() / 255.0
    add("k-means on raw pixels", kmeans_clusters(pixels, k, seed))

    torch.manual_seed(seed)
    untrained = TrainedRun(work, base, Teacher.from_config(base).eval(), torch.device("cpu"),
                           tuple(test.images.shape[1:]))
    add("untrained network + k-means", kmeans_clusters(untrained.assign_all(test.images, with_features=True)
                                                       .features, k, seed))
    for name, cfg in (("instance-only (L_I, plain negatives) + k-means", instance_only(base)),
                      ("full method", base)):
        run, info = _train(cfg, train_data, work / name.split(" ")[0], progress)
        a = run.assign_all(test.images, with_features=True)
        if name == "full method":
            add("full method: cluster head", a.clusters, info)
            add("full method: k-means on its features", kmeans_clusters(a.features, k, seed), info)
        else:
            add(name, kmeans_clusters(a.features, k, seed), info)
    return {
        "views_images_per_s": views_throughput(train_data.images, base),
        "benchmark": "clustering", "train": str(train_path), "test": str(test_path),
        "train_items": len(train_data), "test_items": len(test), "budget_minutes_per_method": minutes,
        "seed": seed, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.platform(), "wall_seconds": time.perf_counter() - t0, "rows": rows,
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Clustering on {result['test_items']} CIFAR-10 test images "
                        f"(train {result['train_items']}, {result['budget_minutes_per_method']} min/method)")
    for col in ("method", "ACC", "NMI", "ARI", "epochs", "train img/s"):
        table.add_column(col)
    for r in result["rows"]:
        table.add_row(r["method"], f"{r['acc']:.3f}", f"{r['nmi']:.3f}", f"{r['ari']:.3f}",
                      str(r.get("epochs", "")), f"{r['images_per_s']:.0f}" if "images_per_s" in r else "")
    Console().print(table)
    step = max(r.get("images_per_s", 0) for r in result["rows"])
    Console().print(f"view pipeline alone: {result['views_images_per_s']:.0f} images/s "
                    f"({result['views_images_per_s'] / step:.1f}x the training step); "
                    f"wall time {result['wall_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    args = parse_args(__doc__, 9.0, "benchmarks/results/clustering.json", "training budget per method")
    result = run_clustering_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
