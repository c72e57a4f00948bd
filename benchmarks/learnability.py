"""Learnability benchmark: python benchmarks/learnability.py [--epochs 25] [--out results.json].

Does what the teacher learned decide which items are learnable? One table from one run, two tests:

- **C-scores** (natural data): a teacher trained on cifar10_train10k; Spearman ρ of each item's learnability with
  its C-score (Jiang et al., ICML 2021: the expected accuracy on an image of models trained without it) and the
  AUROC of low learnability against the 10 % lowest C-scores.
- **Semantic-poor families** (noise, scrambled, rare) injected into cifar10_test, dense (10 % of each) and sparse
  (0.5 %), a teacher trained on each stream: AUROC of low learnability against each family.

Every row is computed on the same items in the same process. Controls beside the method: the same score with an
untrained teacher (random initialisation, bank primed, prototypes k-means seeded, no step taken), with the
teacher's clusters and with one element in place of the description test's content elements (the default uses
k-means clusters of the pixels there), and a random score;
the paper's item score and its cluster ranking (C_l of the item's cluster: the paper's cluster-level policy ranks
exactly by it); the score's parts (typicality, the description test, item confidence); pixel peers. A finished
teacher of the same config in the work folder is reused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import write_result
from cscore_study import against_cscores, cscore_data, finished_teacher, fmt, merge
from sklearn.metrics import roc_auc_score

from benchmarks.detection import build_stream, knn_distance, pca_residual
from semready.config import RankConfig, build_config
from semready.data import ImageData
from semready.data.inject import FAMILIES
from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError
from semready.split.policies import learnable_clusters
from semready.split.ranking import cluster_confidence
from semready.split.regen import cross_fitted_unexplained
from semready.split.scores import description_knee, learnability_scores, teacher_learnability
from semready.teacher.infer import TrainedRun, load_run
from semready.teacher.train import Trainer

METHOD = "teacher score (default): t_i behind the description test"


def teacher_for(data: ImageData, epochs: int, seed: int, work: Path, trained: bool, preset: str = "quick",
                extra: dict | None = None) -> tuple[TrainedRun, int]:
    """A teacher on ``data``: trained for ``epochs`` (``preset`` with the ``extra`` overrides otherwise), or
    untrained (bank primed, prototypes k-means seeded, no step). Epochs rather than minutes: a busy machine must not
    change the teacher."""
    cfg = build_config(preset, overrides=merge(extra or {}, {"train": {"epochs": epochs, "seed": seed}}))
    if trained and finished_teacher(work, cfg):  # this command's own earlier teacher
        return load_run(work, "cpu"), epochs
    trainer = Trainer(cfg, data, work, progress=False)
    if trained:
        trainer.fit()
    else:
        trainer.prime_bank()
        trainer.seed_prototypes()
    return TrainedRun(work, cfg, trainer.teacher.eval(), trainer.device, tuple(data.images.shape[1:])), trainer.epoch


def teacher_parts(run: TrainedRun, images: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """The default score and its parts for one teacher, its own clusters."""
    a = run.assign_all(images)
    m = run.cfg.model.clusters
    learn, model = learnability_scores(RankConfig(score="teacher"), a.clusters, a.confidence, m, images, seed,
                                       a.embeddings)
    typ = model.typicality.score(a.embeddings, stream=True)
    paper, _ = learnability_scores(RankConfig(score="paper"), a.clusters, a.confidence, m, images, seed)
    return {"score": learn, "C_l": cluster_confidence(a.clusters, a.confidence, m)[a.clusters], "typicality": typ,
            "paper": paper, "clusters": a.clusters, "confidence": a.confidence,
            "passes": (learn >= 0.5).astype(float)}


def score_with_clusters(parts: dict[str, np.ndarray], images: torch.Tensor, clusters: np.ndarray, m: int,
                        seed: int) -> np.ndarray:
    """The default score with another partition in place of the teacher's clusters (the content elements of the
    description test's regen model)."""
    u, _ = cross_fitted_unexplained(images, clusters, m, 128, 32, seed)
    return teacher_learnability(parts["typicality"], 1 - u, description_knee(1 - u))


