"""Detection benchmark: python benchmarks/detection.py [--minutes 3] [--out results.json].

Learnability against injected semantic-poor items (noise, scrambled, rare) at 10 % and 0.5 % of each family,
beside label-free peers computed in the same run. See benchmarks.detection.

Detection benchmark (ranking issue): does low learnability find the semantic-poor items of a stream?

Stream: cifar10_test (10,000 clean items) plus injected ``noise``, ``scrambled`` and ``rare`` items (rare =
Tiny-ImageNet stand-in images at 32×32, content seen nowhere else in the stream), each family at a fraction
of the mixed stream. The teacher trains on the stream itself (quick preset, a stated budget). Every method
gives a "semantic-poor" score per item (higher = more likely memorizable); AUROC and AUPRC are computed per
family on the clean items plus that family's items. Peers run on the same stream in the same process.
"""


from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import parse_args, write_result
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors

from benchmarks.clustering import instance_only
from semready.config import build_config
from semready.data import load_data
from semready.data.inject import FAMILIES, InjectedStream, inject
from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError
from semready.split.scores import learnability_scores
from semready.teacher.infer import TrainedRun
from semready.teacher.train import Trainer


def build_stream(data_dir: Path, fraction_each: float, seed: int = 0) -> InjectedStream:
    clean = load_data(f"npz:{data_dir / 'cifar10_test.npz'}")
    pool = load_data(f"npz:{data_dir / 'tinyimagenet10_train.npz'}", image_size=32).images
    k = int(round(fraction_each * len(clean) / (1 - len(FAMILIES) * fraction_each)))
    return inject(clean, {f: k for f in FAMILIES}, seed=seed, rare_pool=pool)


def knn_distance(x: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean distance to the k nearest other items of the stream."""
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, 1:].mean(axis=1)


def pca_residual(x: np.ndarray, reference: np.ndarray, rank: int) -> np.ndarray:
    """Share of each item's energy (around the reference mean) that a PCA of a clean reference set leaves."""
    pca = PCA(n_components=rank, svd_solver="randomized", random_state=0).fit(reference)
    d = x - pca.mean_
    resid = d - (d @ pca.components_.T) @ pca.components_
    return (resid ** 2).sum(1) / ((d ** 2).sum(1) + 1e-8)


def cleanlab_ood(features: np.ndarray) -> np.ndarray | None:
    try:
        from cleanlab.outlier import OutOfDistribution
    except ImportError:
        return None
    return 1.0 - OutOfDistribution().fit_score(features=features)  # cleanlab: low score = outlier


def _teacher(stream: InjectedStream, minutes: float, seed: int, ablate: bool, work: Path) -> dict[str, Any]:
    cfg = build_config("quick", overrides={"train": {"max_minutes": minutes, "epochs": 10_000, "seed": seed}})
    cfg = instance_only(cfg) if ablate else cfg
    trainer = Trainer(cfg, stream.data, work, progress=False)
    trainer.fit()
    run = TrainedRun(work, cfg, trainer.teacher.eval(), trainer.device, tuple(stream.data.images.shape[1:]))
    a = run.assign_all(stream.data.images, with_features=True)

    def memorizability(score: str) -> np.ndarray:  # 1 − learnability, as the run would rank its items
        rank_cfg = cfg.rank.model_copy(update={"score": score})
        learn, _ = learnability_scores(rank_cfg, a.clusters, a.confidence, cfg.model.clusters,
                                       stream.data.images, seed)
        return 1.0 - learn

    feats = a.features / np.linalg.norm(a.features, axis=1, keepdims=True).clip(min=1e-12)
    return {"regen": memorizability("regen"), "paper": memorizability("paper"), "features": feats,
            "epochs": trainer.epoch, "seconds": trainer.seconds}


def score_methods(stream: InjectedStream, data_dir: Path, minutes: float, seed: int, work: Path
                  ) -> dict[str, np.ndarray]:
    pixels = pixel_vectors(stream.data.images, 32).numpy()
    reference = pixel_vectors(load_data(f"npz:{data_dir / 'cifar10_train10k.npz'}").images, 32).numpy()
    full = _teacher(stream, minutes, seed, ablate=False, work=work / "full")
    ablation = _teacher(stream, minutes, seed, ablate=True, work=work / "instance_only")
    scores = {
        "semready regen learnability (ours)": full["regen"],
        "semready paper score (cluster confidence)": full["paper"],
        "instance-only teacher, regen learnability": ablation["regen"],
        "instance-only teacher, paper score": ablation["paper"],
        "kNN distance, raw pixels": knn_distance(pixels),
        "IsolationForest, raw pixels": -IsolationForest(random_state=seed).fit(pixels).score_samples(pixels),
        "PCA residual vs clean reference set (rank 128)": pca_residual(pixels, reference, 128),
        "kNN distance, teacher features": knn_distance(full["features"]),
    }
    ood = cleanlab_ood(full["features"])
    if ood is not None:
        scores["cleanlab OutOfDistribution, teacher features"] = ood
    scores["_epochs"] = np.array([full["epochs"], ablation["epochs"]])
    return scores


def per_family(stream: InjectedStream, score: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for fam in FAMILIES:
        m = (stream.family == fam) | (stream.family == "clean")
        y = stream.family[m] == fam
        if y.any():
            out[fam] = {"auroc": float(roc_auc_score(y, score[m])),
                        "auprc": float(average_precision_score(y, score[m]))}
    return out


def run_detection_benchmark(data_dir: str | Path, fractions=(0.10, 0.005), minutes: float = 3.0, seed: int = 0,
                            work_dir: str | Path = "benchmarks/results/detection_runs") -> dict[str, Any]:
    data_dir = Path(data_dir)
    for name in ("cifar10_test.npz", "cifar10_train10k.npz", "tinyimagenet10_train.npz"):
        if not (data_dir / name).is_file():
            raise SemreadyError(f"benchmark data {data_dir / name} not found: pass --data-dir pointing at "
                                "shared/data")
    t0 = time.perf_counter()
    results = []
    for frac in fractions:
        stream = build_stream(data_dir, frac, seed)
        scores = score_methods(stream, data_dir, minutes, seed, Path(work_dir) / f"frac{frac}")
        epochs = scores.pop("_epochs").tolist()
        counts = {f: int((stream.family == f).sum()) for f in ("clean", *FAMILIES)}
        results.append({"fraction_each": frac, "counts": counts, "teacher_epochs": epochs,
                        "methods": {name: per_family(stream, s) for name, s in scores.items()}})
    return {"benchmark": "detection", "minutes_per_teacher": minutes, "seed": seed, "torch": torch.__version__,
            "wall_seconds": time.perf_counter() - t0, "streams": results}


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    for s in result["streams"]:
        table = Table(title=f"Semantic-poor detection, {s['fraction_each']:.1%} of each family "
                            f"({s['counts']}), AUROC / AUPRC")
        table.add_column("method")
        for fam in FAMILIES:
            table.add_column(fam)
        for name, fams in s["methods"].items():
            table.add_row(name, *(f"{fams[f]['auroc']:.3f} / {fams[f]['auprc']:.3f}" if f in fams else "-"
                                  for f in FAMILIES))
        Console().print(table)


if __name__ == "__main__":
    args = parse_args(__doc__, 3.0, "benchmarks/results/detection.json", "training budget per teacher")
    result = run_detection_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
