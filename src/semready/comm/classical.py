"""The classical path (docs/protocol.md §6): real codecs on real bytes, headers counted, header-stripped reported.

- ``png``: lossless PNG through Pillow (the default); passes any fidelity target.
- ``jpeg`` / ``webp``: the lowest quality (1–100, binary search) whose decoded item meets the fidelity target;
  an item no quality can bring to the target is sent as PNG instead (so the classical path never fails).
- ``best``: the smallest of png / jpeg / webp that meets the target.
- ``zlib`` / ``lzma``: general-purpose lossless compression of the item's raw bytes (for byte streams).

Header-stripped sizes: PNG — the IDAT payloads; JPEG — the entropy-coded data after the SOS header; WebP — the
VP8/VP8L chunk payload; zlib — the raw deflate stream (no 2-byte header, no 4-byte checksum); lzma — the raw
LZMA2 stream (no .xz container).
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from semready.comm.kpi import psnr_db
from semready.errors import SemreadyError

CODECS = ("png", "jpeg", "webp", "best", "zlib", "lzma")
_LZMA_RAW = [{"id": lzma.FILTER_LZMA2}]


@dataclass
class Encoded:
    """One classically coded item.

    Attributes:
        payload: the bytes that go on the wire, headers included.
        codec: the codec actually used (``png`` when a lossy codec could not meet the target).
        quality: the JPEG/WebP quality chosen, None for lossless codecs.
        header_stripped_bytes: the payload without container headers (see the module docstring).
    """

    payload: bytes
    codec: str  # the codec actually used
    quality: int | None
    header_stripped_bytes: int

    @property
    def bits(self) -> int:
        """The payload's length in bits, headers included."""
        return 8 * len(self.payload)


def _image(item: np.ndarray) -> Image.Image:
    """uint8 C×H×W -> PIL image (RGB or L)."""
    hwc = np.ascontiguousarray(item.transpose(1, 2, 0))
    return Image.fromarray(hwc[..., 0] if hwc.shape[2] == 1 else hwc)


def _to_array(img: Image.Image, channels: int) -> np.ndarray:
    arr = np.asarray(img.convert("L" if channels == 1 else "RGB"))
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)).copy()


def _png_stripped(data: bytes) -> int:
    pos, total = 8, 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            total += length
        pos += 12 + length
    return total


def _jpeg_stripped(data: bytes) -> int:
    sos = data.find(b"\xff\xda")
    if sos < 0:
        return len(data)
    header = struct.unpack(">H", data[sos + 2:sos + 4])[0]
    return max(len(data) - (sos + 2 + header) - 2, 0)  # minus the EOI marker


def _webp_stripped(data: bytes) -> int:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if kind in (b"VP8 ", b"VP8L"):
            return length
        pos += 8 + length + (length & 1)
    return len(data)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _lossy(item: np.ndarray, fmt: str, psnr_target: float) -> Encoded | None:
    """Binary search for the lowest quality meeting the target; None if even quality 100 does not."""
    img = _image(item)
    kw = {"subsampling": 0} if fmt == "JPEG" else {}

    def attempt(quality: int) -> bytes | None:
        data = _save(img, fmt, quality=quality, **kw)
        back = _to_array(Image.open(io.BytesIO(data)), item.shape[0])
        ok = float(psnr_db(_t(back), _t(item))[0]) >= psnr_target
        return data if ok else None

    lo, hi, best = 1, 100, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = attempt(mid)
        if data is not None:
            best, hi = (mid, data), mid - 1
        else:
            lo = mid + 1
    if best is None:
        return None
    stripped = _jpeg_stripped(best[1]) if fmt == "JPEG" else _webp_stripped(best[1])
    return Encoded(best[1], fmt.lower(), best[0], stripped)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).reshape(1, -1)


def encode_item(item: np.ndarray, codec: str, psnr_target: float) -> Encoded:
    """Encode one item with a classical codec at the fidelity target.

    Args:
        item: uint8 C×H×W, C in 1, 3.
        codec: one of ``CODECS``.
        psnr_target: the fidelity target in dB (used by the lossy codecs).

    Returns:
        The :class:`Encoded` item; never fails the target (PNG is the fallback).

    >>> item = np.full((3, 8, 8), 128, dtype=np.uint8)
    >>> enc = encode_item(item, "png", 40.0)
    >>> enc.codec, enc.quality, bool((decode_item(enc, item.shape) == item).all())
    ('png', None, True)
    """
    if codec not in CODECS:
        raise SemreadyError(f"unknown classical codec {codec!r}: choose one of {', '.join(CODECS)}")
    if codec == "zlib":
        data = zlib.compress(item.tobytes(), 9)
        return Encoded(data, "zlib", None, len(data) - 6)
    if codec == "lzma":
        data = lzma.compress(item.tobytes(), format=lzma.FORMAT_XZ)
        return Encoded(data, "lzma", None, len(lzma.compress(item.tobytes(), format=lzma.FORMAT_RAW,
                                                             filters=_LZMA_RAW)))
    formats = {"png": [], "best": ["JPEG", "WEBP"]}.get(codec, [codec.upper()])
    found = [e for e in (_lossy(item, f, psnr_target) for f in formats) if e is not None]
    if found and codec != "best":
        return found[0]
    png = _save(_image(item), "PNG", optimize=True)  # the default, the fallback, and a candidate of "best"
    return min(found + [Encoded(png, "png", None, _png_stripped(png))], key=lambda e: len(e.payload))


def decode_item(enc: Encoded, shape: tuple[int, int, int]) -> np.ndarray:
    """The receiver's side: bytes back to an item.

    Args:
        enc: what :func:`encode_item` produced.
        shape: the item's C×H×W (needed by the raw byte codecs).

    Returns:
        uint8 C×H×W.

    >>> item = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    >>> bool((decode_item(encode_item(item, "zlib", 40.0), (3, 4, 4)) == item).all())
    True
    """
    if enc.codec == "zlib":
        return np.frombuffer(zlib.decompress(enc.payload), dtype=np.uint8).reshape(shape).copy()
    if enc.codec == "lzma":
        return np.frombuffer(lzma.decompress(enc.payload), dtype=np.uint8).reshape(shape).copy()
    return _to_array(Image.open(io.BytesIO(enc.payload)), shape[0])
