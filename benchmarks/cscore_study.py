"""What the issue-13 C-score studies share (learnability.py, teacher_recipe.py, dynamics.py, heldout.py,
teacher_ceiling.py): the C-score data and metrics, the command line, the preset overrides, the reuse of a finished
teacher and the label diagnostic."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import SHARED_DATA
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from semready.config import SemreadyConfig, dump_config
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


def finished_teacher(work: Path, cfg: SemreadyConfig) -> bool:
    """Whether ``work`` holds a finished teacher of exactly ``cfg`` (a study reuses it instead of training)."""
    state, config = work / "state.json", work / "config.yaml"
    return (state.is_file() and config.is_file() and json.loads(state.read_text()).get("epoch") == cfg.train.epochs
            and config.read_text() == dump_config(cfg))


def _finite(x: float) -> float | None:
    """A JSON-safe number: None where a constant score leaves the correlation undefined."""
    return float(x) if np.isfinite(x) else None


def against_cscores(score: np.ndarray, cs: np.ndarray, low: np.ndarray) -> dict[str, float | None]:
    """Spearman ρ of a learnability score with the C-scores, and the AUROC of low learnability for the lowest."""
    return {"spearman": _finite(spearmanr(score, cs).statistic), "auroc_low10": _finite(roc_auc_score(low, -score))}


def fmt(x: float | None, signed: bool = False) -> str:
    """A table cell: three decimals (signed for correlations), n/a for None."""
    return "n/a" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def score_table(scores: dict[str, np.ndarray], cs: np.ndarray, low: np.ndarray) -> dict[str, dict[str, float | None]]:
    """:func:`against_cscores` of every score, printed as a markdown table."""
    table = {name: against_cscores(s, cs, low) for name, s in scores.items()}
    print("| score | C-score ρ | AUROC low-10 % |\n|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {fmt(row['spearman'], signed=True)} | {fmt(row['auroc_low10'])} |")
    return table


def neighbour_label_agreement(x: torch.Tensor, labels: np.ndarray, k: int) -> np.ndarray:
    """Per item, the share of its k nearest neighbours (cosine, itself excluded) carrying its label. A diagnostic
    that reads the labels (semready never does): its mean at k = 10 is the embedding's 10-NN label accuracy."""
    x = F.normalize(x, dim=1)
    sims = x @ x.t()
    sims.fill_diagonal_(-2.0)
    nn = sims.topk(k, dim=1).indices.numpy()
    return (labels[nn] == labels[:, None]).mean(axis=1)
