"""Decoding encoded images in batches, in the main process or in worker processes (a torch ``DataLoader``).

A source whose items decode one at a time (``Source.item``: image files, tar shards, Hugging Face rows) is cut into
batches; each batch is decoded and converted (:func:`~semready.data.formats.to_rgb`) by one worker, and the
batches come back in order. A user error inside a worker (a file that cannot be read) comes back as its one-line
message and is raised in the main process, as it would be without workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from semready.data.formats import Source, to_rgb
from semready.errors import SemreadyError

MIN_ITEMS_FOR_WORKERS = 1024  # below this, starting the worker processes costs more than it saves


def auto_workers(src: Source, workers: int | None) -> int:
    """How many worker processes decode ``src``.

    Args:
        src: the opened source.
        workers: the caller's choice; None: ``min(8, CPU count)`` for a source of encoded images with at least
            ``MIN_ITEMS_FOR_WORKERS`` items, else 0.

    Returns:
        0 (decode in the main process) or the number of workers.
    """
    if src.item is None:
        return 0
    if workers is None:
        return min(8, os.cpu_count() or 1) if src.n >= MIN_ITEMS_FOR_WORKERS else 0
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SemreadyError(f"workers must be an integer >= 0, got {workers!r}: pass e.g. workers=4 (0: no workers)")
    return workers


def decode_batch(item, start: int, stop: int, image_size: int | None) -> torch.Tensor | list[torch.Tensor]:
    """Items ``start..stop-1`` decoded one by one and converted to uint8 B×3×H×W.

    Args:
        item: the source's ``item`` (``item(i)`` -> H×W×C, ``item.name(i)``).
        start, stop: the item range.
        image_size: as in :func:`~semready.data.formats.to_rgb`.

    Returns:
        uint8 B×3×H×W; where the images differ in size, the B uint8 1×3×H×W (the caller names the odd one: only it
        knows the size of the batches before).
    """
    out = [to_rgb(item(i)[None], image_size) for i in range(start, stop)]
    return torch.cat(out) if len({t.shape for t in out}) == 1 else out


def mismatch(name: str, got, want) -> SemreadyError:
    """The error for an image whose size differs from the earlier ones'."""
    return SemreadyError(f"{name} is {got[0]}×{got[1]} (H×W) but earlier images are {want[0]}×{want[1]}: pass "
                         "image_size (--image-size) to resize them all")


class _Batches(Dataset):
    def __init__(self, item, n: int, batch_size: int, image_size: int | None):
        self.item, self.n, self.batch_size, self.image_size = item, n, batch_size, image_size

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, k: int) -> torch.Tensor | list[torch.Tensor] | str:
        start = k * self.batch_size
        try:
            return decode_batch(self.item, start, min(start + self.batch_size, self.n), self.image_size)
        except SemreadyError as e:  # sent back as text: DataLoader would wrap it in a multi-line traceback
            return str(e)


def decoded_batches(src: Source, batch_size: int, image_size: int | None,
                    workers: int) -> Iterator[torch.Tensor | list[torch.Tensor]]:
    """``src``'s items in order, ``batch_size`` at a time, decoded by ``workers`` processes (0: here).

    Args:
        src: a source with ``item``.
        batch_size: items per batch (the last may be smaller).
        image_size: as in :func:`~semready.data.formats.to_rgb`.
        workers: worker processes.

    Returns:
        An iterator of :func:`decode_batch`'s results; a user error raises SemreadyError here, in the main process.
    """
    batches = _Batches(src.item, src.n, batch_size, image_size)
    if workers == 0:
        for start in range(0, src.n, batch_size):
            yield decode_batch(src.item, start, min(start + batch_size, src.n), image_size)
        return
    loader = DataLoader(batches, batch_size=None, shuffle=False, num_workers=workers, prefetch_factor=4)
    for out in loader:
        if isinstance(out, str):
            raise SemreadyError(out)
        yield out


__all__ = ["MIN_ITEMS_FOR_WORKERS", "auto_workers", "decode_batch", "decoded_batches", "mismatch"]