def all_scores(data: ImageData, epochs: int, seed: int, work: Path, preset: str = "quick",
               extra: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Learnability (higher = more learnable) of every method and control on one stream."""
    images = data.images
    u, _ = cross_fitted_unexplained(images, np.zeros(len(images), dtype=np.int64), 1, 128, 32, seed)
    trained, done = teacher_for(data, epochs, seed, work / "trained", True, preset, extra)
    untrained, _ = teacher_for(data, epochs, seed, work / "untrained", False, preset, extra)
    t = teacher_parts(trained, images, seed)
    r = teacher_parts(untrained, images, seed)
    m = trained.cfg.model.clusters
    pixels = pixel_vectors(images, 32).numpy()
    scores = {
        METHOD: t["score"],
        "control: untrained teacher, same score": r["score"],
        "control: the teacher's clusters as the test's content elements": score_with_clusters(t, images,
                                                                                               t["clusters"], m,
                                                                                               seed),
        "control: one content element in the test": score_with_clusters(t, images, np.zeros(len(u), np.int64), 1,
                                                                        seed),
        "control: random score": np.random.default_rng(seed).random(len(u)),
        "paper item score sqrt(c_i·C_l)": t["paper"],
        "paper cluster ranking C_l(i) (cluster-level policy)": t["C_l"],
        "part: typicality t_i alone": t["typicality"],
        "part: item confidence c_i alone": t["confidence"],
        "part: passes the description test (0/1)": t["passes"],
        "peer: regen learnability 1 − u_i (one cluster)": 1 - u,
        "peer: raw-pixel 10-NN distance": -knn_distance(pixels),
        "peer: PCA residual (rank 64)": -pca_residual(pixels, pixels, 64),
        "peer: PNG size": -png_bits(images),
    }
    info = {"teacher_epochs": done, "clusters": t["clusters"], "C_l": t["C_l"]}
    return scores, info


def png_bits(images: torch.Tensor) -> np.ndarray:
    import io as _io

    from PIL import Image

    out = []
    for img in images.permute(0, 2, 3, 1).numpy():
        buf = _io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", optimize=False)
        out.append(8 * buf.tell())
    return np.array(out, dtype=float)


def cscore_part(data_dir: Path, epochs: int, seed: int, work: Path, preset: str = "quick",
                extra: dict | None = None) -> dict[str, Any]:
    data, cs, low = cscore_data(data_dir)
    scores, info = all_scores(data, epochs, seed, work / "cscores", preset, extra)
    rows = {name: against_cscores(s, cs, low) for name, s in scores.items()}
    # the paper's cluster-level policy itself: whole least-confident clusters to X_m, 10 % budget
    m = int(info["clusters"].max()) + 1
    conf_per_cluster = np.zeros(m)
    conf_per_cluster[info["clusters"]] = info["C_l"]
    keep = learnable_clusters(conf_per_cluster, np.bincount(info["clusters"], minlength=m), "cluster-budget", 0.10)
    memorized = ~keep[info["clusters"]]
    policy = {"memorizable_items": int(memorized.sum()),
              "mean_cscore_memorizable": float(cs[memorized].mean()),
              "mean_cscore_learnable": float(cs[~memorized].mean()),
              "precision_vs_low10": float((memorized & low).sum() / max(memorized.sum(), 1)),
              "recall_vs_low10": float((memorized & low).sum() / low.sum())}
    return {"items": len(cs), "teacher_epochs": info["teacher_epochs"], "methods": rows,
            "cluster_budget_policy_10pct": policy}


def family_part(data_dir: Path, fraction: float, epochs: int, seed: int, work: Path, preset: str = "quick",
                extra: dict | None = None) -> dict[str, Any]:
    stream = build_stream(data_dir, fraction, seed)
    scores, info = all_scores(stream.data, epochs, seed, work / f"families_{fraction}", preset, extra)
    rows = {}
    for name, s in scores.items():
        rows[name] = {}
        for fam in FAMILIES:
            pick = (stream.family == fam) | (stream.family == "clean")
            rows[name][fam] = float(roc_auc_score(stream.family[pick] == fam, -s[pick]))
    counts = {f: int((stream.family == f).sum()) for f in ("clean", *FAMILIES)}
    return {"fraction_each": fraction, "counts": counts, "teacher_epochs": info["teacher_epochs"], "methods": rows}


def run_learnability_benchmark(data_dir: str | Path, epochs: int = 25, seed: int = 0,
                               work_dir: str | Path = "benchmarks/results/learnability_runs",
                               preset: str = "quick", extra: dict | None = None) -> dict[str, Any]:
    data_dir, work = Path(data_dir), Path(work_dir)
    for name in ("cifar10_train10k.npz", "cifar10_train10k_cscores.npz", "cifar10_test.npz",
                 "tinyimagenet10_train.npz"):
        if not (data_dir / name).is_file():
            raise SemreadyError(f"benchmark data {data_dir / name} not found: pass --data-dir pointing at "
                                "shared/data")
    t0 = time.perf_counter()
    result = {"benchmark": "learnability", "epochs_per_teacher": epochs, "seed": seed, "torch": torch.__version__,
              "teacher_preset": preset, "teacher_overrides": extra or {},
              "cscores": cscore_part(data_dir, epochs, seed, work, preset, extra),
              "families": [family_part(data_dir, f, epochs, seed, work, preset, extra) for f in (0.10, 0.005)]}
    result["wall_seconds"] = time.perf_counter() - t0
    return result


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = result["cscores"]
    fams = result["families"]
    table = Table(title=f"Learnability: C-scores (cifar10_train10k, teacher {c['teacher_epochs']} epochs) and "
                        "semantic-poor families (AUROC of low learnability)")
    table.add_column("method")
    table.add_column("C-score ρ")
    table.add_column("AUROC low-10 %")
    for f in fams:
        for fam in FAMILIES:
            table.add_column(f"{fam} {f['fraction_each']:.1%}")
    for name, row in c["methods"].items():
        table.add_row(name, fmt(row["spearman"], signed=True), fmt(row["auroc_low10"]),
                      *(f"{f['methods'][name][fam]:.3f}" for f in fams for fam in FAMILIES))
    Console(width=220).print(table)
    print("paper's cluster-level policy, 10 % budget, on C-scores:", c["cluster_budget_policy_10pct"])


if __name__ == "__main__":
    import argparse
    import json

    from _common import SHARED_DATA

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(SHARED_DATA))
    ap.add_argument("--epochs", type=int, default=25, help="training epochs of each teacher")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="quick", help="the teachers' preset (paper: ResNet-18, for a GPU)")
    ap.add_argument("--extra", default="{}", help='JSON overrides of the preset for every teacher, e.g. '
                    '\'{"train": {"channels_last": true}}\'')
    ap.add_argument("--work-dir", default="benchmarks/results/learnability_runs",
                    help="teachers are kept (and reused) here; one folder per teacher config")
    ap.add_argument("--out", default="benchmarks/results/learnability.json")
    args = ap.parse_args()
    result = run_learnability_benchmark(args.data_dir, epochs=args.epochs, seed=args.seed, work_dir=args.work_dir,
                                        preset=args.preset, extra=json.loads(args.extra))
    print_table(result)
    write_result(result, args.out)
