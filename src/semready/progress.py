"""Progress bars with elapsed time and ETA (rich), or nothing when they are switched off."""

from __future__ import annotations

from contextlib import nullcontext

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bars(enabled: bool = True) -> Progress | nullcontext:
    """A context giving a transient :class:`rich.progress.Progress` (description, bar, n/total, elapsed, ETA),
    or None when ``enabled`` is False.

    Args:
        enabled: False for quiet runs (``--quiet``, non-main DDP ranks, tests).

    Returns:
        A context manager; ``with progress_bars(False) as p`` gives ``p = None``.

    >>> with progress_bars(False) as p:
    ...     p is None
    True
    """
    if not enabled:
        return nullcontext()
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
