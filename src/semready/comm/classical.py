"""The classical path (docs/protocol.md §6): real codecs on real bytes, headers counted, header-stripped reported.

- ``best`` (the default): the smallest of png / jpeg / webp that meets the target — the fair baseline, held to
  the same fidelity target as the semantic items and no stricter.
- ``png``: lossless PNG through Pillow; passes any fidelity target, usually at several times the bytes.
- ``jpeg`` / ``webp`` / ``avif``: the lowest quality (1–100, binary search) whose decoded item meets the
  fidelity target; an item no quality can bring to the target is sent as PNG instead (so the classical path never
  fails). AVIF (libavif through Pillow) codes 4:4:4 at speed 8, one thread.
- ``jpeg2000``: the same search over OpenJPEG's PSNR layer target (its ``quality`` is that target in tenths of a
  dB, 1–1000; 9/7 irreversible wavelet, a raw J2K codestream without the JP2 container). The target OpenJPEG
  aims at is its own estimate, so the search checks every decoded item, as for the other codecs.
  The search assumes that pass/fail is monotone in quality; JPEG's is, WebP's is not for about 1 item in 8
  (a higher quality can fail where a lower one passes), so on some 5 % of items the WebP quality found is not
  the lowest passing one (a few bytes more; docs/kpis.md).
- ``zlib`` / ``lzma``: general-purpose lossless compression of the item's raw bytes (for byte streams).

Header-stripped sizes: PNG — the IDAT payloads; JPEG — the entropy-coded data after the SOS header; WebP — the
VP8/VP8L chunk payload; JPEG 2000 — the tile data after the SOD marker; AVIF — the ``mdat`` box payload; zlib —
the raw deflate stream (no 2-byte header, no 4-byte checksum); lzma — the raw LZMA2 stream (no .xz container).
"""

from __future__ import annotations

import functools
import io
import lzma
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import PIL
import torch
from PIL import Image, features

from semready.comm.kpi import psnr_db
from semready.errors import SemreadyError

CODECS = ("png", "jpeg", "webp", "jpeg2000", "avif", "best", "zlib", "lzma")
LOSSY = ("jpeg", "webp", "jpeg2000", "avif")  # the codecs that search a quality for the fidelity target
AVIF_SPEED = 8  # 0 (slowest) .. 10: 8 halves the search's time of Pillow's default 6, sizes within 1.5 %
# codec -> (Pillow format, Pillow feature to check or None, highest quality searched)
_FORMATS = {"jpeg": ("JPEG", None, 100), "webp": ("WEBP", None, 100), "jpeg2000": ("JPEG2000", "jpg_2000", 1000),
            "avif": ("AVIF", "avif", 100)}
_LZMA_RAW = [{"id": lzma.FILTER_LZMA2}]


@dataclass
class Encoded:
    """One classically coded item.

    Attributes:
        payload: the bytes that go on the wire, headers included.
        codec: the codec actually used (``png`` when a lossy codec could not meet the target).
        quality: the quality chosen (JPEG/WebP/AVIF: 1–100; JPEG 2000: its PSNR layer target in tenths of a dB),
            None for lossless codecs.
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


def _j2k_stripped(data: bytes) -> int:
    """A one-tile J2K codestream: the bytes between the SOD marker and the closing EOC marker."""
    sod = data.find(b"\xff\x93")
    return len(data) if sod < 0 else max(len(data) - (sod + 2) - 2, 0)


def _avif_stripped(data: bytes) -> int:
    """The payload of the top-level ``mdat`` boxes (the AV1 data); the rest is the HEIF container."""
    pos, total = 0, 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:  # a 64-bit size follows the type
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - pos
        if size < head:
            break
        if kind == b"mdat":
            total += size - head
        pos += size
    return total or len(data)


_STRIPPED = {"JPEG": _jpeg_stripped, "WEBP": _webp_stripped, "JPEG2000": _j2k_stripped, "AVIF": _avif_stripped}


def available(codec: str) -> None:
    """Refuse, in one line, a codec this Pillow was built without (JPEG 2000 needs OpenJPEG, AVIF libavif).

    Args:
        codec: one of ``CODECS``.

    >>> available("png")
    """
    feature = _FORMATS.get(codec, (None, None, 0))[1]
    if feature is None:
        return
    try:
        ok = features.check(feature)
    except ValueError:  # a Pillow too old to know the feature at all
        ok = False
    if not ok:
        raise SemreadyError(f"this Pillow ({PIL.__version__}) cannot write {codec} (built without "
                            f"{'OpenJPEG' if codec == 'jpeg2000' else 'libavif'}): install a Pillow wheel that has "
                            f"it (pip install -U pillow) or choose another codec")


def _options(fmt: str, quality: int, mode: str) -> dict:
    """Pillow's save options for one quality of a lossy format."""
    if fmt == "JPEG":
        return {"quality": quality, "subsampling": 0}
    if fmt == "JPEG2000":
        return {"quality_mode": "dB", "quality_layers": [quality / 10], "irreversible": True, "no_jp2": True}
    if fmt == "AVIF":
        return {"quality": quality, "speed": AVIF_SPEED, "max_threads": 1,
                "subsampling": "4:0:0" if mode == "L" else "4:4:4"}
    return {"quality": quality}


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _meets(back: np.ndarray, item: np.ndarray, psnr_target: float) -> bool:
    """Whether ``back`` (decoded) meets the target against ``item``, exactly as :func:`psnr_db` decides.

    The squared error is summed in integers (exact); only a PSNR within 1e-9 dB of the target is handed to
    :func:`psnr_db` itself, so no decision differs from the receiver's check while most skip torch's overhead.
    """
    sse = int(np.square(back.astype(np.int64) - item.astype(np.int64)).sum())
    if sse == 0:
        return True  # inf dB
    psnr = 10 * math.log10(255.0 ** 2 / (sse / item.size))
    if abs(psnr - psnr_target) > 1e-9:
        return psnr >= psnr_target
    return float(psnr_db(_t(back), _t(item))[0]) >= psnr_target


