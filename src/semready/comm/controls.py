"""The controls a claimed gain must stand beside (issue 14): the same language items and sent items as
``semready simulate``, with the split — or the content elements — made without the trained teacher.

- split controls, each sent by vanilla and disentangled: ``teacher`` (the run's split); ``untrained teacher``
  (an untrained teacher of the run's config — bank primed, prototypes seeded, no step — its clusters as content
  elements and its own default score, split at the same size); ``no teacher (pixel)`` (pixel k-means elements,
  split by the pixel-PCA residual — regen with one element — at the same size); ``random split`` (the teacher's
  elements, a random split of the same size);
- element controls: the disentangled language on the teacher's split with content elements from the teacher,
  one element, pixel k-means, random.
``semready simulate --controls`` adds the split controls to kpis.json; every job of ``semready reproduce`` runs
them; ``benchmarks/semcom.py`` runs all of them and the element controls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from semready.comm.kpi import compare
from semready.comm.system import Items, run_scheme
from semready.config import CommConfig, RankConfig
from semready.rundir import RunDir
from semready.split.regen import cross_fitted_unexplained
from semready.split.scores import learnability_scores, pixel_elements

SPLIT_CONTROLS = ("teacher", "untrained teacher", "no teacher (pixel)", "random split")
ROW_KEYS = ("same_items_reduction_pct", "all_items_reduction_pct", "total_bits_reduction_pct",
            "representation_length_reduction_pct", "semantic_impact_gain_pct", "break_even_items",
            "disentangled_vs_classical_total_pct")
SCHEME_KEYS = ("mean_representation_bits", "mean_representation_bits_learnable", "total_bits_per_item",
               "total_bits_per_item_excluding_dictionary", "dictionary_bits", "semantic_impact", "fidelity_pass_rate",
               "semantic_cosine_pass_rate", "semantic_cluster_pass_rate", "semantic_items")


def top_share(score: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` items of highest score (ties broken by position): a split of a given size.

    >>> top_share(np.array([0.1, 0.9, 0.5, 0.9]), 2).tolist()
    [False, True, False, True]
    """
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-score, kind="stable")[:count]] = True
    return mask


def untrained_parts(run: Path, images: torch.Tensor, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An untrained teacher of the run's config (bank primed, prototypes seeded, no step): clusters and score.

    Its backbone starts from random weights even where the run's config names a weights file (the control is a
    teacher that has learned nothing); the score is the default ``teacher`` score. Building the trainer seeds
    torch's global generator from the run's ``train.seed``.

    Args:
        run: the trained run (its config and data).
        images: the run's stream, uint8 N×C×H×W.
        seed: the score's seed.

    Returns:
        (clusters int (N,), the default learnability score float (N,)).
    """
    from semready.data import ImageData
    from semready.teacher.infer import TrainedRun
    from semready.teacher.train import Trainer

    cfg = RunDir(run).read_config()
    data = ImageData(images, None, None, cfg.data.spec)  # the stream already in memory: no second read
    trainer = Trainer(cfg, data, run.parent / "untrained", progress=False)
    trainer.prime_bank()
    trainer.seed_prototypes()
    teacher = TrainedRun(run.parent / "untrained", cfg, trainer.teacher.eval(), trainer.device,
                         tuple(images.shape[1:]))
    a = teacher.assign_all(images)
    score, _ = learnability_scores(RankConfig(score="teacher"), a.clusters, a.confidence, cfg.model.clusters,
                                   images, seed, a.embeddings)
    return a.clusters, score


def split_controls(run: Path, own: Items, m: int, seed: int, names: tuple[str, ...] = SPLIT_CONTROLS
                   ) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Each split control as (content elements, learnable mask, M), all with the teacher split's X_l size.

    Args:
        run: the trained run.
        own: its stream with the teacher's clusters and split.
        m: M.
        seed: seeds the controls.
        names: which controls (of ``SPLIT_CONTROLS``).

    Returns:
        name -> (elements int (N,), learnable bool (N,), M), in ``SPLIT_CONTROLS`` order.
    """
    n_learn, side = int(own.learnable.sum()), int(own.images.shape[-1])

    def untrained():
        clusters, score = untrained_parts(run, own.images, seed)
        return clusters, top_share(score, n_learn), m

    def no_teacher():
        u, _ = cross_fitted_unexplained(own.images, np.zeros(len(own), dtype=np.int64), 1, 128, side, seed)
        return pixel_elements(own.images, m, side, seed), top_share(1.0 - u, n_learn), m

    def random_split():
        return own.clusters, top_share(np.random.default_rng(seed).random(len(own)), n_learn), m

    build = {"teacher": lambda: (own.clusters, own.learnable, m), "untrained teacher": untrained,
             "no teacher (pixel)": no_teacher, "random split": random_split}
    return {name: build[name]() for name in SPLIT_CONTROLS if name in names}


