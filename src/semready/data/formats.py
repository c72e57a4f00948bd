"""Readers of each array format: a path (or root) in, an opened :class:`Source` out.

One opener per spec scheme of :mod:`semready.data.sources` (``npz``, ``sample``, ``bytes``, ``cifar10``/``cifar100``;
image files — ``folder``, ``list``, ``wds`` — are read by :mod:`semready.data.files`, ``hf`` by
:mod:`semready.data.hub`); :func:`to_rgb` applies the conversion rule described there to every source.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.transforms.v2 import functional as TF

from semready.errors import SemreadyError

MIN_SIZE = 8
_SAMPLE = ("sample", "cifar10_sample.npz")
# Anything a damaged .npz can raise while numpy/zipfile decode it.
_BAD_ARCHIVE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError, KeyError, IndexError, OverflowError)


@dataclass
class Source:
    """An opened source: ``read(start, stop)`` gives items as uint8 channels-last (C in 1, 3, 4),
    either one N×H×W×C array or a list of H×W×C arrays (sizes may differ). Sources of encoded images also have
    ``item``: a picklable ``item(i) -> H×W×C`` with ``item.name(i)``, which worker processes decode with."""

    n: int
    read: Callable[[int, int], np.ndarray | list[np.ndarray]]
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    name: Callable[[int], str] = "item {}".format  # names item i in error messages
    files: list[str] | None = None  # folder:, list: item i's image file
    ids: list[str] | None = None  # each item's id where it is not its index (docs/data.md, "Item identity")
    item: Callable[[int], np.ndarray] | None = None  # decodes item i alone (picklable), for worker processes
    record_size: int | None = None  # bytes: each record's size (item i starts at byte i * record_size)


def _line(e: BaseException) -> str:
    """An exception as a short single line, for embedding in a SemreadyError message."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


# ---------------------------------------------------------------- conversion


