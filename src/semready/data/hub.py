"""Hugging Face ``datasets`` as a source: ``hf:NAME[:SPLIT]`` (the Hub, or its cache) or ``hf:PATH`` (a dataset
saved with ``save_to_disk``). Needs the optional extra: ``pip install 'semready[hf]'``; without it the spec is
refused in one line.

The image column is the first column whose feature is ``datasets.Image`` (else one named ``image`` or ``img``);
labels come from the first ``ClassLabel`` column (its names are the classes), -1 where a label is missing. The
split is SPLIT, else ``train``, else the only one. An item's id is its row index.
"""

from __future__ import annotations

import numpy as np

from semready.data.files import item_source, pil_to_array
from semready.data.formats import Source, _line, user_path
from semready.errors import SemreadyError

INSTALL = "pip install 'semready[hf]'"


def _datasets():
    try:
        import datasets
    except ImportError:
        raise SemreadyError(f"hf: specs need the Hugging Face 'datasets' package, which is not installed: "
                            f"{INSTALL}") from None
    return datasets


class HFImages:
    """Item i is row i's image of a Hugging Face dataset (picklable, for worker processes)."""

    def __init__(self, ds, column: str, where: str):
        self.ds, self.column, self.where = ds, column, where

    def __call__(self, i: int) -> np.ndarray:
        img = self.ds[int(i)][self.column]
        if img is None:
            raise SemreadyError(f"{self.name(i)} has no image: drop that row or fill it")
        return pil_to_array(img)

    def name(self, i: int) -> str:
        return f"row {i} of {self.where}"


def _pick_split(dd, split: str | None, where: str):
    names = list(dd.keys())
    pick = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
    if pick not in names:
        raise SemreadyError(f"{where} has splits {names}, {'not ' + repr(split) if split else 'none named train'}: "
                            f"choose one, hf:NAME:SPLIT")
    return dd[pick]


def open_hf(name: str, split: str | None = None, *, download: bool = False) -> Source:
    datasets = _datasets()
    where = f"Hugging Face dataset {name}"
    local = user_path(name)
    try:
        if local.is_dir():
            ds = datasets.load_from_disk(str(local))
        else:
            ds = datasets.load_dataset(name, split=split or "train")
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds (network, format, missing split)
        raise SemreadyError(f"cannot load {where} ({_line(e)}): check NAME and SPLIT in hf:NAME[:SPLIT], or save "
                            "the dataset with save_to_disk and pass hf:PATH") from None
    if isinstance(ds, datasets.DatasetDict):
        ds = _pick_split(ds, split, where)
    features = ds.features
    column = next((c for c, f in features.items() if isinstance(f, datasets.Image)), None)
    column = column or next((c for c in ("image", "img") if c in features), None)
    if column is None:
        raise SemreadyError(f"{where} has no image column (columns: {sorted(features)}): save the images in a "
                            "datasets.Image column")
    classes = labels = None
    label = next((c for c, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    if label is not None:
        labels = np.array([-1 if v is None else v for v in ds[label]], dtype=np.int64)
        classes = list(features[label].names)
    if len(ds) == 0:
        raise SemreadyError(f"{where} has no rows: choose a split with data")
    return item_source(HFImages(ds, column, where), len(ds), labels=labels, classes=classes)


__all__ = ["HFImages", "INSTALL", "open_hf"]
