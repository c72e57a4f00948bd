"""A run's way through the stages: train the teacher, split its stream, route new data, evaluate it.

Each function reads and writes one run folder (:class:`~semready.rundir.RunDir`); :mod:`semready.api` is the
facade that exports them with the communication system, the reproduction and the report.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semready import io
from semready.comm.complexity import heldout_complexity_per_item
from semready.config import SemreadyConfig, build_config, load_config_file
from semready.data import (
    ImageData,
    check_data_identity,
    data_identity,
    iter_batches,
    load_data,
    load_run_data,
    ordered_batches,
)
from semready.errors import SemreadyError
from semready.progress import task
from semready.report.plots import plot_run
from semready.rundir import ROUTE_COLUMNS, RunDir
from semready.split.policies import (
    CLUSTER_POLICIES,
    DEFAULT_FLOOR,
    DEFAULT_POLICY,
    check_policy,
    learnable_clusters,
    learnable_threshold,
)
from semready.split.ranking import cluster_confidence, rank_and_split
from semready.split.router import Router
from semready.split.scores import SCORES, learnability_scores
from semready.teacher.infer import Assignment, TrainedRun, load_run
from semready.teacher.metrics import clustering_scores, kmeans_clusters
from semready.teacher.train import Trainer


def train(out: str | Path, cfg: SemreadyConfig | None = None, *, resume: bool = False,
          epochs: int | None = None, progress: bool = True, on_epoch=None) -> dict[str, Any]:
    """Train a teacher into ``out``, then split its stream with the default confidence floor.

    Args:
        out: the run folder (new, or the run to resume).
        cfg: the config (default: the ``quick`` preset); ignored with ``resume``, which uses the run's config.yaml.
        resume: continue from the run's last checkpoint.
        epochs: overrides ``train.epochs`` (e.g. to extend a resumed run).
        progress: show progress bars.
        on_epoch: called with each epoch's log row.

    Returns:
        ``epochs``, ``seconds``, ``log`` and the split's summary (:func:`write_split`); under torchrun, ranks
        other than 0 return ``epochs``, ``seconds``, ``log`` and their ``rank`` only.

    >>> summary = train("runs/demo", build_config("quick"))  # doctest: +SKIP
    """
    out = Path(out)
    run_dir = RunDir(out)
    if not resume:
        cfg = cfg or build_config()
    if epochs is not None and not resume:  # before prepare(): a run killed early compares its config.yaml
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
    if not resume:  # the absolute data path, its size and hash: split etc. work from anywhere, refuse changed data
        cfg = cfg.model_copy(update={"data": data_identity(cfg.data)})
    run_dir.prepare(resume, cfg)
    if resume:
        cfg = load_config_file(run_dir.config)
        check_data_identity(cfg.data, out)
        if epochs is not None:
            cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
    data = load_data(cfg.data.spec, image_size=cfg.data.image_size, download=cfg.data.download,
                     workers=cfg.data.workers, stream=cfg.data.stream)
    trainer = Trainer(cfg, data, out, progress=progress)  # validates data before anything is written
    log = trainer.fit(resume=resume, on_epoch=on_epoch)
    if not trainer.dist.main:  # under torchrun, rank 0 alone scores and writes the run
        return {"epochs": trainer.epoch, "seconds": trainer.seconds, "log": log, "rank": trainer.dist.rank}
    run = load_run(out, str(trainer.device))
    summary = write_assignments(run, data)
    trainer.save(finished=True)
    return {"epochs": trainer.epoch, "seconds": trainer.seconds, "log": log, **summary}


def write_assignments(run: TrainedRun, data: ImageData) -> dict[str, Any]:
    """Assign every item of ``data`` and write the split with the ``confidence`` policy at the default floor.

    Args:
        run: the trained teacher.
        data: the training stream (uint8 N×C×H×W, labels optional).

    Returns:
        :func:`write_split`'s summary.
    """
    a = run.assign_all(data.images)
    return write_split(run.run_dir, run.cfg, a.clusters, a.confidence, data, DEFAULT_POLICY, DEFAULT_FLOOR,
                       a.embeddings, allow_empty=True)


def write_split(run_dir: Path, cfg: SemreadyConfig, clusters: np.ndarray, confidence: np.ndarray,
                data: ImageData, policy: str, value: float, embeddings: np.ndarray | None = None,
                on_stage=None, allow_empty: bool = False) -> dict[str, Any]:
    """Score, rank, apply the policy; write samples.csv, clusters.csv, split.json, the regen model, plots.

    Ranking follows Sec. III-B (docs/protocol.md §2).

    Args:
        run_dir: the run folder.
        cfg: the run's config (its ``rank`` section picks the learnability score).
        clusters: each item's cluster, int (N,).
        confidence: each item's c_i = P_{i,l(i)}, float (N,).
        data: the stream, N items.
        policy: one of :data:`~semready.split.policies.POLICIES`.
        value: the policy's value.
        embeddings: the teacher's embeddings z_i, float N×d (the ``teacher`` score needs them).
        on_stage: called with the name of each stage as it starts (``scoring``, ``ranking``, ``plotting``).
        allow_empty: accept a confidence floor no item meets (the split written after training).

    Returns:
        split.json's content (score, policy, value, threshold — None under a cluster-level policy, whose
        ``learnable_clusters`` it lists instead — item counts) plus ``cluster_sizes`` (M,).
    """
    stage = on_stage or (lambda name: None)
    n_clusters = cfg.model.clusters
    stage("scoring")
    learn, model = learnability_scores(cfg.rank, clusters, confidence, n_clusters, data.images, cfg.train.seed,
                                       embeddings)
    stage("ranking")
    rule: dict[str, Any]
    if policy in CLUSTER_POLICIES:  # the paper's rule: whole clusters, least confident C_l first
        keep = learnable_clusters(cluster_confidence(clusters, confidence, n_clusters),
                                  np.bincount(clusters, minlength=n_clusters), policy, value)
        learnable, threshold = keep[clusters], None
        rule = {"learnable_clusters": np.flatnonzero(keep).tolist()}
    else:
        threshold = learnable_threshold(learn, policy, value, lambda mask: heldout_complexity_per_item(
            data.images[torch.from_numpy(mask)], clusters[mask], n_clusters, cfg.comm, cfg.train.seed),
            allow_empty)
        learnable, rule = learn >= threshold, {}
    items, table = rank_and_split(clusters, confidence, learn, n_clusters, learnable)
    if data.ids is not None:
        items["id"], items["path"] = data.ids, data.paths
    if data.labels is not None:
        items["label"] = data.labels
    files = RunDir(run_dir)
    files.write_samples(items)
    files.write_clusters(table)
    if model.regen is not None:
        model.regen.save(files.regen)
    if model.typicality is not None:
        model.typicality.save(files.typicality)
    if model.gate_knee is not None:
        rule["gate_knee"] = model.gate_knee
    n_learnable = int((items["split"] == "learnable").sum())
    summary = {"score": cfg.rank.score, "policy": policy, "value": value, "threshold": threshold,
               "items": len(clusters), "learnable": n_learnable, "memorizable": len(clusters) - n_learnable}
    # C_l at full precision (clusters.csv rounds to 6 decimals): routing recomputes the paper score from it.
    # Written before the plots, so a failed plot cannot leave the new tables beside the old threshold.
    files.write_split({**summary, **rule, "cluster_confidence": table["confidence"].tolist()})
    stage("plotting")
    plot_run(files, items, table, float("nan") if threshold is None else threshold, data.images, data.classes)
    return {**summary, **rule, "cluster_sizes": table["size"].tolist()}


def split(run_dir: str | Path, policy: str = DEFAULT_POLICY, value: float = DEFAULT_FLOOR,
          score: str | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Re-split a trained run by a policy (and optionally another learnability score); rewrites its outputs.

    Args:
        run_dir: the run folder.
        policy: one of :data:`~semready.split.policies.POLICIES`.
        value: the policy's value (floor, memorizable fraction, or nats per item).
        score: one of :data:`~semready.split.scores.SCORES`; None keeps the run's. A new score is saved to
            config.yaml.
        progress: show a progress bar over the stages.

    Returns:
        :func:`write_split`'s summary, and ``archived``: the ``splits/<n>`` folder keeping the previous split.

    >>> split("runs/demo", "budget", 0.2)  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    files = RunDir(run_dir)
    if not files.samples.is_file():
        raise SemreadyError(f"{run_dir} has no samples.csv: train it first (`semready train --out {run_dir}`)")
    if score is not None and score not in SCORES:
        raise SemreadyError(f"unknown learnability score {score!r}: choose one of {', '.join(SCORES)}")
    check_policy(policy, value)  # refuses an unknown policy or value before any work
    samples = files.read_samples()
    clusters, confidence = samples["cluster"], samples["confidence"]
    cfg = files.read_config()
    if clusters.min() < 0 or clusters.max() >= cfg.model.clusters:
        raise SemreadyError(f"{files.samples} names clusters outside 0..{cfg.model.clusters - 1}: retrain the run")
    rescored = score is not None and score != cfg.rank.score
    if rescored:
        cfg = cfg.model_copy(update={"rank": cfg.rank.model_copy(update={"score": score})})
    stages = ("loading the run's data", "scoring", "ranking", "plotting")
    with task(stages[0], len(stages), progress) as bar:
        check_data_identity(cfg.data, run_dir)
        # pixels for regen, labels, grids
        data = load_run_data(cfg.data.spec, cfg.data.image_size, len(clusters), cfg.data.stream, cfg.data.workers)
        embeddings = None
        if cfg.rank.score == "teacher":  # the teacher's embeddings of the stream: read again through the teacher
            embeddings = load_run(run_dir).assign_all(data.images).embeddings

        def on_stage(name: str) -> None:
            bar.advance()
            bar.describe(name)

        had_splits = files.splits.exists()
        archived = files.archive_split()  # the previous split, kept before it is overwritten
        try:
            result = write_split(run_dir, cfg, clusters, confidence, data, policy, value, embeddings, on_stage)
        except BaseException:
            _restore_split(files, archived, had_splits)
            raise
        bar.advance()
    if rescored:  # only once the new split is written, so a failed split leaves the run as it was
        files.write_config(cfg)
    return {**result, "archived": None if archived is None else str(archived)}


def _restore_split(files: RunDir, archived: Path | None, had_splits: bool) -> None:
    """Put a failed re-split's run back as it was: the archived files restored, the archive dropped."""
    if archived is None:
        return
    for f in files.split_files():
        kept = archived / f.name
        if not kept.is_file():
            f.unlink(missing_ok=True)
        elif not f.is_file() or f.read_bytes() != kept.read_bytes():
            io.write_with(f, lambda tmp, kept=kept: shutil.copy2(kept, tmp))
    shutil.rmtree(archived, ignore_errors=True)
    if not had_splits:
        shutil.rmtree(files.splits, ignore_errors=True)


