"""How far a teacher's embedding could take a C-score predictor: python benchmarks/teacher_ceiling.py RUN.

Not a method (it reads the labels, which semready never does): a diagnostic of the teacher the learnability
benchmark trained on cifar10_train10k (``benchmarks/results/learnability_runs/cscores/trained``). It prints

- the 10-NN label accuracy of the teacher's embedding (how semantic its neighbourhoods are; MoCo-style ResNet-18
  teachers trained for hundreds of GPU epochs reach about 0.9 on CIFAR-10);
- Spearman ρ and AUROC (10 % lowest C-scores) of the share of an item's 50 nearest neighbours that carry its own
  label — the C-score's own kind of evidence (label consistency with similar items), measured in this embedding:
  an upper reference for any label-free score built on the same teacher.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import SHARED_DATA, write_result
from cscore_study import against_cscores, cscore_data, neighbour_label_agreement

from semready.teacher.infer import load_run


def ceiling(run_dir: Path, data_dir: Path) -> dict:
    data, cs, low = cscore_data(data_dir)
    z = torch.from_numpy(load_run(run_dir, "cpu").assign_all(data.images).embeddings)
    agree50 = neighbour_label_agreement(z, data.labels, 50)
    return {"run": str(run_dir), "knn10_label_accuracy": float(neighbour_label_agreement(z, data.labels, 10).mean()),
            "label_agreement_50nn": against_cscores(agree50, cs, low)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", nargs="?", default="benchmarks/results/learnability_runs/cscores/trained")
    ap.add_argument("--data-dir", default=str(SHARED_DATA))
    ap.add_argument("--out", default="benchmarks/results/teacher_ceiling.json")
    args = ap.parse_args()
    result = ceiling(Path(args.run), Path(args.data_dir))
    print(f"10-NN label accuracy {result['knn10_label_accuracy']:.3f}; label agreement of the 50 nearest neighbours: "
          f"C-score ρ {result['label_agreement_50nn']['spearman']:+.3f}, AUROC low-10 % "
          f"{result['label_agreement_50nn']['auroc_low10']:.3f}")
    write_result(result, args.out)
