"""Data sources: turn a data spec string into uint8 RGB image tensors.

Specs (``SPEC_HELP``): ``sample``, ``npz:PATH``, ``folder:PATH``, ``list:FILE``, ``bytes:PATH:RECORD_SIZE``,
``cifar10:ROOT[:test]``, ``cifar100:ROOT[:test]``, ``hf:NAME[:SPLIT]``, ``wds:PATTERN``. Each scheme maps to one
opener in ``_SCHEMES``; trailing arguments are split off from the right, so PATH may itself contain ``:``. A spec
without a scheme that is an existing ``.npz`` file, folder or ``.txt`` file list is read as ``npz:``, ``folder:``
or ``list:`` (a scheme name wins: write ``./sample`` for a folder called ``sample``).

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

from semready.data.files import open_folder, open_list, open_wds
from semready.data.formats import (
    MIN_SIZE,
    Source,
    open_bytes,
    open_cifar,
    open_npz,
    open_sample,
    to_rgb,
    user_path,
)
from semready.data.parallel import auto_workers, decoded_batches, mismatch
from semready.data.stream import StreamedImages
from semready.errors import SemreadyError


@dataclass
class ImageData:
    """Images as a contiguous uint8 N×3×H×W RGB tensor, with optional int64 labels and class names.

    Attributes:
        images: uint8 N×3×H×W; or, loaded with ``stream=True``, a :class:`~semready.data.stream.StreamedImages`
            that decodes the files it is asked for.
        labels: int64 (N,), or None; -1 marks an item whose label is unknown (scikit-learn's convention).
        classes: class names indexed by label, or None.
        spec: the data spec the images came from.
        ids: each item's id in its source (docs/data.md, "Item identity"), or None where it has none.
        paths: each item's locator: its image file for ``folder:``, else ``<absolute spec>#<id>``; or None.
    """

    images: torch.Tensor | StreamedImages
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


def _is_hf_split(last: str) -> bool:
    return last.replace("_", "").replace("-", "").isalnum() and "/" not in last


def _open_hf(*args: str, download: bool = False) -> Source:
    from semready.data.hub import open_hf  # imports nothing heavy until used

    return open_hf(*args, download=download)


_SCHEMES: dict[str, _Scheme] = {
    "sample": _Scheme(open_sample, "sample (default: embedded 4000-image CIFAR-10 subset)"),
    "npz": _Scheme(open_npz, "npz:PATH"),
    "folder": _Scheme(open_folder, "folder:PATH"),
    "list": _Scheme(open_list, "list:FILE"),
    "bytes": _Scheme(open_bytes, "bytes:PATH:RECORD_SIZE", lambda last: True),
    "cifar10": _Scheme(partial(open_cifar, CIFAR10), "cifar10:ROOT[:test]", _is_split),
    "cifar100": _Scheme(partial(open_cifar, CIFAR100), "cifar100:ROOT[:test]", _is_split),
    "hf": _Scheme(_open_hf, "hf:NAME[:SPLIT]", _is_hf_split),
    "wds": _Scheme(open_wds, "wds:PATTERN"),
}
_BARE = {".npz": "npz", ".txt": "list"}  # a bare file path by its suffix; a bare folder is folder:
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
    >>> parse_spec("/no/such/images")
    Traceback (most recent call last):
    semready.errors.SemreadyError: unknown data spec '/no/such/images' (no file or folder of that name ...
    """
    if not isinstance(spec, str):
        raise SemreadyError(f"data spec must be a string, got {type(spec).__name__}: use one of: {SPEC_HELP}")
    scheme, sep, rest = spec.strip().partition(":")
    if scheme not in _SCHEMES:
        return _bare(spec.strip())
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


def _bare(spec: str) -> tuple[str, list[str]]:
    """A spec without a scheme: an existing .npz file, folder or .txt file list, else a one-line error."""
    p = user_path(spec)
    if spec and p.is_dir():
        return "folder", [spec]
    if spec and p.is_file():
        if p.suffix.lower() in _BARE:
            return _BARE[p.suffix.lower()], [spec]
        raise SemreadyError(f"unknown data spec {spec!r} (a file, but only .npz files and .txt file lists are read "
                            f"without a scheme): name its format, one of: {SPEC_HELP}")
    what = " (no file or folder of that name exists)" if spec and ":" not in spec else ""
    raise SemreadyError(f"unknown data spec {spec!r}{what}: check the path, or use one of: {SPEC_HELP}")


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
    if scheme == "hf" and not user_path(args[0]).exists():  # a dataset name on the Hub, not a path
        return ":".join([scheme, *args])
    return ":".join([scheme, os.path.abspath(user_path(args[0])), *args[1:]])


def item_ids(spec: str, src: Source, start: int, stop: int) -> tuple[list[str], list[str]]:
    """The ids and locators of items ``start..stop-1`` of an opened source (docs/data.md, "Item identity").

    id: the item's index for ``sample``, ``npz:``, ``cifar`` and ``hf:``; its byte offset for ``bytes:``; its image
    file's path relative to PATH for ``folder:``, as written for ``list:``; ``<shard>/<key>`` for ``wds:``. path: the
    image file (absolute) for ``folder:`` and ``list:``, else ``<absolute spec>#<id>``.

    Args:
        spec: the spec ``src`` was opened from.
        src: the opened source.
        start, stop: the item range.

    Returns:
        (ids, paths), ``stop - start`` strings each.
    """
    full = absolute_spec(spec)
    if src.files is not None:
        paths = [os.path.abspath(f) for f in src.files[start:stop]]
        if src.ids is not None:
            return src.ids[start:stop], paths
        root = parse_spec(full)[1][0]
        return [Path(os.path.relpath(f, root)).as_posix() for f in paths], paths
    if src.ids is not None:
        return src.ids[start:stop], [f"{full}#{i}" for i in src.ids[start:stop]]
    step = src.record_size or 1
    ids = [str(i * step) for i in range(start, stop)]
    return ids, [f"{full}#{i}" for i in ids]


def _open(spec: str, download: bool) -> Source:
    scheme, args = parse_spec(spec)
    return _SCHEMES[scheme].open(*args, download=download)


def _check_int(value: object, name: str, minimum: int, flag: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SemreadyError(f"{name} must be an integer >= {minimum}, got {value!r}: pass e.g. {flag}")


def _converted(src: Source, batch_size: int, image_size: int | None, workers: int) -> Iterator[torch.Tensor]:
    if src.item is not None:
        yield from decoded_batches(src, batch_size, image_size, workers)
        return
    for start in range(0, src.n, batch_size):
        yield to_rgb(src.read(start, min(start + batch_size, src.n)), image_size)


def _batches(src: Source, batch_size: int, image_size: int | None, ids_of=None,
             workers: int = 0) -> Iterator[tuple]:
    size = None
    starts = range(0, src.n, batch_size)
    for start, images in zip(starts, _converted(src, batch_size, image_size, workers), strict=True):
        stop = start + len(images)
        size = size or images[0].shape[-2:]
        if isinstance(images, list) or images.shape[-2:] != size:  # name the first image of another size
            odd = next(k for k, t in enumerate(images) if t.shape[-2:] != size)
            raise mismatch(src.name(start + odd), images[odd].shape[-2:], size)
        labels = None if src.labels is None else src.labels[start:stop]
        yield (images, labels) if ids_of is None else (images, labels, *ids_of(start, stop))


_WORKER_BATCH = 256  # load_data's batches when workers decode


class Batches:
    """An iterator over a source's batches that knows the source's length (``n``) before the first batch."""

    def __init__(self, src: Source, batches: Iterator[tuple]):
        self.n = src.n
        self._it = batches

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> tuple:
        return next(self._it)


def load_data(spec: str = "sample", *, image_size: int | None = None, download: bool = False,
              workers: int | None = None, stream: bool = False) -> ImageData:
    """Load a whole data source as uint8 RGB N×3×H×W with labels if known (or leave it on disk: ``stream``).

    Args:
        spec: a data spec (``SPEC_HELP``).
        image_size: resize and center-crop every image to this square; keep the size if None.
        download: let ``cifar10:`` / ``cifar100:`` fetch the dataset into ROOT.
        workers: processes decoding image files (``folder:``, ``list:``, ``wds:``, ``hf:``); None: several for
            1024 items or more, else none (:func:`~semready.data.parallel.auto_workers`); 0: in this process.
        stream: keep image files on disk, decoded batch by batch when read (:class:`~semready.data.stream.
            StreamedImages`); for sources of image files only.

    Returns:
        The :class:`ImageData`.

    >>> data = load_data("sample")  # doctest: +SKIP
    >>> data.images.shape, len(data.classes)  # doctest: +SKIP
    (torch.Size([4000, 3, 32, 32]), 10)
    """
    if image_size is not None:
        _check_int(image_size, "image_size", MIN_SIZE, "--image-size 32")
    src = _open(spec, download)
    n_workers = auto_workers(src, workers)
    if stream:
        ids, paths = item_ids(spec, src, 0, src.n)
        return ImageData(StreamedImages(src, image_size, n_workers), src.labels, src.classes, spec, ids, paths)
    if n_workers:
        parts = list(_batches(src, _WORKER_BATCH, image_size, workers=n_workers))
        images = torch.cat([x for x, _ in parts])
        labels = src.labels
    else:
        images, labels = next(_batches(src, src.n, image_size))
    ids, paths = item_ids(spec, src, 0, src.n)
    return ImageData(images, labels, src.classes, spec, ids, paths)


def iter_batches(spec: str, batch_size: int, *, image_size: int | None = None, download: bool = False,
                 with_ids: bool = False, workers: int | None = None) -> Batches:
    """Iterate over a data source in order, each item once.

    ``bytes:`` and image files (``folder:``, ``list:``, ``wds:``, ``hf:``) are decoded lazily, batch by batch —
    image files in worker processes, whole batches each, returned in order; spec errors are raised here, before
    iteration.

    Args:
        spec: a data spec (``SPEC_HELP``).
        batch_size: items per batch (the last may be smaller).
        image_size: resize and center-crop every image to this square; keep the size if None.
        download: let ``cifar10:`` / ``cifar100:`` fetch the dataset into ROOT.
        with_ids: also yield each item's id and path (:func:`item_ids`).
        workers: as in :func:`load_data`.

    Returns:
        An iterator (:class:`Batches`, ``n`` items in all) of (uint8 B×3×H×W, int64 labels (B,) or None), with
        ``with_ids`` followed by (ids, paths), B strings each.
    """
    _check_int(batch_size, "batch_size", 1, "--batch-size 256")
    if image_size is not None:
        _check_int(image_size, "image_size", MIN_SIZE, "--image-size 32")
    src = _open(spec, download)
    n_workers = auto_workers(src, workers)
    ids_of = (lambda a, b: item_ids(spec, src, a, b)) if with_ids else None
    return Batches(src, _batches(src, batch_size, image_size, ids_of, n_workers))


def load_run_data(spec: str, image_size: int | None, items: int, stream: bool = False,
                  workers: int | None = None) -> ImageData:
    """A trained run's own stream, refused in one line if it no longer holds the run's number of items.

    Args:
        spec: the run's ``data.spec``.
        image_size: the run's ``data.image_size``.
        items: how many items the run was trained and split on.
        stream, workers: as in :func:`load_data` (the run's ``data.stream`` and ``data.workers``).

    Returns:
        The stream, ``items`` long.
    """
    data = load_data(spec, image_size=image_size, stream=stream, workers=workers)
    if len(data) != items:
        raise SemreadyError(f"{spec} now holds {len(data)} items but the run has {items}: "
                            "restore the training data or retrain")
    return data
