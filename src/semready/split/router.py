"""Route new items through a trained run, one batch at a time: cluster, confidence, learnability, split.

>>> router = Router.from_run("runs/demo")  # doctest: +SKIP
>>> routed = router.route_batch(images)    # doctest: +SKIP
>>> routed.split                           # doctest: +SKIP

The learnability score is the run's (``rank.score``: regen, with the regen model fitted on the training stream,
or paper, with the training clusters' confidences); the threshold is the run's current split (split.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semready.errors import SemreadyError
from semready.rundir import RunDir
from semready.split.policies import DEFAULT_FLOOR
from semready.split.regen import RegenerationModel
from semready.split.scores import paper_learnability
from semready.teacher.infer import TrainedRun, load_run


@dataclass
class RoutedBatch:
    """The routing of one batch of N items.

    Attributes:
        clusters: each item's deep cluster, int (N,).
        confidence: c_i = max_l P_il (eq. 3), float (N,).
        learnability: s_i in [0, 1], float (N,).
        split: ``"learnable"`` / ``"memorizable"`` per item, str (N,).
    """

    clusters: np.ndarray
    confidence: np.ndarray
    learnability: np.ndarray
    split: np.ndarray  # "learnable" / "memorizable"


@dataclass
class Router:
    """A trained run's teacher, split threshold and learnability score, applied to new batches.

    Attributes:
        run: the loaded teacher.
        threshold: learnable iff learnability ≥ threshold (split.json, else the default floor).
        cluster_confidence: C_l of the training clusters, float (M,) (the ``paper`` score; None for ``regen``).
        regen: the regen model fitted on the training stream, or None under the ``paper`` score.
    """

    run: TrainedRun
    threshold: float
    cluster_confidence: np.ndarray | None
    regen: RegenerationModel | None

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Router:
        """The router of a trained, split run.

        Args:
            run_dir: the run folder.
            device: see :func:`~semready.teacher.device.resolve_device`.

        Returns:
            The router.
        """
        run = load_run(run_dir, device)
        files = RunDir(run.run_dir)
        # the score the current split was made with (split.json; config.yaml for a run split before it said)
        score = (files.read_split() or {}).get("score", run.cfg.rank.score)
        regen, cluster_conf = None, None
        if score == "regen":
            if not files.regen.is_file():
                raise SemreadyError(f"{run.run_dir} has no {files.regen.name}: re-split it (`semready split "
                                    f"{run.run_dir}`) or use the paper score (`semready split --score paper`)")
            regen = RegenerationModel.load(files.regen)
        else:
            cluster_conf = files.read_cluster_confidence(run.teacher.clusters)
        return cls(run, files.split_threshold(DEFAULT_FLOOR), cluster_conf, regen)

    def route_batch(self, images: torch.Tensor) -> RoutedBatch:
        """Cluster, confidence, learnability and split of one batch.

        Args:
            images: uint8 N×C×H×W, of the run's image shape.

        Returns:
            :class:`RoutedBatch`.
        """
        a = self.run.assign_batch(images)
        if self.regen is not None:
            learn = 1.0 - self.regen.unexplained_images(images, a.clusters)
        else:
            learn = paper_learnability(a.confidence, self.cluster_confidence[a.clusters])
        split = np.where(learn >= self.threshold, "learnable", "memorizable")
        return RoutedBatch(a.clusters, a.confidence, learn, split)
