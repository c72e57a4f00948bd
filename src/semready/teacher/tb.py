"""TensorBoard event files next to log.csv, when the optional ``tensorboard`` package is installed.

``pip install 'semready[tb]'``, then ``tensorboard --logdir RUN/tb``. Per epoch: the losses, the normalised
marginal entropy, the learning rate, images/s, and the cluster sizes as a histogram over cluster indices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semready.rundir import RunDir

SCALARS = ("loss", "l_i", "l_d", "anti_collapse", "marginal_entropy", "empty_clusters", "lr", "images_per_s")


def available() -> bool:
    """Whether the optional ``tensorboard`` package is installed."""
    try:
        import torch.utils.tensorboard  # noqa: F401  (needs the tensorboard package)
    except ImportError:
        return False
    return True


class EpochWriter:
    """Writes one epoch row of log.csv as TensorBoard events; a no-op without tensorboard.

    Args:
        run_dir: the run folder; events go to its ``tb/``.
        first_epoch: the epochs already completed (a resumed run drops later events).

    >>> tb = EpochWriter(Path("runs/x"), first_epoch=0)  # doctest: +SKIP
    >>> tb.write(trainer.log[-1]); tb.close()           # doctest: +SKIP
    """

    def __init__(self, run_dir: Path, first_epoch: int):
        self._w: Any = None
        self._run_dir, self._first_epoch = run_dir, first_epoch

    def _writer(self) -> Any:
        # opened at the first write, which follows the epoch's checkpoint: a run killed in its first epoch
        # leaves no tb/ folder behind, so it can simply be started again
        if self._w is None and available():
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: a resumed run drops events past its checkpoint, so curves never double back.
            first = self._first_epoch
            self._w = SummaryWriter(str(RunDir(self._run_dir).tb), purge_step=first + 1 if first else None)
        return self._w

    def write(self, row: dict) -> None:
        """Log one epoch: the :data:`SCALARS` and the cluster sizes as a histogram over cluster indices.

        Args:
            row: one epoch row of the training log (``epoch``, the scalars, ``cluster_sizes``).
        """
        if self._writer() is None:
            return
        step = row["epoch"]
        for key in SCALARS:
            self._w.add_scalar(f"train/{key}", float(row[key]), step)
        sizes = row["cluster_sizes"]
        total = sum(sizes)
        if total:
            self._w.add_histogram_raw(
                "train/cluster_sizes", min=0, max=len(sizes) - 1, num=total,
                sum=float(sum(i * s for i, s in enumerate(sizes))),
                sum_squares=float(sum(i * i * s for i, s in enumerate(sizes))),
                bucket_limits=[i + 0.5 for i in range(len(sizes))], bucket_counts=[float(s) for s in sizes],
                global_step=step)
        self._w.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._w is not None:
            self._w.close()
