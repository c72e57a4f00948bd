"""Route new items through a trained run, one batch at a time: cluster, confidence, learnability, split.

>>> router = Router.from_run("runs/demo")
>>> routed = router.route_batch(images)   # uint8 N×3×H×W
>>> routed.split                          # "learnable" / "memorizable" per item

The learnability score is the run's (``rank.score``: regen, with the language fitted on the training stream,
or paper, with the training clusters' confidences); the threshold is the run's current split (split.json).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semready import io
from semready.errors import SemreadyError
from semready.infer import TrainedRun, load_run
from semready.rank import DEFAULT_FLOOR, paper_learnability
from semready.regen import REGEN_FILE, RegenerationModel


@dataclass
class RoutedBatch:
    clusters: np.ndarray
    confidence: np.ndarray
    learnability: np.ndarray
    split: np.ndarray  # "learnable" / "memorizable"


@dataclass
class Router:
    run: TrainedRun
    threshold: float
    cluster_confidence: np.ndarray
    regen: RegenerationModel | None

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Router:
        run = load_run(run_dir, device)
        regen = None
        if run.cfg.rank.score == "regen":
            if not (run.run_dir / REGEN_FILE).is_file():
                raise SemreadyError(f"{run.run_dir} has no {REGEN_FILE}: re-split it (`semready split "
                                    f"{run.run_dir}`) or use the paper score (`semready split --score paper`)")
            regen = RegenerationModel.load(run.run_dir / REGEN_FILE)
        return cls(run, _split_threshold(run.run_dir), _training_cluster_confidence(run), regen)

    def route_batch(self, images: torch.Tensor) -> RoutedBatch:
        a = self.run.assign_batch(images)
        if self.regen is not None:
            learn = 1.0 - self.regen.unexplained_images(images, a.clusters)
        else:
            learn = paper_learnability(a.confidence, self.cluster_confidence[a.clusters])
        split = np.where(learn >= self.threshold, "learnable", "memorizable")
        return RoutedBatch(a.clusters, a.confidence, learn, split)


def _split_threshold(run_dir: Path) -> float:
    path = run_dir / "split.json"
    if not path.is_file():
        return DEFAULT_FLOOR
    split = io.read_json(path, f"re-split the run (`semready split {run_dir}`)")
    threshold = split.get("threshold") if isinstance(split, dict) else None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise SemreadyError(f"{path} has no numeric threshold: re-split the run (`semready split {run_dir}`)")
    return float(threshold)


def _training_cluster_confidence(run: TrainedRun) -> np.ndarray:
    path = run.run_dir / "clusters.csv"
    if not path.is_file():
        raise SemreadyError(f"{run.run_dir} has no clusters.csv: its training did not finish; resume it")
    conf = np.zeros(run.teacher.clusters)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                conf[int(row["cluster"])] = float(row["confidence"])
    except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError, csv.Error):
        raise SemreadyError(f"{path} is corrupt: re-split the run (`semready split {run.run_dir}`)") from None
    return conf
