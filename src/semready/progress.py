"""Progress bars with elapsed time and ETA (rich) on stderr, or nothing when they are switched off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bars(enabled: bool = True) -> Progress | nullcontext:
    """A context giving a transient :class:`rich.progress.Progress` (description, bar, n/total, elapsed, ETA) on
    stderr, or None when ``enabled`` is False or stderr is not a terminal.

    Args:
        enabled: False for quiet runs (``--quiet``, non-main DDP ranks, tests).

    Returns:
        A context manager; ``with progress_bars(False) as p`` gives ``p = None``.

    >>> with progress_bars(False) as p:
    ...     p is None
    True
    """
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        return nullcontext()
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)


class Task:
    """One progress bar: ``advance(n)`` by n units, ``describe(text)`` to say what is being done; a no-op when
    progress is off.

    >>> with task("routing", 10, enabled=False) as t:
    ...     t.advance(3)
    ...     t.done
    3
    """

    def __init__(self, progress: Progress | None, description: str, total: float | None):
        self._progress = progress
        self._id = progress.add_task(description, total=total) if progress is not None else None
        self.done = 0

    def advance(self, n: float = 1) -> None:
        self.done += n
        if self._progress is not None:
            self._progress.advance(self._id, n)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._id, description=description)


@contextmanager
def task(description: str, total: float | None, enabled: bool = True) -> Iterator[Task]:
    """A context giving one :class:`Task` bar (``total`` units; None for an unknown total).

    Args:
        description: what is being done.
        total: the number of units (items, batches, stages).
        enabled: False for no bar (see :func:`progress_bars`).

    Yields:
        The :class:`Task`.
    """
    with progress_bars(enabled) as progress:
        yield Task(progress, description, total)


__all__ = ["Task", "progress_bars", "task"]
