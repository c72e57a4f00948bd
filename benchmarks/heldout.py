"""Held-out alignment (SSLMem-style memorization) against C-scores: python benchmarks/heldout.py [--epochs 25].

Issue 13, item 2 ("held-out alignment"). Two teachers are cross-fitted on the two halves of cifar10_train10k (a
seeded random split), same preset and epochs. The alignment of item i under teacher f is the mean cosine
similarity of the embeddings of two random perturbations of it, over ``--pairs`` pairs:

    a_f(i) = E_{χ1, χ2} z_f(χ1(x_i)) · z_f(χ2(x_i)).

With f_in the teacher whose half held i and f_out the other, the memorization score (Wang et al., ICLR 2024) is
m_i = a_in(i) − a_out(i): what a teacher aligns only when it has seen the item, it memorised. Learnability is
−m_i; the held-out alignment a_out(i) and the seen alignment a_in(i) are reported beside it. Every row is on the
same 10,000 items: Spearman ρ with their C-scores and the AUROC of low learnability against the 10 % lowest.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from _common import write_result
from cscore_study import cscore_data, overrides_of, score_table, study_parser
from teacher_recipe import train_variant

from semready.config import build_config
from semready.data import ImageData
from semready.teacher.infer import TrainedRun, load_run
from semready.teacher.views import perturb


@torch.no_grad()
def alignment(run: TrainedRun, images: torch.Tensor, pairs: int, seed: int, batch: int = 1024) -> np.ndarray:
    """a_f(i): mean cosine of the embeddings of two perturbations of each item, over ``pairs`` pairs."""
    run.teacher.eval()
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(len(images), dtype=torch.float64)
    for _ in range(pairs):
        for start in range(0, len(images), batch):
            x = images[start:start + batch]
            _, z1 = run.teacher.embed(perturb(x, run.cfg.views, gen))
            _, z2 = run.teacher.embed(perturb(x, run.cfg.views, gen))
            total[start:start + len(x)] += (z1 * z2).sum(1).double()
    return (total / pairs).numpy()


def half_teachers(data: ImageData, overrides: dict, work: Path, seed: int) -> tuple[np.ndarray, list[Path]]:
    """Train (or reuse) one teacher per half; returns each item's half (0/1) and the two run folders."""
    half = np.zeros(len(data.images), dtype=np.int64)
    half[np.random.default_rng(seed).permutation(len(half))[len(half) // 2:]] = 1
    runs = []
    for h in (0, 1):
        idx = torch.from_numpy(np.flatnonzero(half == h))
        part = ImageData(images=data.images[idx], labels=None, classes=None, spec=f"{data.spec}#half{h}")
        run = work / f"half{h}"
        print(f"half {h}: {train_variant(overrides, part, run)}", flush=True)
        runs.append(run)
    return half, runs


def main() -> None:
    ap = study_parser(__doc__, 25, "heldout")
    ap.add_argument("--pairs", type=int, default=8)
    args = ap.parse_args()
    data, cs, low = cscore_data(args.data_dir)
    overrides = overrides_of(args)
    build_config("quick", overrides=overrides)  # a bad --extra fails before any training
    work = Path(args.work_dir) / f"e{args.epochs}_s{args.seed}"
    t0 = time.perf_counter()
    half, runs = half_teachers(data, overrides, work, args.seed)
    a = np.stack([alignment(load_run(r, "cpu"), data.images, args.pairs, args.seed + 1) for r in runs], axis=1)
    rows = np.arange(len(half))
    a_in, a_out = a[rows, half], a[rows, 1 - half]
    scores = {"held-out memorization: learnability −(a_in − a_out)": -(a_in - a_out),
              "held-out alignment a_out": a_out, "seen alignment a_in": a_in,
              "control: random score": np.random.default_rng(args.seed).random(len(cs))}
    table = score_table(scores, cs, low)
    write_result({"benchmark": "heldout", "epochs": args.epochs, "pairs": args.pairs, "seed": args.seed,
                  "overrides": overrides, "torch": torch.__version__, "seconds": time.perf_counter() - t0,
                  "methods": table}, args.out)

if __name__ == "__main__":
    main()