def to_rgb(x: np.ndarray, image_size: int | None = None) -> torch.Tensor:
    """Channels-last images to RGB tensors, per the module's conversion rule.

    Args:
        x: uint8 N×H×W×C, C in 1, 3, 4.
        image_size: resize the shorter side and center-crop to this square; keep the size if None.

    Returns:
        Contiguous uint8 N×3×H×W.

    >>> to_rgb(np.zeros((2, 8, 8, 1), np.uint8)).shape
    torch.Size([2, 3, 8, 8])
    >>> int(to_rgb(np.zeros((1, 8, 8, 4), np.uint8)).min())  # fully transparent: white
    255
    """
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:
        a = x[..., 3:].astype(np.uint32)
        x = ((x[..., :3] * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    if image_size is not None and tuple(t.shape[-2:]) != (image_size, image_size):
        if min(t.shape[-2:]) != image_size:
            t = TF.resize(t, [image_size], antialias=True)
        t = TF.center_crop(t, [image_size, image_size])
    h, w = t.shape[-2:]
    if min(h, w) < MIN_SIZE:
        raise SemreadyError(f"images are {h}×{w} after conversion, smaller than the {MIN_SIZE}×{MIN_SIZE} "
                            f"minimum: pass image_size >= {MIN_SIZE} (--image-size) or use larger images")
    return t.contiguous()


def _check_images(x: np.ndarray, where: str) -> np.ndarray:
    """Validate an image array (uint8 N×H×W×C, C in 1, 3, 4, or N×H×W); return it channels-last."""
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4):
        hint = "; it looks channels-first, use x.transpose(0, 2, 3, 1)" if x.shape[1] in (1, 3, 4) else ""
        raise SemreadyError(f"{where}: images have shape {x.shape} with {x.shape[-1]} channels: "
                            f"store uint8 N×H×W×C with C in 1, 3, 4{hint}")
    if x.ndim not in (3, 4):
        raise SemreadyError(f"{where}: images have shape {x.shape} ({x.ndim}-D): store uint8 N×H×W×C "
                            "(C in 1, 3, 4) or N×H×W for grayscale")
    if x.shape[0] == 0 or 0 in x.shape[1:3]:
        raise SemreadyError(f"{where}: images have shape {x.shape}, no pixels: save at least one "
                            "non-empty image")
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        raise SemreadyError(f"{where}: {x.dtype} images contain NaN or Inf values: clean them, then "
                            "convert to uint8 0-255")
    if x.dtype != np.uint8:
        hint = " (e.g. (x * 255).round().astype(np.uint8) for floats in 0-1)" if x.dtype.kind == "f" else ""
        raise SemreadyError(f"{where}: images are {x.dtype}, not uint8: convert them to uint8 0-255 "
                            f"yourself{hint}; semready does not rescale")
    return x if x.ndim == 4 else x[..., None]


# ---------------------------------------------------------------- openers


def user_path(path: str) -> Path:
    """``~`` and ``~user`` expanded where they can be; ``~nosuchuser`` stays as written (then does not exist)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


def _existing_file(path: str, kind: str) -> Path:
    p = user_path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise SemreadyError(f"{kind} file {p} {what}: check the PATH in '{kind}:PATH'")
    return p


def _npz_array(z, key: str, p: Path) -> np.ndarray:
    try:
        a = z[key]
        if not isinstance(a, np.ndarray):  # numpy hands back raw bytes for a member that is not .npy
            raise ValueError(f"member '{key}' is not a numpy array")
        return a
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise SemreadyError(f"npz file {p}: array '{key}' is an object (pickled) array: save it as a "
                                "plain numeric or str array") from None
        raise SemreadyError(f"npz file {p} is corrupt or truncated ({_line(e)}): write it again with "
                            "np.savez") from None
    except _BAD_ARCHIVE as e:
        raise SemreadyError(f"npz file {p} is corrupt or truncated ({_line(e)}): write it again with "
                            "np.savez") from None


def open_npz(path: str, *, download: bool = False) -> Source:
    p = _existing_file(path, "npz")
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise SemreadyError(f"{p} is a single .npy array, not an .npz archive: save it with "
                            "np.savez(path, x=images, y=labels)")
    if not magic.startswith(b"PK"):
        empty = "" if magic else " (it is empty)"
        raise SemreadyError(f"npz file {p} is not an .npz (zip) archive{empty}: write it with "
                            "np.savez(path, x=images)")
    try:
        z = np.load(p, allow_pickle=False)
    except _BAD_ARCHIVE as e:
        raise SemreadyError(f"npz file {p} is corrupt or truncated ({_line(e)}): write it again with "
                            "np.savez") from None
    with z:
        if "x" not in z.files:
            raise SemreadyError(f"npz file {p} has no array 'x' (it has {sorted(z.files)}): save images "
                                "under key 'x' (uint8 N×H×W×C)")
        arrays = {k: _npz_array(z, k, p) for k in ("x", "y", "classes") if k in z.files}
    x = _check_images(arrays["x"], f"npz file {p}")
    classes = arrays.get("classes")
    if classes is not None:
        if classes.ndim != 1 or classes.dtype.kind not in "US":
            raise SemreadyError(f"npz file {p}: 'classes' is {classes.dtype} {classes.shape}: save class "
                                "names as a 1-D str array, np.array(names, dtype=str)")
        try:
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]
        except UnicodeDecodeError:
            raise SemreadyError(f"npz file {p}: 'classes' holds bytes that are not UTF-8 text: save class names "
                                "as str, np.array(names, dtype=str)") from None
    y = arrays.get("y")
    if y is not None:
        if y.shape != (len(x),):
            raise SemreadyError(f"npz file {p}: 'y' has shape {y.shape} but 'x' has {len(x)} images: save "
                                "one integer label per image")
        if y.dtype.kind not in "iu":
            raise SemreadyError(f"npz file {p}: labels 'y' are {y.dtype}: save integer labels (int64)")
        y = y.astype(np.int64)
        top = len(classes) if classes is not None else None
        if y.min() < -1 or (top is not None and y.max() >= top):
            raise SemreadyError(f"npz file {p}: labels 'y' span {y.min()}..{y.max()}, outside 0.."
                                f"{'K-1' if top is None else top - 1}: store label indices into 'classes' "
                                "(-1 marks an unlabelled item)")
    return Source(len(x), lambda a, b: x[a:b], y, classes)


def open_sample(*, download: bool = False) -> Source:
    res = resources.files(__package__).joinpath(*_SAMPLE)
    if not res.is_file():
        raise SemreadyError(f"the embedded sample {'/'.join(_SAMPLE)} is missing from the semready "
                            "package: reinstall semready, or use another data spec")
    with resources.as_file(res) as p:  # the npz is read fully inside, so a temp copy may vanish after
        return open_npz(str(p))


def _record_layout(size: int) -> tuple[int, int]:
    """(side, channels) of a ``bytes:`` record of ``size`` bytes (see module docstring)."""
    s = math.isqrt(size // 3)
    if size % 3 == 0 and 3 * s * s == size:
        return s, 3
    s = math.isqrt(size)
    return (s, 1) if s * s == size else (s + 1, 1)


def open_bytes(path: str, record_size: str | None = None, *, download: bool = False) -> Source:
    usage = f"bytes:{path}:RECORD_SIZE (e.g. 3072 for 32×32 RGB)"
    if record_size is None:
        raise SemreadyError(f"data spec bytes:{path} has no RECORD_SIZE: use {usage}")
    if not (record_size.isascii() and record_size.isdigit()) or int(record_size) == 0:  # not '²' or '٣'
        raise SemreadyError(f"RECORD_SIZE {record_size!r} is not a positive integer: use {usage}")
    rec = int(record_size)
    p = _existing_file(path, "bytes")
    total = p.stat().st_size
    if total == 0:
        raise SemreadyError(f"bytes file {p} is empty: point bytes:PATH at a file of RECORD_SIZE-byte "
                            "records")
    if total % rec:
        raise SemreadyError(f"bytes file {p} has {total} bytes, not a multiple of RECORD_SIZE {rec} "
                            f"(remainder {total % rec}): use a RECORD_SIZE that divides the file size, or "
                            f"trim the last {total % rec} bytes")
    side, ch = _record_layout(rec)

    def read(start: int, stop: int) -> np.ndarray:
        buf = np.zeros((stop - start, side * side * ch), np.uint8)
        with open(p, "rb") as f:
            f.seek(start * rec)
            raw = f.read((stop - start) * rec)
        if len(raw) != (stop - start) * rec:
            raise SemreadyError(f"bytes file {p} shrank while being read: do not modify it during a run")
        buf[:, :rec] = np.frombuffer(raw, np.uint8).reshape(stop - start, rec)
        return buf.reshape(-1, side, side, ch)

    return Source(total // rec, read, record_size=rec)


def open_cifar(cls: type[CIFAR10], root: str, split: str = "train", *, download: bool = False) -> Source:
    name, folder = cls.__name__.replace("CIFAR", "CIFAR-"), cls.base_folder
    root_p = user_path(root)
    try:
        ds = cls(str(root_p), train=split == "train", download=download)
    except (RuntimeError, OSError) as e:
        if download:  # network or disk trouble, or a corrupt archive
            raise SemreadyError(f"downloading {name} into {root_p} failed ({_line(e)}): check the network, "
                                f"or fetch {cls.url} yourself and extract it into ROOT") from None
        hint = f" (ROOT is {folder} itself: use its parent)" if root_p.name == folder else ""
        raise SemreadyError(f"{name} not found or corrupt under {root_p}{hint}: pass --download "
                            f"(download=True) to fetch it, or point ROOT at the parent of an extracted "
                            f"{folder}") from None
    labels = np.asarray(ds.targets, np.int64)
    return Source(len(ds.data), lambda a, b: ds.data[a:b], labels, list(ds.classes))


# ---------------------------------------------------------------- specs
