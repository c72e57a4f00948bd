"""The library API behind the CLI: train a teacher, route new data through it, evaluate it.

>>> from semready.pipeline import train
>>> result = train("runs/demo")                        # embedded sample, quick preset
>>> from semready.pipeline import route
>>> route("runs/demo", "npz:new_items.npz", "routed.csv")
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semready import io
from semready.checkpoint import CHECKPOINT
from semready.complexity import heldout_complexity_per_item
from semready.config import SemreadyConfig, build_config, dump_config, load_config_file
from semready.data import ImageData, iter_batches, load_data
from semready.errors import SemreadyError
from semready.infer import TrainedRun, load_run
from semready.metrics import clustering_scores, kmeans_clusters
from semready.plots import plot_run
from semready.rank import (
    DEFAULT_FLOOR,
    SCORES,
    check_policy,
    learnability_scores,
    learnable_threshold,
    rank_and_split,
)
from semready.regen import REGEN_FILE
from semready.router import Router
from semready.train import Trainer

SAMPLE_COLUMNS = ["index", "cluster", "confidence", "learnability", "rank", "split"]
CLUSTER_COLUMNS = ["cluster", "size", "confidence", "rank", "split"]


def prepare_run_dir(out: Path, resume: bool, cfg: SemreadyConfig | None = None) -> None:
    """Refuse an --out that cannot hold this run; clear what a killed run left half-done."""
    if out.exists() and not out.is_dir():
        raise SemreadyError(f"--out {out} is a file: choose a directory path")
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise SemreadyError(f"--resume: {out} holds no checkpoint to resume from (no epoch finished): "
                                "drop --resume to start it again")
        io.remove_stale_temps(out)
        return
    if not out.is_dir():
        parent = next(p for p in out.absolute().parents if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise SemreadyError(f"cannot create --out {out}: {parent} is not a writable folder; choose a "
                                "location you can write to")
        return
    left = [p for p in out.iterdir() if not p.match(io.TEMP_GLOB)]
    # A run killed during its first checkpoint leaves only its config.yaml: the same run may start again.
    killed_early = (cfg is not None and [p.name for p in left] == ["config.yaml"]
                    and left[0].read_text(errors="replace") == dump_config(cfg))
    if left and not killed_early:
        raise SemreadyError(f"--out {out} already holds files: choose a new directory or pass --resume")
    io.remove_stale_temps(out)


def train(out: str | Path, cfg: SemreadyConfig | None = None, *, resume: bool = False,
          epochs: int | None = None, progress: bool = True, on_epoch=None) -> dict[str, Any]:
    """Train a teacher into ``out`` and write samples.csv / clusters.csv. Returns a summary dict.

    With ``resume`` the run's own config.yaml is used (``cfg`` is ignored); ``epochs`` may extend it.
    """
    out = Path(out)
    if not resume:
        cfg = cfg or build_config()
    prepare_run_dir(out, resume, cfg)
    if resume:
        cfg = load_config_file(out / "config.yaml")
    if epochs is not None:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
    data = load_data(cfg.data.spec, image_size=cfg.data.image_size, download=cfg.data.download)
    trainer = Trainer(cfg, data, out, progress=progress)  # validates data before anything is written
    log = trainer.fit(resume=resume, on_epoch=on_epoch)
    if not trainer.dist.main:  # under torchrun, rank 0 alone scores and writes the run
        return {"epochs": trainer.epoch, "seconds": trainer.seconds, "log": log, "rank": trainer.dist.rank}
    run = load_run(out, str(trainer.device))
    summary = write_assignments(run, data)
    trainer.save(finished=True)
    return {"epochs": trainer.epoch, "seconds": trainer.seconds, "log": log, **summary}


def write_csv(path: Path, columns: list[str], table: dict[str, np.ndarray]) -> None:
    with io.atomic_text(path) as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in zip(*(table[c] for c in columns), strict=True):
            writer.writerow([f"{v:.6f}" if isinstance(v, float | np.floating) else v for v in row])


def write_assignments(run: TrainedRun, data: ImageData) -> dict[str, Any]:
    a = run.assign_all(data.images)
    return write_split(run.run_dir, run.cfg, a.clusters, a.confidence, data, "confidence", DEFAULT_FLOOR)


def write_split(run_dir: Path, cfg: SemreadyConfig, clusters: np.ndarray, confidence: np.ndarray,
                data: ImageData, policy: str, value: float) -> dict[str, Any]:
    """Score, rank, apply the policy; write samples.csv, clusters.csv, split.json, the regen language, plots."""
    n_clusters = cfg.model.clusters
    learn, regen = learnability_scores(cfg.rank, clusters, confidence, n_clusters, data.images, cfg.train.seed)
    threshold = learnable_threshold(learn, policy, value, lambda mask: heldout_complexity_per_item(
        data.images[torch.from_numpy(mask)], clusters[mask], n_clusters, cfg.comm, cfg.train.seed))
    items, table = rank_and_split(clusters, confidence, learn, n_clusters, threshold)
    cols = list(SAMPLE_COLUMNS)
    if data.labels is not None:
        items["label"] = data.labels
        cols.append("label")
    write_csv(run_dir / "samples.csv", cols, items)
    write_csv(run_dir / "clusters.csv", CLUSTER_COLUMNS, table)
    if regen is not None:
        regen.save(run_dir / REGEN_FILE)
    plot_run(run_dir, items, table, threshold, data.images, data.classes)
    n_learnable = int((items["split"] == "learnable").sum())
    summary = {"score": cfg.rank.score, "policy": policy, "value": value, "threshold": threshold,
               "items": len(clusters), "learnable": n_learnable, "memorizable": len(clusters) - n_learnable}
    io.write_json(run_dir / "split.json", summary)
    return {**summary, "cluster_sizes": table["size"].tolist()}


def read_samples(run_dir: str | Path) -> dict[str, np.ndarray]:
    """A trained run's samples.csv as columns: ``cluster`` (int64), ``confidence`` (float64) and ``learnable``
    (bool, the split). A missing, corrupt or empty file is a one-line :class:`SemreadyError`."""
    path = Path(run_dir) / "samples.csv"
    if not path.is_file():
        raise SemreadyError(f"{run_dir} has no samples.csv: train it first (`semready train --out {run_dir}`)")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        samples = {"cluster": np.array([int(r["cluster"]) for r in rows], dtype=np.int64),
                   "confidence": np.array([float(r["confidence"]) for r in rows]),
                   "learnable": np.array([r["split"] == "learnable" for r in rows], dtype=bool)}
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, csv.Error):
        raise SemreadyError(f"{path} is corrupt: retrain the run") from None
    if not rows:
        raise SemreadyError(f"{path} is empty: retrain the run")
    return samples


def split(run_dir: str | Path, policy: str = "confidence", value: float = DEFAULT_FLOOR,
          score: str | None = None) -> dict[str, Any]:
    """Re-split a trained run by a policy (and optionally another learnability score); rewrites its outputs."""
    run_dir = Path(run_dir)
    path = run_dir / "samples.csv"
    if not path.is_file():
        raise SemreadyError(f"{run_dir} has no samples.csv: train it first (`semready train --out {run_dir}`)")
    if score is not None and score not in SCORES:
        raise SemreadyError(f"unknown learnability score {score!r}: choose one of {', '.join(SCORES)}")
    check_policy(policy, value)  # refuses an unknown policy or value before any work
    samples = read_samples(run_dir)
    clusters, confidence = samples["cluster"], samples["confidence"]
    cfg = load_config_file(run_dir / "config.yaml")
    if clusters.min() < 0 or clusters.max() >= cfg.model.clusters:
        raise SemreadyError(f"{path} names clusters outside 0..{cfg.model.clusters - 1}: retrain the run")
    rescored = score is not None and score != cfg.rank.score
    if rescored:
        cfg = cfg.model_copy(update={"rank": cfg.rank.model_copy(update={"score": score})})
    data = load_data(cfg.data.spec, image_size=cfg.data.image_size)  # pixels for regen, labels, item grids
    if len(data) != len(clusters):
        raise SemreadyError(f"{cfg.data.spec} now holds {len(data)} items but the run has {len(clusters)}: "
                            "restore the training data or retrain")
    result = write_split(run_dir, cfg, clusters, confidence, data, policy, value)
    if rescored:  # only once the new split is written, so a failed split leaves the run as it was
        io.write_text(run_dir / "config.yaml", dump_config(cfg))
    return result


def route(run_dir: str | Path, spec: str, out_csv: str | Path, *, batch_size: int = 512,
          image_size: int | None = None, download: bool = False) -> int:
    """Stream ``spec`` through a trained teacher in batches; write one row per item. Returns the item count.

    Memory is constant in the stream length: each batch is routed (:class:`~semready.router.Router`) and
    written before the next is read. There is no ``rank`` column: ranking needs the whole stream.
    """
    router = Router.from_run(run_dir)
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise SemreadyError(f"--out {out_csv} is a directory: give a .csv file path")
    size = image_size or router.run.image_shape[1]
    n = 0
    with io.atomic_text(out_csv) as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "cluster", "confidence", "learnability", "split"])
        for images, _ in iter_batches(spec, batch_size, image_size=size, download=download):
            r = router.route_batch(images)
            for j in range(len(r.clusters)):
                writer.writerow([n + j, int(r.clusters[j]), f"{r.confidence[j]:.6f}", f"{r.learnability[j]:.6f}",
                                 r.split[j]])
            n += len(r.clusters)
    if n == 0:
        raise SemreadyError(f"data {spec} is empty: nothing to route")
    return n


def evaluate(run_dir: str | Path, spec: str, *, image_size: int | None = None, download: bool = False,
             kmeans: bool = True) -> dict[str, Any]:
    """ACC / NMI / ARI of the cluster head (and of k-means on the teacher's features) against labels."""
    run = load_run(run_dir)
    data = load_data(spec, image_size=image_size or run.image_shape[1], download=download)
    if data.labels is None:
        raise SemreadyError(f"data {spec} has no labels: evaluate needs labelled data (npz with 'y', cifar, "
                            "folder)")
    a = run.assign_all(data.images, with_features=kmeans)
    result: dict[str, Any] = {"data": spec, "items": len(data), "cluster_head": clustering_scores(
        data.labels, a.clusters)}
    if kmeans:
        k = int(data.labels.max()) + 1
        result["kmeans_features"] = clustering_scores(data.labels, kmeans_clusters(a.features, k))
    io.write_json(Path(run_dir) / "metrics.json", result)
    return result