def element_controls(own: Items, m: int, seed: int) -> dict[str, tuple[np.ndarray, int]]:
    """Content elements for the disentangled language on the teacher's split.

    Args:
        own: the run's stream with the teacher's clusters.
        m: M.
        seed: seeds pixel k-means and the random elements.

    Returns:
        name -> (elements int (N,), their count).
    """
    side = int(own.images.shape[-1])
    return {"teacher clusters": (own.clusters, m), "one element": (np.zeros(len(own), dtype=np.int64), 1),
            "pixel k-means": (pixel_elements(own.images, m, side, seed), m),
            "random elements": (np.random.default_rng(seed + 1).integers(0, m, len(own)), m)}


def control_row(van: dict, dis: dict, classical: dict) -> dict[str, Any]:
    """One control's comparison (:func:`semready.comm.kpi.compare`) and both schemes' key numbers.

    Args:
        van: the control's vanilla summary (its ``mean_representation_bits_learnable`` on the control's X_l).
        dis: the control's disentangled summary.
        classical: the classical summary on the same sent items.

    Returns:
        ``ROW_KEYS`` of the comparison, and ``vanilla`` / ``disentangled`` with ``SCHEME_KEYS``.
    """
    head = compare({"vanilla": van, "disentangled": dis, "classical": classical})
    return {**{k: head.get(k) for k in ROW_KEYS}, "vanilla": {k: van.get(k) for k in SCHEME_KEYS},
            "disentangled": {k: dis.get(k) for k in SCHEME_KEYS}}


def run_split_controls(run: str | Path, own: Items, in_fit: np.ndarray, m: int, comm: CommConfig, seed: int,
                       names: tuple[str, ...], judge=None, done: dict[str, dict] | None = None) -> dict[str, Any]:
    """Split controls on the language items and sent items of ``semready simulate``: each sent by vanilla and
    disentangled, compared as kpis.json's ``comparison`` is.

    Args:
        run: the trained, split run.
        own: its stream with the teacher's clusters and split.
        in_fit: which items build the languages, bool (N,); the others are sent.
        m: M.
        comm: the comm settings.
        seed: seeds the controls and the schemes.
        names: the split controls to run (of ``SPLIT_CONTROLS``).
        judge: semantic fidelity (:class:`~semready.comm.semantic.SemanticJudge`) or None.
        done: scheme -> summary already run on these items with the teacher's split (what simulate sent): the
            classical baseline, and the ``teacher`` row when vanilla and disentangled are there.

    Returns:
        name -> :func:`control_row`.
    """
    done = done or {}
    classical = done.get("classical") or run_scheme("classical", own.subset(in_fit), own.subset(~in_fit), m, comm,
                                                    seed, judge)[0]
    rows, vanilla_runs = {}, {}
    if "teacher" in names and done.get("vanilla") and done.get("disentangled"):  # simulate's own schemes
        rows["teacher"] = control_row(done["vanilla"], done["disentangled"], classical)
        names = tuple(n for n in names if n != "teacher")
    for name, (clusters, learnable, k) in split_controls(Path(run), own, m, seed, names).items():
        items = Items(own.images, np.asarray(clusters), np.asarray(learnable))
        fit, stream = items.subset(in_fit), items.subset(~in_fit)
        key = np.asarray(clusters).tobytes()
        if key not in vanilla_runs:  # vanilla's language and bits depend on the elements only, not on the split
            vanilla_runs[key] = run_scheme("vanilla", fit, stream, k, comm, seed, judge)[:2]
        summary, table = vanilla_runs[key]
        same = stream.learnable
        van = {**summary, "mean_representation_bits_learnable": float(table["bits"][same].mean()) if same.any()
               else None}
        dis = run_scheme("disentangled", fit, stream, k, comm, seed, judge)[0]
        rows[name] = control_row(van, dis, classical)
    return rows


def run_element_controls(own: Items, in_fit: np.ndarray, m: int, comm: CommConfig, seed: int) -> dict[str, Any]:
    """The disentangled language on the teacher's split with other content elements (:func:`element_controls`).

    Args:
        own: the run's stream with the teacher's clusters and split.
        in_fit: which items build the languages, bool (N,).
        m: M.
        comm: the comm settings.
        seed: seeds the elements and the scheme.

    Returns:
        name -> mean |Z_i| on X_l, total bits per item, dictionary bits, the spans K_l the language chose.
    """
    out = {}
    for name, (clusters, k) in element_controls(own, m, seed).items():
        items = Items(own.images, np.asarray(clusters), own.learnable)
        dis, _, lang = run_scheme("disentangled", items.subset(in_fit), items.subset(~in_fit), k, comm, seed)
        out[name] = {"mean_representation_bits_learnable": dis["mean_representation_bits_learnable"],
                     "total_bits_per_item": dis["total_bits_per_item"], "dictionary_bits": dis["dictionary_bits"],
                     "element_spans": lang.spans.tolist()}
    return out
