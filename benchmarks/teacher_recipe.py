"""Which CPU recipe makes a stronger teacher? python benchmarks/teacher_recipe.py [--epochs 10] [--variants ...].

Issue 13, item 4. Each variant is the quick preset with one change, trained for the same number of epochs with the
same seed on cifar10_train10k (10,000 CIFAR-10 training images with C-scores), one after another in one process.
Per variant:

- train seconds and images/s (the machine's load moves these; compare them within one run);
- the 10-NN label accuracy of the embedding z_i and of the backbone features (a diagnostic that reads the labels,
  which semready never does: how semantic the teacher's neighbourhoods are);
- Spearman ρ with the C-scores, and the AUROC of low typicality against the 10 % lowest C-scores, of the typicality
  t_i (:mod:`semready.split.typicality`, the teacher's part of the default score) in z and in the features.

A finished teacher of the same config in the work folder is reused, so a longer schedule can be added later.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import write_result
from cscore_study import (
    against_cscores,
    cscore_data,
    finished_teacher,
    fmt,
    merge,
    neighbour_label_agreement,
    overrides_of,
    study_parser,
)

from semready.config import build_config
from semready.split.typicality import TypicalityModel
from semready.teacher.infer import load_run
from semready.teacher.train import Trainer

VARIANTS: dict[str, dict[str, Any]] = {
    "quick (baseline)": {},
    "negatives from the whole bank": {"bank": {"cluster_aware_negatives": False}},
    "instance only (no L_D, no anti-collapse)": {"loss": {"cluster_loss": False, "anti_collapse": False}},
    "tau 0.2": {"loss": {"tau": 0.2}},
    "width 64": {"model": {"width": 64}},
    "lr 0.1": {"train": {"lr": 0.1}},
    "batch 64 (4x the steps)": {"train": {"batch_size": 64}},
    "batch 64, bank 16384": {"train": {"batch_size": 64}, "bank": {"size": 16384}},
}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")[:40]


def knn_label_accuracy(x: torch.Tensor, labels: np.ndarray, k: int = 10) -> float:
    """Share of the items' k nearest neighbours (cosine, itself excluded) that carry their label."""
    return float(neighbour_label_agreement(x, labels, k).mean())


def typicality_quality(x: torch.Tensor, cs: np.ndarray, low: np.ndarray) -> dict[str, float]:
    x = F.normalize(x, dim=1)
    return against_cscores(TypicalityModel.fit(x).score(x, stream=True), cs, low)


def train_variant(overrides: dict, data, work: Path) -> dict[str, Any]:
    cfg = build_config("quick", overrides=overrides)
    reused = finished_teacher(work, cfg)
    seconds = None
    if not reused:
        t0 = time.perf_counter()
        Trainer(cfg, data, work, progress=False).fit()
        seconds = time.perf_counter() - t0
    return {"reused": reused, "train_seconds": seconds,
            "images_per_second": None if seconds is None else len(data.images) * cfg.train.epochs / seconds}


def evaluate(work: Path, data, cs: np.ndarray, low: np.ndarray) -> dict[str, Any]:
    a = load_run(work, "cpu").assign_all(data.images, with_features=True)
    z, feats = torch.from_numpy(a.embeddings), torch.from_numpy(a.features)
    return {"knn10_label_accuracy_z": knn_label_accuracy(z, data.labels),
            "knn10_label_accuracy_features": knn_label_accuracy(feats, data.labels),
            "typicality_z": typicality_quality(z, cs, low),
            "typicality_features": typicality_quality(feats, cs, low)}


def main() -> None:
    ap = study_parser(__doc__, 10, "teacher_recipe")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help="names from VARIANTS")
    ap.set_defaults(work_dir="benchmarks/results/recipe_runs")
    args = ap.parse_args()
    data, cs, low = cscore_data(args.data_dir)
    base = overrides_of(args)
    rows = {}
    print("| variant | train s | images/s | 10-NN acc z | 10-NN acc features | t_i ρ (z) | t_i AUROC (z) "
          "| t_i ρ (features) | t_i AUROC (features) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.variants:
        overrides = merge(base, VARIANTS[name])
        work = Path(args.work_dir) / f"{_slug(name)}_e{args.epochs}_s{args.seed}"
        row = {"overrides": overrides, **train_variant(overrides, data, work), **evaluate(work, data, cs, low)}
        rows[name] = row
        secs = "reused" if row["reused"] else f"{row['train_seconds']:.0f}"
        ips = "—" if row["reused"] else f"{row['images_per_second']:.0f}"
        typ_z, typ_f = row["typicality_z"], row["typicality_features"]
        print(f"| {name} | {secs} | {ips} | {row['knn10_label_accuracy_z']:.3f} | "
              f"{row['knn10_label_accuracy_features']:.3f} | {fmt(typ_z['spearman'], True)} | "
              f"{fmt(typ_z['auroc_low10'])} | {fmt(typ_f['spearman'], True)} | {fmt(typ_f['auroc_low10'])} |",
              flush=True)
        write_result({"benchmark": "teacher_recipe", "epochs": args.epochs, "seed": args.seed,
                      "torch": torch.__version__, "variants": rows}, args.out)


if __name__ == "__main__":
    main()
