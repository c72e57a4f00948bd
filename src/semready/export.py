"""``semready export``: a run's learnable or memorizable items, or its embeddings, out of the run folder.

>>> export_split("runs/demo", "memorizable", "xm.npz", to="npz")   # doctest: +SKIP
>>> export_embeddings("runs/demo", "z.npy")                        # doctest: +SKIP

Every export goes to a new path (an existing one is refused in one line) and is written atomically: a file through
a temporary file, a folder built as a temporary folder and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image

from semready import io
from semready.data import check_data_identity, load_run_data
from semready.errors import SemreadyError
from semready.progress import task
from semready.rundir import RunDir
from semready.teacher.infer import load_run
from semready.teacher.views import prepare_eval

SPLITS = ("learnable", "memorizable")
TARGETS = ("folder", "npz", "list")


def _check_out(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise SemreadyError(f"--out {out} already exists: choose a new path (an export never overwrites)")
    if not out.parent.is_dir():
        raise SemreadyError(f"cannot write {out}: its folder {out.parent} does not exist; create the folder or "
                            "choose another path")


def _run_items(run_dir: Path, split: str | None):
    """The run's items (uint8 N×3×H×W), ids and paths, restricted to ``split`` (None: all)."""
    files = RunDir(run_dir)
    cfg = files.read_config()
    rows = files.read_sample_rows()
    learnable = np.array([r["split"] == "learnable" for r in rows], dtype=bool)
    check_data_identity(cfg.data, run_dir)
    data = load_run_data(cfg.data.spec, cfg.data.image_size, len(rows), cfg.data.stream, cfg.data.workers)
    ids = [r.get("id") or data.ids[i] for i, r in enumerate(rows)]  # load_data always names its items
    paths = [r.get("path") or data.paths[i] for i, r in enumerate(rows)]
    keep = np.ones(len(rows), bool) if split is None else (learnable if split == "learnable" else ~learnable)
    if not keep.any():
        other = "memorizes" if split == "memorizable" else "keeps learnable"
        raise SemreadyError(f"the {split} split of {run_dir} is empty: nothing to export; re-split with a policy "
                            f"that {other} some items (e.g. `semready split {run_dir} --policy budget --value 0.1`)")
    index = np.flatnonzero(keep)
    return data, index, [ids[i] for i in index], [paths[i] for i in index]


def _png_name(item_id: str, index: int) -> PurePosixPath:
    """``<id>.png``; an id that would leave the folder (absolute, ``..``) falls back to the item's index."""
    p = PurePosixPath(item_id)
    if not item_id or p.is_absolute() or ".." in p.parts or "\\" in item_id:
        p = PurePosixPath(str(index))
    return p.with_name(p.name + ".png")


def export_split(run_dir: str | Path, split: str, out: str | Path, to: str = "folder", *,
                 progress: bool = False) -> dict[str, Any]:
    """Write a run's learnable or memorizable items to a new folder, npz file or list.

    Args:
        run_dir: a trained, split run.
        split: ``learnable`` or ``memorizable``.
        out: the new target (must not exist).
        to: ``folder`` (one PNG per item, named ``<id>.png``; a ``folder:`` id's subfolders are kept), ``npz``
            (``x`` uint8 N×H×W×3, ``id`` and ``path`` str (N,), ``index`` int64 (N,), ``y`` when labelled) or
            ``list`` (a text file, one ``id<TAB>path`` line per item).
        progress: show a progress bar with ETA.

    Returns:
        ``split``, ``to``, ``out`` and ``items`` (how many were written).
    """
    run_dir, out = Path(run_dir), Path(out)
    if split not in SPLITS:
        raise SemreadyError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if to not in TARGETS:
        raise SemreadyError(f"unknown export target {to!r}: choose one of {', '.join(TARGETS)}")
    _check_out(out)
    data, index, ids, paths = _run_items(run_dir, split)
    with task(f"exporting {split} items", len(index), progress) as bar:
        if to == "list":
            io.write_text(out, "".join(f"{i}\t{p}\n" for i, p in zip(ids, paths, strict=True)))
            bar.advance(len(index))
        elif to == "npz":
            x = data.images[torch.from_numpy(index)].permute(0, 2, 3, 1).contiguous().numpy()
            arrays = {"x": x, "id": np.array(ids, dtype=str), "path": np.array(paths, dtype=str),
                      "index": index.astype(np.int64)}
            if data.labels is not None:
                arrays["y"] = data.labels[index]
            with io.atomic_path(out) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            bar.advance(len(index))
        else:
            names = [_png_name(i, k) for i, k in zip(ids, index, strict=True)]
            if len(set(names)) != len(names):
                names = [PurePosixPath(f"{k}.png") for k in index]  # ids that clash as file names: use indices
            with io.atomic_dir(out) as tmp:
                for name, k in zip(names, index, strict=True):
                    target = tmp / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(data.images[k].permute(1, 2, 0).numpy()).save(target)
                    bar.advance()
    return {"split": split, "to": to, "out": str(out), "items": int(len(index))}


@torch.no_grad()
def export_embeddings(run_dir: str | Path, out: str | Path, split: str | None = None, *, batch_size: int = 512,
                      progress: bool = False) -> dict[str, Any]:
    """Write the teacher's query embeddings ψ_κ(x_i) of the run's items as a float32 N×d ``.npy`` file.

    Row k is the k-th item of samples.csv (of the ``split`` when one is given); the rows have unit norm. The
    clusters and confidences of samples.csv are read from the momentum encoder's embedding (the smoother copy).

    Args:
        run_dir: a trained run.
        out: the new ``.npy`` file (must not exist).
        split: ``learnable``, ``memorizable``, or None for every item.
        batch_size: items per forward pass.
        progress: show a progress bar with ETA.

    Returns:
        ``out``, ``items`` and ``dim`` (d).
    """
    run_dir, out = Path(run_dir), Path(out)
    if split is not None and split not in SPLITS:
        raise SemreadyError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    _check_out(out)
    data, index, _, _ = _run_items(run_dir, split)
    run = load_run(run_dir)
    run.teacher.eval()
    images = data.images[torch.from_numpy(index)]
    parts = []
    with task("embedding", len(images), progress) as bar:
        for start in range(0, len(images), batch_size):
            x = prepare_eval(images[start:start + batch_size].to(run.device))
            parts.append(run.teacher.encoder.features_and_embedding(x)[1].float().cpu().numpy())
            bar.advance(len(x))
    z = np.concatenate(parts).astype(np.float32)
    with io.atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, z)
    return {"out": str(out), "items": int(len(z)), "dim": int(z.shape[1])}


__all__ = ["SPLITS", "TARGETS", "export_embeddings", "export_split"]
