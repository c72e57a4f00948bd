"""Sources of encoded image files: folder trees, file lists and webdataset tar shards.

* ``folder:PATH`` — every image file under PATH (extensions ``IMAGE_EXTENSIONS``, any case; names starting with
  ``.`` skipped), found recursively. When the tree is laid out as torchvision's ``ImageFolder`` — no image directly
  in PATH and every image exactly one folder down, ``PATH/<class>/<file>`` — the sorted folder names are the
  classes and labels their indices. Any other tree (images in PATH itself, or deeper) is unlabelled. Items are
  ordered by relative path, component by component; an item's id is its path relative to PATH.
* ``list:FILE`` — one image path per line, relative to FILE's folder or absolute; blank lines and lines starting
  with ``#`` are skipped; a line ``id<TAB>path`` (``semready export --to list``) is read as its path. The id of an
  item is the path as written.
* ``wds:PATTERN`` — webdataset shards (local ``.tar`` files; ``{000..009}`` and ``{a,b}`` brace ranges and
  ``*`` globs). A sample is the members sharing a key (the member name up to the first ``.`` of its base name);
  its image is the first member with an image extension, its label a ``cls`` member (an integer) when every
  sample has one. Samples without an image are skipped. The shards' bytes are held in memory; images are
  decoded lazily. An item's id is ``<shard file name>/<key>``.

Every item decodes alone through a picklable ``item(i)`` (:class:`ImageFiles`, :class:`ImageBlobs`), which
:mod:`semready.data.parallel` runs in worker processes.
"""

from __future__ import annotations

