"""Data sources: turn a data spec string into uint8 RGB image tensors.

Specs (``SPEC_HELP``): ``sample``, ``npz:PATH``, ``folder:PATH``, ``bytes:PATH:RECORD_SIZE``,
``cifar10:ROOT[:test]``, ``cifar100:ROOT[:test]``. Each scheme maps to one opener in ``_SCHEMES``;
trailing arguments are split off from the right, so PATH may itself contain ``:``.

Conversion rule, applied to every source by :func:`to_rgb`:

* 1 channel -> RGB by repeating it. RGBA -> RGB composited over **white**:
  ``(c*a + 255*(255-a) + 127) // 255`` (i.e. rounded). Other PIL modes (palette, CMYK, 16-bit, ...)
  -> ``convert("RGB")``; a palette or grayscale image with transparency counts as RGBA.
* ``image_size=None`` keeps the size, and all images must share it. Otherwise an image that is not
  ``image_size x image_size`` has its shorter side resized to ``image_size`` (bilinear, antialias),
  then is center-cropped to ``image_size x image_size``.
* Images smaller than 8x8 after this are refused.

``bytes:PATH:R`` cuts a raw file into records of R bytes: if R = 3*s^2 a record is an s x s RGB
image (HWC order); else if R = s^2 it is s x s grayscale; otherwise it is zero-padded to the
smallest square s^2 >= R and read as grayscale. No labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from semready.data.formats import (
    MIN_SIZE,
    Source,
    open_bytes,
    open_cifar,
    open_folder,
    open_npz,
    open_sample,
    to_rgb,
    user_path,
)
from semready.errors import SemreadyError


@dataclass
class ImageData:
    """Images as a contiguous uint8 N×3×H×W RGB tensor, with optional int64 labels and class names.

    Attributes:
        images: uint8 N×3×H×W.
        labels: int64 (N,), or None.
        classes: class names indexed by label, or None.
        spec: the data spec the images came from.
        ids: each item's id in its source (docs/data.md, "Item identity"), or None where it has none.
        paths: each item's locator: its image file for ``folder:``, else ``<absolute spec>#<id>``; or None.
    """

    images: torch.Tensor
    labels: np.ndarray | None
    classes: list[str] | None
    spec: str
    ids: list[str] | None = None
    paths: list[str] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class _Scheme:
    open: Callable[..., Source]  # open(*args, download=bool)
    usage: str
    takes_tail: Callable[[str], bool] = lambda last: False  # is the last ':ARG' an argument?


def _is_split(last: str) -> bool:
    return last in ("train", "test")


_SCHEMES: dict[str, _Scheme] = {
    "sample": _Scheme(open_sample, "sample (default: embedded 4000-image CIFAR-10 subset)"),
    "npz": _Scheme(open_npz, "npz:PATH"),
    "folder": _Scheme(open_folder, "folder:PATH"),
    "bytes": _Scheme(open_bytes, "bytes:PATH:RECORD_SIZE", lambda last: True),
    "cifar10": _Scheme(partial(open_cifar, CIFAR10), "cifar10:ROOT[:test]", _is_split),
    "cifar100": _Scheme(partial(open_cifar, CIFAR100), "cifar100:ROOT[:test]", _is_split),
}
SPEC_HELP = " | ".join(s.usage for s in _SCHEMES.values())


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """Split a data spec into its scheme and arguments.

    Args:
        spec: a data spec (``SPEC_HELP``).

    Returns:
        (scheme, arguments); a bad spec raises SemreadyError.

    >>> parse_spec("bytes:/d/x.bin:3072")
    ('bytes', ['/d/x.bin', '3072'])
    >>> parse_spec("cifar10:/data/c:test")
    ('cifar10', ['/data/c', 'test'])
    """
    if not isinstance(spec, str):
        raise SemreadyError(f"data spec must be a string, got {type(spec).__name__}: use one of: {SPEC_HELP}")
    scheme, sep, rest = spec.strip().partition(":")
    if scheme not in _SCHEMES:
        hint = ""
        if user_path(spec).exists():
            hint = f" (for that path write {'folder' if user_path(spec).is_dir() else 'npz'}:{spec})"
        raise SemreadyError(f"unknown data spec {spec!r}{hint}: use one of: {SPEC_HELP}")
    entry = _SCHEMES[scheme]
    if scheme == "sample":
        if sep:
            raise SemreadyError(f"data spec {spec!r}: '{scheme}' takes no arguments: use just '{scheme}'")
        return scheme, []
    head, _, last = rest.rpartition(":")
    args = [head, last] if head and entry.takes_tail(last) else [rest]
    if not args[0]:
        raise SemreadyError(f"data spec {spec!r} has no path: use {entry.usage}")
    return scheme, args


def absolute_spec(spec: str) -> str:
    """The spec with its PATH (or ROOT) made absolute, so that it means the same from any working directory.

    Args:
        spec: a data spec (``SPEC_HELP``).

    Returns:
        The same spec, PATH absolute (``~`` expanded); ``sample`` as it is.

    >>> absolute_spec("sample"), absolute_spec("bytes:/d/../d/x.bin:3072")
    ('sample', 'bytes:/d/x.bin:3072')
    """
    scheme, args = parse_spec(spec)
    if not args:
        return scheme
    return ":".join([scheme, os.path.abspath(user_path(args[0])), *args[1:]])


def item_ids(spec: str, src: Source, start: int, stop: int) -> tuple[list[str], list[str]]:
    """The ids and locators of items ``start..stop-1`` of an opened source (docs/data.md, "Item identity").

    id: the item's index for ``sample``, ``npz:`` and ``cifar``; its byte offset for ``bytes:``; its image file's
    path relative to PATH for ``folder:``. path: the image file (absolute) for ``folder:``, else
    ``<absolute spec>#<id>``.

    Args:
        spec: the spec ``src`` was opened from.
        src: the opened source.
        start, stop: the item range.

    Returns:
        (ids, paths), ``stop - start`` strings each.
    """
    full = absolute_spec(spec)
    if src.files is not None:
        root = parse_spec(full)[1][0]
        paths = [os.path.abspath(f) for f in src.files[start:stop]]
        return [Path(os.path.relpath(f, root)).as_posix() for f in paths], paths
    step = src.record_size or 1
    ids = [str(i * step) for i in range(start, stop)]
    return ids, [f"{full}#{i}" for i in ids]


def _open(spec: str, download: bool) -> Source:
    scheme, args = parse_spec(spec)
    return _SCHEMES[scheme].open(*args, download=download)


def _check_int(value: object, name: str, minimum: int, flag: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SemreadyError(f"{name} must be an integer >= {minimum}, got {value!r}: pass e.g. {flag}")


def _batches(src: Source, batch_size: int, image_size: int | None, ids_of=None) -> Iterator[tuple]:
    size = None
    for start in range(0, src.n, batch_size):
        stop = min(start + batch_size, src.n)
        raw = src.read(start, stop)
        parts = [raw] if isinstance(raw, np.ndarray) else [a[None] for a in raw]
        out = []
        for k, part in enumerate(parts):
            t = to_rgb(part, image_size)
            if size is None:
                size = t.shape[-2:]
            elif t.shape[-2:] != size:
                raise SemreadyError(f"{src.name(start + k)} is {t.shape[-2]}×{t.shape[-1]} (H×W) but earlier "
                                    f"images are {size[0]}×{size[1]}: pass image_size (--image-size) to "
                                    "resize them all")
            out.append(t)
        labels = None if src.labels is None else src.labels[start:stop]
        images = out[0] if len(out) == 1 else torch.cat(out)
        yield (images, labels) if ids_of is None else (images, labels, *ids_of(start, stop))


class Batches:
    """An iterator over a source's batches that knows the source's length (``n``) before the first batch."""

    def __init__(self, src: Source, batches: Iterator[tuple]):
        self.n = src.n
        self._it = batches

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> tuple:
        return next(self._it)


def load_data(spec: str = "sample", *, image_size: int | None = None, download: bool = False) -> ImageData:
    """Load a whole data source as uint8 RGB N×3×H×W with labels if known.

    Args:
        spec: a data spec (``SPEC_HELP``).
        image_size: resize and center-crop every image to this square; keep the size if None.
        download: let ``cifar10:`` / ``cifar100:`` fetch the dataset into ROOT.

    Returns:
        The :class:`ImageData`.

    >>> data = load_data("sample")  # doctest: +SKIP
    >>> data.images.shape, len(data.classes)  # doctest: +SKIP
    (torch.Size([4000, 3, 32, 32]), 10)
    """
    if image_size is not None:
        _check_int(image_size, "image_size", MIN_SIZE, "--image-size 32")
    src = _open(spec, download)
    images, labels = next(_batches(src, src.n, image_size))
    ids, paths = item_ids(spec, src, 0, src.n)
    return ImageData(images, labels, src.classes, spec, ids, paths)


def iter_batches(spec: str, batch_size: int, *, image_size: int | None = None, download: bool = False,
                 with_ids: bool = False) -> Batches:
    """Iterate over a data source in order, each item once.

    ``bytes:`` and ``folder:`` are read lazily, batch by batch; spec errors are raised here, before iteration.

    Args:
        spec: a data spec (``SPEC_HELP``).
        batch_size: items per batch (the last may be smaller).
        image_size: resize and center-crop every image to this square; keep the size if None.
        download: let ``cifar10:`` / ``cifar100:`` fetch the dataset into ROOT.
        with_ids: also yield each item's id and path (:func:`item_ids`).

    Returns:
        An iterator (:class:`Batches`, ``n`` items in all) of (uint8 B×3×H×W, int64 labels (B,) or None), with
        ``with_ids`` followed by (ids, paths), B strings each.
    """
    _check_int(batch_size, "batch_size", 1, "--batch-size 256")
    if image_size is not None:
        _check_int(image_size, "image_size", MIN_SIZE, "--image-size 32")
    src = _open(spec, download)
    ids_of = (lambda a, b: item_ids(spec, src, a, b)) if with_ids else None
    return Batches(src, _batches(src, batch_size, image_size, ids_of))


def load_run_data(spec: str, image_size: int | None, items: int) -> ImageData:
    """A trained run's own stream, refused in one line if it no longer holds the run's number of items.

    Args:
        spec: the run's ``data.spec``.
        image_size: the run's ``data.image_size``.
        items: how many items the run was trained and split on.

    Returns:
        The stream, ``items`` long.
    """
    data = load_data(spec, image_size=image_size)
    if len(data) != items:
        raise SemreadyError(f"{spec} now holds {len(data)} items but the run has {items}: "
                            "restore the training data or retrain")
    return data
