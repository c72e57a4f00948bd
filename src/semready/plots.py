"""Plots of a run's ranking and split (PNG, matplotlib's headless Agg backend).

- ``clusters_ranked.png``: clusters ordered by confidence, bar height = size, coloured by split;
- ``learnability_hist.png``: the learnability histogram with the split threshold (stacked by ground-truth
  class, or by injected family, when known);
- ``most_learnable.png`` / ``most_memorizable.png``: grids of the top and bottom items by learnability.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from semready import io  # noqa: E402

COLORS = {"learnable": "#2b8cbe", "memorizable": "#e34a33"}


def _save(fig, path: Path) -> None:
    io.write_with(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def plot_ranked_clusters(table: dict[str, np.ndarray], path: Path) -> None:
    order = np.argsort(table["rank"])
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(order)), 3))
    ax.bar(range(len(order)), table["size"][order],
           color=[COLORS[str(s)] for s in table["split"][order]])
    ax.set_xticks(range(len(order)), [f"{c}\n{table['confidence'][c]:.2f}" for c in table["cluster"][order]],
                  fontsize=7)
    ax.set_xlabel("cluster (confidence), most confident first")
    ax.set_ylabel("items")
    ax.set_title("Deep clusters ranked by confidence")
    _save(fig, path)


def plot_learnability_histogram(learn: np.ndarray, threshold: float, path: Path,
                                groups: np.ndarray | None = None, group_names: dict | None = None) -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    bins = np.linspace(0, 1, 41)
    if groups is None:
        ax.hist(learn, bins=bins, color="#636363")
    else:
        keys = sorted(set(groups.tolist()), key=str)
        ax.hist([learn[groups == k] for k in keys], bins=bins, stacked=True,
                label=[str((group_names or {}).get(k, k)) for k in keys])
        ax.legend(fontsize=6, ncol=2)
    if np.isfinite(threshold):
        ax.axvline(threshold, color="k", ls="--", lw=1, label="threshold")
    ax.set_xlabel("learnability")
    ax.set_ylabel("items")
    ax.set_title("Learnability (left of the line: memorizable)")
    _save(fig, path)


def plot_item_grid(images: torch.Tensor, indices: np.ndarray, title: str, path: Path, cols: int = 8) -> None:
    n = len(indices)
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.3))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), indices, strict=False):
        ax.imshow(images[i].permute(1, 2, 0).numpy())
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def plot_run(run_dir: Path, items: dict[str, np.ndarray], table: dict[str, np.ndarray], threshold: float,
             images: torch.Tensor | None, class_names: list[str] | None = None, grid: int = 32) -> list[Path]:
    """Write the run's plots into ``run_dir/plots``; return their paths."""
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    paths = [out / "clusters_ranked.png", out / "learnability_hist.png"]
    plot_ranked_clusters(table, paths[0])
    labels = items.get("label")
    names = dict(enumerate(class_names)) if class_names else None
    plot_learnability_histogram(items["learnability"], threshold, paths[1], labels, names)
    if images is not None:
        order = np.argsort(items["rank"])
        k = min(grid, len(order))
        for name, idx in (("most_learnable", order[:k]), ("most_memorizable", order[::-1][:k])):
            path = out / f"{name}.png"
            plot_item_grid(images, idx, name.replace("_", " "), path)
            paths.append(path)
    return paths