def route(run_dir: str | Path, spec: str, out_csv: str | Path, *, batch_size: int = 512,
          image_size: int | None = None, download: bool = False, progress: bool = False) -> int:
    """Stream ``spec`` through a trained teacher in batches; write one row per item. Returns the item count.

    Memory is constant in the stream length: each batch is routed (:class:`~semready.split.router.Router`) and
    written before the next is read. There is no ``rank`` column: ranking needs the whole stream.

    Args:
        run_dir: the trained, split run.
        spec: the data to route (see :func:`~semready.data.load_data`).
        out_csv: the CSV file written (``index, id, path, cluster, confidence, learnability, split``; id and path
            as in docs/data.md, "Item identity").
        batch_size: items per batch.
        image_size: resize items to this side (default: the run's).
        download: allow downloading a named dataset.
        progress: show a progress bar with ETA.

    Returns:
        The number of items routed.

    >>> route("runs/demo", "new.npz", "routed.csv")  # doctest: +SKIP
    """
    router = Router.from_run(run_dir)
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise SemreadyError(f"--out {out_csv} is a directory: give a .csv file path")
    size = image_size or router.run.image_shape[1]
    n = 0
    batches = iter_batches(spec, batch_size, image_size=size, download=download, with_ids=True)
    with io.atomic_text(out_csv) as fh, task("routing", batches.n, progress) as bar:
        writer = csv.writer(fh)
        writer.writerow(ROUTE_COLUMNS)
        for images, _, ids, paths in batches:
            r = router.route_batch(images)
            for j in range(len(r.clusters)):
                writer.writerow([n + j, ids[j], paths[j], int(r.clusters[j]), f"{r.confidence[j]:.6f}",
                                 f"{r.learnability[j]:.6f}", r.split[j]])
            n += len(r.clusters)
            bar.advance(len(r.clusters))
        if n == 0:  # inside the atomic write: an empty stream leaves no file behind
            raise SemreadyError(f"data {spec} is empty: nothing to route")
    return n


