"""Plots of a run's ranking and split (PNG, matplotlib's headless Agg backend).

- ``clusters_ranked.png``: clusters ordered by confidence, bar height = size, coloured by split;
- ``learnability_hist.png``: the learnability histogram with the split threshold (stacked by ground-truth
  class, or by injected family, when known);
- ``most_learnable.png`` / ``most_memorizable.png``: grids of the top and bottom items by learnability.

The ``*_figure`` functions return matplotlib figures (used by :mod:`semready.report`, which embeds them with
:func:`png_bytes`); the ``plot_*`` functions write them to PNG files atomically.
"""

from __future__ import annotations

import io as _io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from semready import io  # noqa: E402
from semready.rundir import RunDir  # noqa: E402

COLORS = {"learnable": "#2b8cbe", "memorizable": "#e34a33", "mixed": "#bdbdbd"}


def _save(fig, path: Path) -> None:
    io.write_with(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def png_bytes(fig, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (the figure is closed).

    Args:
        fig: a matplotlib figure.
        dpi: resolution.

    Returns:
        The PNG file's bytes.

    >>> fig, ax = plt.subplots()
    >>> png_bytes(fig)[1:4]
    b'PNG'
    """
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_ranked_clusters(table: dict[str, np.ndarray], path: Path) -> None:
    """Write :func:`ranked_clusters_figure` to ``path`` (PNG, atomically).

    Args:
        table: the clusters table, each (M,): ``cluster``, ``size``, ``confidence``, ``rank``, ``split``,
            rows in cluster order.
        path: the PNG file.
    """
    _save(ranked_clusters_figure(table), path)


def ranked_clusters_figure(table: dict[str, np.ndarray]):
    """Clusters ordered by confidence, bar height = size, coloured by split.

    Args:
        table: the clusters table, each (M,): ``cluster``, ``size``, ``confidence``, ``rank``, ``split``,
            rows in cluster order.

    Returns:
        The matplotlib figure.
    """
    order = np.argsort(table["rank"])
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(order)), 3))
    ax.bar(range(len(order)), table["size"][order],
           color=[COLORS.get(str(s), "#bdbdbd") for s in table["split"][order]])
    ax.set_xticks(range(len(order)), [f"{c}\n{table['confidence'][c]:.2f}" for c in table["cluster"][order]],
                  fontsize=7)
    ax.set_xlabel("cluster (confidence), most confident first")
    ax.set_ylabel("items")
    ax.set_title("Deep clusters ranked by confidence")
    return fig


def plot_learnability_histogram(learn: np.ndarray, threshold: float, path: Path,
                                groups: np.ndarray | None = None, group_names: dict | None = None) -> None:
    """Write :func:`learnability_histogram_figure` to ``path`` (PNG, atomically); arguments as there."""
    _save(learnability_histogram_figure(learn, threshold, groups, group_names), path)


def learnability_histogram_figure(learn: np.ndarray, threshold: float, groups: np.ndarray | None = None,
                                  group_names: dict | None = None):
    """The learnability histogram with the split threshold, stacked by group when groups are given.

    Args:
        learn: learnability per item, float (N,) in [0, 1].
        threshold: the split threshold (not drawn if nan).
        groups: a group per item (class or injected family), (N,).
        group_names: group -> legend label.

    Returns:
        The matplotlib figure.
    """
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
    return fig


def plot_item_grid(images: torch.Tensor, indices: np.ndarray, title: str, path: Path, cols: int = 8) -> None:
    """Write :func:`item_grid_figure` to ``path`` (PNG, atomically); arguments as there."""
    _save(item_grid_figure(images, indices, title, cols), path)


def item_grid_figure(images: torch.Tensor, indices: np.ndarray, title: str, cols: int = 8):
    """A grid of the chosen items.

    Args:
        images: uint8 N×3×H×W.
        indices: the items to show, in order, int (k,).
        title: the figure's title.
        cols: items per row.

    Returns:
        The matplotlib figure.
    """
    n = len(indices)
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.3))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), indices, strict=False):
        ax.imshow(images[i].permute(1, 2, 0).numpy())
    fig.suptitle(title, fontsize=9)
    return fig


def plot_run(run: RunDir, items: dict[str, np.ndarray], table: dict[str, np.ndarray], threshold: float,
             images: torch.Tensor | None, class_names: list[str] | None = None, grid: int = 32) -> list[Path]:
    """Write the run's plots into its ``plots/`` folder.

    Args:
        run: the run directory.
        items: the items table, each (N,): ``learnability``, ``rank`` and optionally ``label``.
        table: the clusters table, each (M,): ``cluster``, ``size``, ``confidence``, ``rank``, ``split``,
            rows in cluster order.
        threshold: the split threshold.
        images: uint8 N×3×H×W for the item grids; no grids if None.
        class_names: names of the labels.
        grid: items per grid.

    Returns:
        The paths written.
    """
    run.plots.mkdir(exist_ok=True)
    paths = [run.plot("clusters_ranked"), run.plot("learnability_hist")]
    plot_ranked_clusters(table, paths[0])
    labels = items.get("label")
    names = dict(enumerate(class_names)) if class_names else None
    plot_learnability_histogram(items["learnability"], threshold, paths[1], labels, names)
    if images is not None:
        order = np.argsort(items["rank"])
        k = min(grid, len(order))
        for name, idx in (("most_learnable", order[:k]), ("most_memorizable", order[::-1][:k])):
            path = run.plot(name)
            plot_item_grid(images, idx, name.replace("_", " "), path)
            paths.append(path)
    return paths


# ---------------------------------------------------------------- report figures


def training_curves_figure(epochs: np.ndarray, curves: dict[str, np.ndarray], lr: np.ndarray | None = None):
    """Per-epoch losses (one line each), with the learning rate on a second axis.

    Args:
        epochs: (E,).
        curves: loss name -> values, each (E,).
        lr: learning rate per epoch, (E,), or None.

    Returns:
        The matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in curves.items():
        ax.plot(epochs, values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    if lr is not None:
        ax2 = ax.twinx()
        ax2.plot(epochs, lr, color="#999999", ls=":", label="lr")
        ax2.set_ylabel("learning rate", color="#777777")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Training losses per epoch")
    return fig


def cluster_evolution_figure(epochs: np.ndarray, sizes: np.ndarray, entropy: np.ndarray, threshold: float):
    """Share of each cluster per epoch (stacked) and the normalised marginal entropy with the collapse line.

    Args:
        epochs: (E,).
        sizes: cluster sizes per epoch, E×M.
        entropy: normalised marginal entropy per epoch, (E,).
        threshold: the collapse threshold.

    Returns:
        The matplotlib figure.
    """
    fig, (a, b) = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True, height_ratios=[2, 1])
    shares = sizes / np.maximum(sizes.sum(axis=1, keepdims=True), 1)
    a.stackplot(epochs, shares.T, labels=[f"cluster {c}" for c in range(sizes.shape[1])],
                colors=plt.cm.tab20(np.arange(sizes.shape[1]) % 20))
    a.set_ylabel("share of keys")
    a.set_ylim(0, 1)
    a.set_title("Cluster sizes over training")
    if sizes.shape[1] <= 20:
        a.legend(fontsize=6, ncol=5, loc="lower left")
    b.plot(epochs, entropy, marker="o", ms=3, color="#2b8cbe")
    b.axhline(threshold, color="#e34a33", ls="--", lw=1, label="collapse threshold")
    b.set_ylim(0, 1.05)
    b.set_xlabel("epoch")
    b.xaxis.set_major_locator(MaxNLocator(integer=True))
    b.set_ylabel("marginal entropy")
    b.legend(fontsize=7, loc="lower right")
    return fig


def cluster_items_figure(images: torch.Tensor, rows: list[tuple[str, np.ndarray, np.ndarray]], k: int):
    """One row per cluster: its ``k`` most learnable items, a gap, then its ``k`` most memorizable ones.

    Args:
        images: uint8 N×3×H×W.
        rows: per cluster, (label, most learnable indices, most memorizable indices).
        k: items per side.

    Returns:
        The matplotlib figure.
    """
    cols = 2 * k + 1
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.55, len(rows) * 0.62 + 0.4), squeeze=False)
    for r, (label, learnable, memorizable) in enumerate(rows):
        for ax in axes[r]:
            ax.axis("off")
        for j, i in enumerate(learnable[:k]):
            axes[r, j].imshow(images[i].permute(1, 2, 0).numpy())
        for j, i in enumerate(memorizable[:k]):
            axes[r, k + 1 + j].imshow(images[i].permute(1, 2, 0).numpy())
        axes[r, 0].set_title(label, fontsize=6, loc="left")
    fig.suptitle(f"Per cluster: {k} most learnable (left) | {k} most memorizable (right)", fontsize=8)
    return fig


