"""A stream left on disk: image files decoded batch by batch, in worker processes, as the stages ask for them.

``load_data(spec, stream=True)`` (config ``data.stream``) returns an :class:`~semready.data.ImageData` whose
``images`` is a :class:`StreamedImages` instead of one uint8 N×3×H×W tensor: nothing but the file list is held in
memory. It answers what the stages read of a tensor — ``len``, ``shape``, indexing by an int, a slice, an index
tensor or a boolean mask (decoded here, in this process) — and :func:`ordered_batches` streams an epoch's batches
in any order through a torch ``DataLoader`` whose workers decode whole batches ahead of the training step.

The split's pixel statistics are kept at their working resolution only (:meth:`StreamedImages.pixel_vectors`,
computed once per resolution in one streamed pass), so the description test needs N·D floats at D = 3·16·16,
not the stream's full-size pixels.

>>> data = load_data("folder:photos", stream=True)  # doctest: +SKIP
>>> data.images.shape, data.images[0].shape         # doctest: +SKIP
(torch.Size([50000, 3, 32, 32]), torch.Size([3, 32, 32]))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from semready.data.formats import Source, to_rgb
from semready.data.parallel import mismatch
from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError


class _Decoded(Dataset):
    """Item i of a source, decoded and converted: what one worker process computes."""

    def __init__(self, src: Source, image_size: int | None, size: torch.Size):
        self.item, self.image_size, self.size = src.item, image_size, size

    def __len__(self) -> int:  # pragma: no cover - the DataLoader reads it only with a sampler we do not pass
        raise TypeError("indexed by batch_sampler only")

    def __getitem__(self, i: int) -> torch.Tensor | str:
        try:
            x = to_rgb(self.item(i)[None], self.image_size)[0]
        except SemreadyError as e:  # sent back as text: DataLoader would wrap it in a multi-line traceback
            return str(e)
        if x.shape[-2:] != self.size:
            return str(mismatch(self.item.name(i), x.shape[-2:], self.size))
        return x


def _stack(items: list) -> torch.Tensor | str:
    """A batch of decoded items, or the first item's error text."""
    return next((x for x in items if isinstance(x, str)), None) or torch.stack(items)


class StreamedImages:
    """A source of encoded images as a lazily decoded uint8 N×3×H×W "tensor".

    Args:
        src: an opened source with ``item`` (``folder:``, ``list:``, ``wds:``, ``hf:``).
        image_size: as in :func:`~semready.data.formats.to_rgb`.
        workers: processes decoding :meth:`batches` (0: this process).

    Attributes:
        shape: torch.Size (N, 3, H, W), H×W from the first item; an item of another size is refused in one line
            when it is decoded.
    """

    ndim = 4
    dtype = torch.uint8

    def __init__(self, src: Source, image_size: int | None, workers: int):
        if src.item is None:
            raise SemreadyError("data.stream needs a source of image files (folder:, list:, wds:, hf:): arrays "
                                "(npz:, bytes:, cifar, sample) are read whole; set data.stream to false")
        if src.n == 0:
            raise SemreadyError("the data source is empty: point --data at a source with items")
        self.src, self.image_size, self.workers = src, image_size, workers
        first = to_rgb(src.item(0)[None], image_size)
        self.shape = torch.Size([src.n, *first.shape[1:]])
        self._decoded = _Decoded(src, image_size, self.shape[-2:])
        self._pixels: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.src.n

    def _indices(self, key) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            return np.arange(*key.indices(n))
        idx = np.asarray(key.cpu() if isinstance(key, torch.Tensor) else key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"a boolean mask of shape {idx.shape} for {n} items")
            return np.flatnonzero(idx)
        if idx.ndim != 1:
            raise IndexError(f"streamed images take 1-D index arrays, got {idx.ndim}-D")
        idx = idx.astype(np.int64)
        if ((idx < -n) | (idx >= n)).any():
            raise IndexError(f"index {int(idx[(idx < -n) | (idx >= n)][0])} is out of range for {n} items")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, (int, np.integer)) or (isinstance(key, (torch.Tensor, np.ndarray)) and key.ndim == 0
                                                   and key.dtype != bool):
            return self[[int(key)]][0]
        out = [self._decoded[int(i)] for i in self._indices(key)]
        batch = _stack(out) if out else torch.empty((0, *self.shape[1:]), dtype=torch.uint8)
        if isinstance(batch, str):
            raise SemreadyError(batch)
        return batch

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """The items of ``order``, ``batch_size`` at a time (the last may be smaller), decoded by the workers.

        Args:
            order: item indices, int (K,).
            batch_size: items per batch.

        Returns:
            An iterator of uint8 B×3×H×W, in ``order``'s order; a user error raises SemreadyError here.
        """
        chunks = [order[s:s + batch_size].tolist() for s in range(0, len(order), batch_size)]
        if self.workers == 0 or len(chunks) < 2:
            yield from (self[c] for c in chunks)
            return
        # its own generator: a DataLoader draws a base seed from torch's global one otherwise, and a streamed run
        # would then draw other dropout masks than the same run in memory
        loader = DataLoader(self._decoded, batch_sampler=chunks, num_workers=self.workers, collate_fn=_stack,
                            prefetch_factor=4, persistent_workers=False, generator=torch.Generator().manual_seed(0))
        for batch in loader:
            if isinstance(batch, str):
                raise SemreadyError(batch)
            yield batch

    def pixel_vectors(self, resolution: int, batch_size: int = 512) -> torch.Tensor:
        """:func:`semready.data.pixels.pixel_vectors` of every item, in one streamed pass (cached per resolution).

        Returns:
            float N×D.
        """
        if resolution not in self._pixels:
            parts = [pixel_vectors(b, resolution) for b in self.batches(torch.arange(len(self)), batch_size)]
            self._pixels = {resolution: torch.cat(parts)}  # one resolution at a time: the split uses one
        return self._pixels[resolution]


def ordered_batches(images: torch.Tensor | StreamedImages, order: torch.Tensor,
                    batch_size: int) -> Iterator[torch.Tensor]:
    """``images[order]``, ``batch_size`` items at a time: indexed in memory, or decoded by a stream's workers.

    Args:
        images: uint8 N×3×H×W, in memory or :class:`StreamedImages`.
        order: item indices, int (K,).
        batch_size: items per batch (the last may be smaller).

    Returns:
        An iterator of uint8 B×3×H×W.

    >>> images = torch.arange(5, dtype=torch.uint8).reshape(5, 1, 1, 1)
    >>> [b.flatten().tolist() for b in ordered_batches(images, torch.tensor([4, 0, 2]), 2)]
    [[4, 0], [2]]
    """
    if isinstance(images, StreamedImages):
        yield from images.batches(order, batch_size)
        return
    for s in range(0, len(order), batch_size):
        yield images[order[s:s + batch_size]]


__all__ = ["StreamedImages", "ordered_batches"]