def _decode_hwc(data: bytes, fmt: str, channels: int) -> np.ndarray:
    """Decoded bytes as H×W (one channel) or H×W×3; naming the format skips Pillow's probing of the others."""
    img = Image.open(io.BytesIO(data), formats=[fmt])
    mode = "L" if channels == 1 else "RGB"
    return np.asarray(img if img.mode == mode else img.convert(mode))


@functools.cache
def _jpeg_overhead(mode: str) -> int:
    """Bytes of every JPEG this module writes besides its entropy-coded data: a lower bound on its size.

    Pillow writes the same headers (standard Huffman tables, one quantisation table per component class) at
    every quality and image size; the smaller of qualities 1 and 100 covers 16-bit quantisation tables.
    """
    img = Image.new(mode, (1, 1))
    return min(len(d) - _jpeg_stripped(d) for d in (_save(img, "JPEG", quality=q, subsampling=0) for q in (1, 100)))


def _lossy(item: np.ndarray, fmt: str, psnr_target: float, top: int = 100) -> Encoded | None:
    """Binary search for the lowest quality (1..``top``) meeting the target; None if even ``top`` does not."""
    img = _image(item)
    ref = item[0] if item.shape[0] == 1 else item.transpose(1, 2, 0)  # the decoder's H×W(×3) layout

    def attempt(quality: int) -> bytes | None:
        data = _save(img, fmt, **_options(fmt, quality, img.mode))
        return data if _meets(_decode_hwc(data, fmt, item.shape[0]), ref, psnr_target) else None

    lo, hi, best = 1, top, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = attempt(mid)
        if data is not None:
            best, hi = (mid, data), mid - 1
        else:
            lo = mid + 1
    if best is None:
        return None
    codec = next(c for c, f in _FORMATS.items() if f[0] == fmt)
    return Encoded(best[1], codec, best[0], _STRIPPED[fmt](best[1]))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).reshape(1, -1)


def _best(item: np.ndarray, psnr_target: float) -> Encoded:
    """The smallest of png / jpeg / webp meeting the target; on equal sizes jpeg, then webp, then png.

    PNG and WebP go first; the JPEG search is skipped when JPEG's header bytes alone exceed the smallest so
    far (at 16×16 and 32×32 RGB WebP is usually under JPEG's 625 header bytes), which changes no pick.
    """
    png = _save(_image(item), "PNG", optimize=True)
    png_enc = Encoded(png, "png", None, _png_stripped(png))
    webp = _lossy(item, "WEBP", psnr_target)
    smallest = min(len(png), len(webp.payload)) if webp is not None else len(png)
    mode = "L" if item.shape[0] == 1 else "RGB"
    jpeg = _lossy(item, "JPEG", psnr_target) if _jpeg_overhead(mode) <= smallest else None
    found = [e for e in (jpeg, webp) if e is not None]
    return min(found + [png_enc], key=lambda e: len(e.payload))  # min keeps the first of equal sizes


def encode_item(item: np.ndarray, codec: str, psnr_target: float) -> Encoded:
    """Encode one item with a classical codec at the fidelity target.

    Args:
        item: uint8 C×H×W, C in 1, 3.
        codec: one of ``CODECS``: ``best`` (the default of ``comm.classical_codec``), ``png`` (lossless), ...
        psnr_target: the fidelity target in dB (used by the lossy codecs).

    Returns:
        The :class:`Encoded` item; never fails the target (PNG is the fallback).

    >>> item = np.full((3, 8, 8), 128, dtype=np.uint8)
    >>> enc = encode_item(item, "png", 40.0)
    >>> enc.codec, enc.quality, bool((decode_item(enc, item.shape) == item).all())
    ('png', None, True)
    >>> ramp = np.broadcast_to(np.arange(0, 256, 8, dtype=np.uint8), (3, 32, 32)).copy()
    >>> best = encode_item(ramp, "best", 30.0)
    >>> best.codec != "png", len(best.payload) < len(encode_item(ramp, "png", 30.0).payload)
    (True, True)
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
    available(codec)
    if codec == "best":
        return _best(item, psnr_target)
    found = _lossy(item, _FORMATS[codec][0], psnr_target, _FORMATS[codec][2]) if codec in LOSSY else None
    if found is not None:
        return found
    png = _save(_image(item), "PNG", optimize=True)  # lossless, and the lossy codecs' fallback
    return Encoded(png, "png", None, _png_stripped(png))


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
    fmt = _FORMATS[enc.codec][0] if enc.codec in _FORMATS else "PNG"
    return _to_array(Image.open(io.BytesIO(enc.payload), formats=[fmt]), shape[0])
