"""Route new items through a trained run, one batch at a time: cluster, confidence, learnability, split.

>>> router = Router.from_run("runs/demo")  # doctest: +SKIP
>>> routed = router.route_batch(images)    # doctest: +SKIP
>>> routed.split                           # doctest: +SKIP

The learnability score is the one the run's current split was made with (split.json), computed with what the
training stream left behind: the regen model, the stream's embeddings (the typicality reference), the training
clusters' confidences C_l (paper) and the knee κ (teacher); the rule is the current split's (a learnability
threshold, or the learnable clusters of a cluster-level policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError
from semready.rundir import RunDir
from semready.split.policies import DEFAULT_FLOOR
from semready.split.regen import RegenerationModel
from semready.split.scores import paper_learnability, teacher_learnability
from semready.split.typicality import TypicalityModel
from semready.teacher.infer import TrainedRun, load_run


@dataclass
class RoutedBatch:
    """The routing of one batch of N items.

    Attributes:
        clusters: each item's deep cluster, int (N,).
        confidence: c_i = P_{i,l(i)} (eq. 3, the item's own cluster), float (N,).
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
        threshold: learnable iff learnability ≥ threshold (split.json, else the default floor); None under a
            cluster-level policy.
        cluster_confidence: C_l of the training clusters, float (M,) (``paper``; else None).
        regen: the regen model fitted on the training stream (``regen``, ``teacher``; else None).
        learnable_clusters: the learnable clusters of a cluster-level policy, bool (M,), else None.
        typicality: the training stream's embeddings (``teacher``; else None).
        gate_knee: κ of the description-length test (``teacher``; else None).
    """

    run: TrainedRun
    threshold: float | None
    cluster_confidence: np.ndarray | None
    regen: RegenerationModel | None
    learnable_clusters: np.ndarray | None = None  # bool (M,), the split of a cluster-level policy
    typicality: TypicalityModel | None = None  # the teacher score's k-NN reference
    gate_knee: float | None = None  # the teacher score's κ (description-length test)

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
        split = files.read_split() or {}
        score = split.get("score", run.cfg.rank.score)
        regen, cluster_conf, typicality, knee = None, None, None, None
        if score in ("regen", "teacher"):
            regen = RegenerationModel.load(_needed(files.regen, run.run_dir))
        if score == "paper":
            cluster_conf = files.read_cluster_confidence(run.teacher.clusters)
        if score == "teacher":
            typicality = TypicalityModel.load(_needed(files.typicality, run.run_dir))
            knee = split.get("gate_knee")
            if isinstance(knee, bool) or not isinstance(knee, int | float) or not knee > 0:
                raise SemreadyError(f"{files.split} has no gate_knee for the teacher score: re-split the run "
                                    f"(`semready split {run.run_dir}`)")
        threshold, keep = files.split_rule(DEFAULT_FLOOR, run.teacher.clusters)
        return cls(run, threshold, cluster_conf, regen, keep, typicality, knee)

    def route_batch(self, images: torch.Tensor) -> RoutedBatch:
        """Cluster, confidence, learnability and split of one batch.

        Args:
            images: uint8 N×C×H×W, of the run's image shape.

        Returns:
            :class:`RoutedBatch`.
        """
        a = self.run.assign_batch(images)
        if self.typicality is not None:
            x = pixel_vectors(images, self.regen.resolution)
            regenerated = 1.0 - self.regen.unexplained(x, self.regen.nearest_element(x))
            learn = teacher_learnability(self.typicality.score(a.embeddings), regenerated, self.gate_knee)
        elif self.regen is not None:
            learn = 1.0 - self.regen.unexplained_images(images, a.clusters)
        else:
            learn = paper_learnability(a.confidence, self.cluster_confidence[a.clusters])
        learnable = self.learnable_clusters[a.clusters] if self.learnable_clusters is not None \
            else learn >= self.threshold
        split = np.where(learnable, "learnable", "memorizable")
        return RoutedBatch(a.clusters, a.confidence, learn, split)


def _needed(path: Path, run_dir: Path) -> Path:
    if not path.is_file():
        raise SemreadyError(f"{run_dir} has no {path.name}: re-split it (`semready split {run_dir}`) or use the "
                            "paper score (`semready split --score paper`)")
    return path
