"""The report's items section: per cluster, its most learnable and most memorizable items as captioned thumbnails.

Each thumbnail is its own ``<figure>`` (the item's pixels as an embedded PNG) with a ``<figcaption>``: the item's
id (its index for a run older than ids; the path on hover), its learnability score, its cluster and split. A CSS
grid lays them out, so captions wrap inside their own cell and never overlap, at any width.
"""

from __future__ import annotations

import io as _io

import numpy as np
import torch
from PIL import Image

from semready.report.markup import esc, png_data_url

MAX_SIDE = 96  # thumbnails larger than this are shrunk (the page stays small; CSS shows them at 64 px)


def pick_items(clusters: np.ndarray, learn: np.ndarray, order: np.ndarray, k: int
               ) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per cluster, its ``k`` most learnable items and up to ``k`` of its least learnable ones not shown already.

    Args:
        clusters: cluster per item, int (N,).
        learn: learnability per item, float (N,).
        order: the clusters to show, in order.
        k: items per side.

    Returns:
        (cluster, most learnable first, least learnable first) per non-empty cluster; the sides never share
        an item (a cluster of fewer than 2k items shows each item once).

    >>> rows = pick_items(np.array([0, 0, 0, 1]), np.array([0.2, 0.9, 0.5, 0.4]), np.array([1, 0, 2]), 2)
    >>> [(c, top.tolist(), bottom.tolist()) for c, top, bottom in rows]
    [(1, [3], []), (0, [1, 2], [0])]
    """
    out = []
    for c in order:
        members = np.flatnonzero(clusters == c)
        if len(members) == 0:
            continue
        ranked = members[np.argsort(-learn[members], kind="stable")]
        out.append((int(c), ranked[:k], ranked[max(k, len(ranked) - k):][::-1]))
    return out


def thumbnail_png(image: torch.Tensor) -> bytes:
    """One item as PNG bytes, shrunk to at most :data:`MAX_SIDE` pixels a side.

    Args:
        image: uint8 C×H×W (C = 1 or 3).

    Returns:
        The PNG file's bytes.

    >>> thumbnail_png(torch.zeros(3, 8, 8, dtype=torch.uint8))[1:4]
    b'PNG'
    """
    arr = image.permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    if max(im.size) > MAX_SIDE:
        im.thumbnail((MAX_SIDE, MAX_SIDE))
    buf = _io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def item_name(row: dict[str, str]) -> str:
    """What a thumbnail's caption calls an item: its ``id``, else (a run older than ids) ``#index``.

    >>> item_name({"index": "4", "id": "cat/001.jpg"}), item_name({"index": "4"})
    ('cat/001.jpg', '#4')
    """
    return row.get("id") or f"#{row['index']}"


def thumb(image: torch.Tensor, row: dict[str, str]) -> str:
    """One captioned thumbnail: the item's pixels, its id, learnability, cluster and split.

    Args:
        image: uint8 C×H×W.
        row: the item's samples.csv row.

    Returns:
        A ``<figure class="thumb ...">`` element.
    """
    name, split = item_name(row), row.get("split", "")
    where = row.get("path") or f"index {row['index']}"
    return (f'<figure class="thumb {esc(split)}" data-index="{esc(row["index"])}">'
            f'<img alt="item {esc(name)}" src="{png_data_url(thumbnail_png(image))}">'
            f'<figcaption><span class="id" title="{esc(where)}">{esc(name)}</span>'
            f'<span title="learnability">L = {float(row["learnability"]):.3f}</span>'
            f'<span>cluster {esc(row["cluster"])}</span><span>{esc(split)}</span></figcaption></figure>')


def items_html(images: torch.Tensor, rows: list[dict[str, str]], picks: list[tuple[int, np.ndarray, np.ndarray]],
               clusters: dict[int, dict[str, str]]) -> str:
    """The items section's body: one block per cluster, a grid of captioned thumbnails per side.

    Args:
        images: uint8 N×C×H×W, the run's stream.
        rows: samples.csv, one row per item.
        picks: :func:`pick_items`'s result.
        clusters: cluster -> its clusters.csv row (size, confidence, split, learnable share when present).

    Returns:
        HTML.
    """
    out = []
    sizes = np.bincount(np.array([int(r["cluster"]) for r in rows]))
    for c, top, bottom in picks:
        info = clusters.get(c, {})
        head = [f"cluster {c}", f"{sizes[c]} items"]
        if "confidence" in info:
            head.append(f"confidence {float(info['confidence']):.3f}")
        if info.get("split"):
            share = info.get("learnable_share")
            head.append(info["split"] + (f" (learnable share {float(share):.2f})" if share else ""))
        block = [f'<div class="cluster" data-cluster="{c}"><h4>{esc(" · ".join(head))}</h4>']
        first = "most learnable" if len(bottom) else f"all {len(top)} items, most learnable first"
        for side, idx in ((first, top), ("most memorizable", bottom)):
            if len(idx):
                block.append(f'<p class="side">{side}</p><div class="thumbs">'
                             + "".join(thumb(images[i], rows[i]) for i in idx) + "</div>")
        out.append("\n".join(block) + "</div>")
    return "\n".join(out)