def evaluate(run_dir: str | Path, spec: str | None = None, *, image_size: int | None = None,
             download: bool = False, kmeans: bool = True, progress: bool = False,
             batch_size: int = 512) -> dict[str, Any]:
    """ACC / NMI / ARI of the cluster head (and of k-means on the teacher's features) against labels.

    Measures as in docs/protocol.md §8; the result is also written to the run's metrics.json.

    Args:
        run_dir: the trained run.
        spec: labelled data (see :func:`~semready.data.load_data`); None: the run's own data (config.yaml), refused
            if it changed since the training.
        image_size: resize items to this side (default: the run's).
        download: allow downloading a named dataset.
        kmeans: also score k-means (k = the number of classes) on the backbone features.
        progress: show a progress bar with ETA.
        batch_size: items per forward pass.

    Returns:
        ``data``, ``items``, ``labelled_items``, ``cluster_head`` (``{"acc", "nmi", "ari"}``) and, with ``kmeans``,
        ``kmeans_features``; scored on the labelled items only (a label of -1 means unlabelled).
    """
    run = load_run(run_dir)
    own = spec is None
    if own:
        check_data_identity(run.cfg.data, run_dir)
        spec = run.cfg.data.spec
    data = load_data(spec, image_size=image_size or run.image_shape[1], download=download,
                     stream=own and run.cfg.data.stream, workers=run.cfg.data.workers if own else None)
    known = None if data.labels is None else data.labels >= 0  # -1: unlabelled (scikit-learn's convention)
    if known is None or not known.any():
        raise SemreadyError(f"data {spec} has no labels: evaluate needs labelled data (npz with 'y', cifar, "
                            "folder)")
    parts = []
    with task("evaluating", len(data), progress) as bar:
        for a in run.assign_stream(ordered_batches(data.images, torch.arange(len(data)), batch_size),
                                   with_features=kmeans):
            parts.append(a)
            bar.advance(len(a.clusters))
    a = Assignment.concat(parts)
    labels = data.labels[known]
    result: dict[str, Any] = {"data": spec, "items": len(data), "labelled_items": int(known.sum()),
                              "cluster_head": clustering_scores(labels, a.clusters[known])}
    if kmeans:
        k = int(labels.max()) + 1
        result["kmeans_features"] = clustering_scores(labels, kmeans_clusters(a.features, k)[known])
    RunDir(run_dir).write_metrics(result)
    return result


__all__ = ["evaluate", "route", "split", "train", "write_assignments", "write_split"]