def embedding_figure(xy: np.ndarray, clusters: np.ndarray, memorizable: np.ndarray, method: str):
    """The teacher's features in 2-D, coloured by cluster; memorizable items marked with a cross.

    Args:
        xy: the 2-D map, float N×2.
        clusters: cluster per item, int (N,).
        memorizable: bool (N,).
        method: the projection's name, for the title.

    Returns:
        The matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    colors = plt.cm.tab20(clusters % 20)
    ax.scatter(xy[~memorizable, 0], xy[~memorizable, 1], c=colors[~memorizable], s=8, alpha=0.8,
               label="learnable")
    ax.scatter(xy[memorizable, 0], xy[memorizable, 1], c=colors[memorizable], s=22, marker="x",
               label="memorizable")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Teacher features ({method}), coloured by cluster")
    ax.legend(fontsize=7)
    return fig


def rd_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], lossless: dict[str, float] | None = None,
              title: str = "Rate–distortion"):
    """Bits per item against PSNR, one curve per codec or scheme; lossless codecs as vertical lines.

    Args:
        curves: name -> (bits per item, PSNR in dB), each (P,); points with a non-finite PSNR are left out.
        lossless: name -> bits per item of a lossless codec (its PSNR is infinite: drawn as a vertical line).
        title: the figure's title.

    Returns:
        The matplotlib figure (bits on a log axis).

    >>> fig = rd_figure({"webp": (np.array([500.0, 900.0]), np.array([26.0, 30.0]))}, {"png": 2000.0})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['webp', 'png (lossless)']
    >>> plt.close(fig)
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, (bits, psnr) in curves.items():
        bits, psnr = np.asarray(bits, dtype=np.float64), np.asarray(psnr, dtype=np.float64)
        keep = np.isfinite(bits) & np.isfinite(psnr)
        order = np.argsort(bits[keep])
        ax.plot(bits[keep][order], psnr[keep][order], marker="o", ms=4, label=name,
                ls="--" if name in ("vanilla", "disentangled") else "-")
    for name, bits in (lossless or {}).items():
        ax.axvline(bits, color="#777777", ls=":", label=f"{name} (lossless)")
    ax.set_xscale("log")
    ax.set_xlabel("bits per item")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig
