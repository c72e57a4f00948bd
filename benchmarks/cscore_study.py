"""What the issue-13 teacher studies share (teacher_recipe.py, dynamics.py, heldout.py): the C-score data, the
command line, the preset overrides and the table of scores against C-scores."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import SHARED_DATA
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from semready.data import ImageData, load_data


def merge(base: dict, extra: dict) -> dict:
    """Preset overrides: ``extra``'s sections laid over ``base``'s, key by key (neither is changed)."""
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def study_parser(doc: str, epochs: int, name: str) -> argparse.ArgumentParser:
    """The options every study takes; ``name`` picks the default work folder and JSON file."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--data-dir", default=str(SHARED_DATA))
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", default="{}", help='JSON overrides of the quick preset, e.g. \'{"train": '
                    '{"channels_last": true}}\'')
    ap.add_argument("--work-dir", default=f"benchmarks/results/{name}_runs")
    ap.add_argument("--out", default=f"benchmarks/results/{name}.json")
    return ap


def overrides_of(args: argparse.Namespace) -> dict:
    """The quick preset's overrides of a study: its epochs and seed, then ``--extra``."""
    return merge({"train": {"epochs": args.epochs, "seed": args.seed}}, json.loads(args.extra))


def cscore_data(data_dir: str | Path) -> tuple[ImageData, np.ndarray, np.ndarray]:
    """cifar10_train10k, its C-scores and the mask of the 10 % lowest."""
    data_dir = Path(data_dir)
    data = load_data(f"npz:{data_dir / 'cifar10_train10k.npz'}")
    cs = np.load(data_dir / "cifar10_train10k_cscores.npz")["cscore"].astype(float)
    return data, cs, cs <= np.quantile(cs, 0.10)


def against_cscores(score: np.ndarray, cs: np.ndarray, low: np.ndarray) -> dict[str, float]:
    """Spearman ρ of a learnability score with the C-scores, and the AUROC of low learnability for the lowest."""
    return {"spearman": float(spearmanr(score, cs).statistic), "auroc_low10": float(roc_auc_score(low, -score))}


def score_table(scores: dict[str, np.ndarray], cs: np.ndarray, low: np.ndarray) -> dict[str, dict[str, float]]:
    """:func:`against_cscores` of every score, printed as a markdown table."""
    table = {name: against_cscores(s, cs, low) for name, s in scores.items()}
    print("| score | C-score ρ | AUROC low-10 % |\n|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {row['spearman']:+.3f} | {row['auroc_low10']:.3f} |")
    return table