import glob
import io
import os
import re
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from semready.data.formats import Source, _existing_file, _line, user_path
from semready.errors import SemreadyError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image as uint8 H×W×C (C in 1, 3, 4) per the conversion rule of :mod:`semready.data.sources`.

    Args:
        img: any PIL image.

    Returns:
        Grayscale (``1``, ``L``) as 1 channel, images with alpha or transparency as RGBA, all else as RGB.

    >>> pil_to_array(Image.new("P", (9, 8))).shape
    (8, 9, 3)
    """
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        img = img.convert("RGBA")
    else:
        img = img.convert("L" if img.mode in ("1", "L") else "RGB")
    a = np.array(img)
    return a if a.ndim == 3 else a[..., None]


def read_image(source: str | io.BytesIO, name: str | None = None) -> np.ndarray:
    """Decode one image file (or its bytes) to uint8 H×W×C; an unreadable one raises a one-line SemreadyError.

    Args:
        source: the file's path, or a file object holding its bytes.
        name: what to call it in the message (default: the path).

    Returns:
        uint8 H×W×C, C in 1, 3, 4 (:func:`pil_to_array`).
    """
    try:
        with Image.open(source) as img:
            return pil_to_array(img)
    except _DECODE_ERRORS as e:
        raise SemreadyError(f"cannot read image {name or source} ({_line(e)}): fix or remove that file") from None


class ImageFiles:
    """Item i is the image file ``files[i]`` (picklable, for worker processes)."""

    def __init__(self, files: list[str]):
        self.files = files

    def __call__(self, i: int) -> np.ndarray:
        return read_image(self.files[i])

    def name(self, i: int) -> str:
        return f"image {self.files[i]}"


class ImageBlobs:
    """Item i is the encoded image ``blobs[i]``, called ``names[i]`` in messages (picklable)."""

    def __init__(self, blobs: list[bytes], names: list[str]):
        self.blobs, self.names = blobs, names

    def __call__(self, i: int) -> np.ndarray:
        return read_image(io.BytesIO(self.blobs[i]), self.names[i])

    def name(self, i: int) -> str:
        return f"image {self.names[i]}"


def item_source(item, n: int, **fields) -> Source:
    """A :class:`Source` that reads item by item through ``item`` (see :class:`ImageFiles`)."""
    return Source(n, lambda a, b: [item(i) for i in range(a, b)], name=item.name, item=item, **fields)


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def open_folder(path: str, *, download: bool = False) -> Source:
    p = user_path(path)
    if not p.is_dir():
        raise SemreadyError(f"folder {p} {'is a file' if p.exists() else 'does not exist'}: point folder:PATH at "
                            "a directory of images (or of class folders of images)")
    found: list[tuple[str, ...]] = []
    for dirpath, dirnames, filenames in os.walk(p, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(p).parts
        found += [(*rel, f) for f in filenames if _is_image(f)]
    if not found:
        raise SemreadyError(f"folder {p} holds no images (searched recursively for "
                            f"{', '.join(IMAGE_EXTENSIONS)}): put image files in it, or point folder:PATH at "
                            "the folder that holds them")
    found.sort()
    files = [str(p.joinpath(*r)) for r in found]
    ids = ["/".join(r) for r in found]
    labels = classes = None
    if all(len(r) == 2 for r in found):  # ImageFolder's layout: PATH/<class>/<file>
        classes = sorted({r[0] for r in found})
        index = {c: k for k, c in enumerate(classes)}
        labels = np.array([index[r[0]] for r in found], dtype=np.int64)
    return item_source(ImageFiles(files), len(files), labels=labels, classes=classes, files=files, ids=ids)


def open_list(path: str, *, download: bool = False) -> Source:
    p = _existing_file(path, "list")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SemreadyError(f"file list {p} is not UTF-8 text: write one image path per line") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append((number, line.rsplit("\t", 1)[-1].strip()))
    if not entries:
        raise SemreadyError(f"file list {p} names no images: write one image path per line (relative to "
                            f"{p.parent} or absolute; # starts a comment)")
    base = p.parent.absolute()
    files = [os.path.normpath(base / user_path(name)) for _, name in entries]
    missing = [(number, f) for (number, _), f in zip(entries, files, strict=True) if not os.path.isfile(f)]
    if missing:
        number, first = missing[0]
        raise SemreadyError(f"file list {p} names {len(missing)} missing file(s) of {len(files)}, the first "
                            f"{first} (line {number}): fix or remove those lines (relative paths are read from "
                            f"{base})")
    ids = [Path(name).as_posix() for _, name in entries]
    return item_source(ImageFiles(files), len(files), files=files, ids=ids)


def expand_braces(pattern: str) -> list[str]:
    """Expand webdataset's brace ranges, ``{000..002}`` (zero padding kept) and ``{a,b}``, left to right.

    Args:
        pattern: a shard pattern.

    Returns:
        Every name it stands for, in order.

    >>> expand_braces("s-{08..10}.tar")
    ['s-08.tar', 's-09.tar', 's-10.tar']
    >>> expand_braces("{a,b}{0..1}")
    ['a0', 'a1', 'b0', 'b1']
    """
    m = re.search(r"\{([^{}]*)\}", pattern)
    if m is None:
        return [pattern]
    head, tail, body = pattern[:m.start()], pattern[m.end():], m.group(1)
    r = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if r:
        width = len(r.group(1))
        parts = [str(k).zfill(width) for k in range(int(r.group(1)), int(r.group(2)) + 1)]
    else:
        parts = body.split(",")
    return [head + part + rest for part in parts for rest in expand_braces(tail)]


def _shards(pattern: str) -> list[str]:
    out = []
    for name in expand_braces(str(user_path(pattern))):
        out += sorted(glob.glob(name)) if glob.has_magic(name) else [name] if os.path.isfile(name) else []
    return out


def open_wds(pattern: str, *, download: bool = False) -> Source:
    shards = _shards(pattern)
    if not shards:
        raise SemreadyError(f"no webdataset shard matches {pattern}: check wds:PATTERN (local .tar files, e.g. "
                            "data/shard-{000..009}.tar)")
    blobs, names, ids, labels = [], [], [], []
    for shard in shards:
        samples: dict[str, dict[str, bytes]] = {}
        try:
            with tarfile.open(shard, "r:*") as tar:
                for m in tar:
                    if m.isfile():
                        folder, _, base = m.name.rpartition("/")
                        key, _, ext = base.partition(".")
                        samples.setdefault(f"{folder}/{key}" if folder else key, {})[ext.lower()] = \
                            tar.extractfile(m).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise SemreadyError(f"webdataset shard {shard} is not a readable tar file ({_line(e)}): write it "
                                "again, or leave it out of the pattern") from None
        for key, members in samples.items():
            image = next((ext for ext in members if f".{ext}" in IMAGE_EXTENSIONS), None)
            if image is None:
                continue
            blobs.append(members[image])
            names.append(f"{shard}#{key}.{image}")
            ids.append(f"{Path(shard).name}/{key}")
            labels.append(members.get("cls"))
    if not blobs:
        raise SemreadyError(f"the webdataset shards {pattern} hold no images: store each sample's image as "
                            f"<key>.png|.jpg|... in the tar files")
    y = None
    if all(v is not None for v in labels):
        try:
            y = np.array([int(v.decode().strip()) for v in labels], dtype=np.int64)
        except (UnicodeDecodeError, ValueError):
            raise SemreadyError(f"webdataset shards {pattern}: a 'cls' member is not an integer: store each "
                                "label as text, e.g. 3") from None
        if y.min() < -1:
            raise SemreadyError(f"webdataset shards {pattern}: labels go down to {y.min()}: store label indices "
                                ">= 0 (-1 marks an unlabelled item)")
    return item_source(ImageBlobs(blobs, names), len(blobs), labels=y, ids=ids)


__all__ = ["IMAGE_EXTENSIONS", "ImageBlobs", "ImageFiles", "expand_braces", "item_source", "open_folder",
           "open_list", "open_wds", "pil_to_array", "read_image"]
