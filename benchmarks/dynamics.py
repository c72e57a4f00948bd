"""Per-item training dynamics against C-scores: python benchmarks/dynamics.py [--epochs 25] [--extra JSON].

Issue 13, item 2 ("per-item training dynamics"). One teacher trains on cifar10_train10k (quick preset); after every
epoch the teacher of that moment reads all 10,000 items (eval mode, then training goes on in the mode it was in):
its embedding z_i, its cluster argmax φ(z_i), its confidence c_i and the alignment of two perturbations
z(χ1(x_i))·z(χ2(x_i)) (fixed per-item perturbations over epochs, so only the teacher changes). Scores (higher =
more learnable), each the mean over the epochs after warm-up:

- learning speed: the alignment's area under the epoch curve (Jiang et al.'s cumulative-accuracy proxy, with the
  self-supervised task in place of labels);
- assignment stability: the share of epochs whose cluster is the final one (forgetting events in cluster space);
- mean confidence c_i;
- snapshot typicality: t_i (:mod:`semready.split.typicality`) of each epoch's embedding, averaged;
- beside them the final teacher's typicality (the default score's teacher part) and a random score.

Spearman ρ with the C-scores and the AUROC of low learnability against the 10 % lowest C-scores, on the same items.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from _common import write_result
from cscore_study import cscore_data, overrides_of, score_table, study_parser

from semready.config import build_config
from semready.split.typicality import TypicalityModel
from semready.teacher.train import Trainer
from semready.teacher.views import perturb, prepare_eval


class EpochReader:
    """Reads every item with the teacher of the moment; keeps the per-epoch arrays."""

    def __init__(self, trainer: Trainer, images: torch.Tensor, seed: int, batch: int = 1024):
        self.trainer, self.images, self.batch = trainer, images, batch
        gen = torch.Generator().manual_seed(seed)
        self.views = [perturb(images, trainer.cfg.views, gen), perturb(images, trainer.cfg.views, gen)]
        self.rows: list[dict[str, np.ndarray]] = []

    @torch.no_grad()
    def __call__(self, row: dict) -> None:
        teacher = self.trainer.teacher
        modes = [m.training for m in teacher.modules()]
        teacher.eval()
        z, align = [], []
        for s in range(0, len(self.images), self.batch):
            _, zi = teacher.embed(prepare_eval(self.images[s:s + self.batch]))
            _, z1 = teacher.embed(self.views[0][s:s + self.batch])
            _, z2 = teacher.embed(self.views[1][s:s + self.batch])
            z.append(zi)
            align.append((z1 * z2).sum(1))
        z = torch.cat(z)
        p = teacher.cluster_head(z).softmax(dim=1)
        for m, mode in zip(teacher.modules(), modes, strict=True):
            m.training = mode
        self.rows.append({"epoch": row["epoch"], "z": z.numpy(), "align": torch.cat(align).numpy(),
                          "cluster": p.argmax(1).numpy(), "confidence": p.max(1).values.numpy()})


def scores_from(rows: list[dict], warmup: int, seed: int) -> dict[str, np.ndarray]:
    after = [r for r in rows if r["epoch"] > warmup] or rows
    final = rows[-1]
    typ = [TypicalityModel.fit(r["z"]).score(r["z"], stream=True) for r in after]
    return {
        "learning speed: mean view alignment over epochs": np.mean([r["align"] for r in after], axis=0),
        "assignment stability: share of epochs in the final cluster": np.mean(
            [r["cluster"] == final["cluster"] for r in after], axis=0),
        "mean cluster-head confidence over epochs": np.mean([r["confidence"] for r in after], axis=0),
        "snapshot typicality: t_i averaged over epochs": np.mean(typ, axis=0),
        "final teacher typicality t_i (the default's teacher part)": typ[-1],
        "final view alignment": final["align"],
        "control: random score": np.random.default_rng(seed).random(len(final["align"])),
    }


def main() -> None:
    args = study_parser(__doc__, 25, "dynamics").parse_args()
    data, cs, low = cscore_data(args.data_dir)
    overrides = overrides_of(args)
    cfg = build_config("quick", overrides=overrides)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, data, Path(args.work_dir) / f"e{args.epochs}_s{args.seed}", progress=False)
    reader = EpochReader(trainer, data.images, args.seed + 1)
    trainer.fit(on_epoch=reader)
    table = score_table(scores_from(reader.rows, cfg.train.warmup_epochs, args.seed), cs, low)
    write_result({"benchmark": "dynamics", "epochs": args.epochs, "seed": args.seed, "overrides": overrides,
                  "torch": torch.__version__, "seconds": time.perf_counter() - t0, "methods": table}, args.out)

if __name__ == "__main__":
    main()
