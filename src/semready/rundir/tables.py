"""The run folder's tables: column names, and the one CSV reader and writer every table goes through."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.errors import SemreadyError

SAMPLE_COLUMNS = ("index", "cluster", "confidence", "learnability", "rank", "split")
ID_COLUMNS = ("id", "path")  # after ``index`` when the items carry them (docs/data.md, "Item identity")
ROUTE_COLUMNS = ("index", "id", "path", "cluster", "confidence", "learnability", "split")
CLUSTER_COLUMNS = ("cluster", "size", "confidence", "rank", "learnable_share", "split")
LOG_COLUMNS = ("epoch", "steps", "loss", "l_i", "l_d", "anti_collapse", "marginal_entropy", "empty_clusters",
               "revived", "collapsed", "lr", "images_per_s", "seconds", "processes", "cluster_sizes")
ITEM_KPI_COLUMNS = ("scheme", "index", "path", "bits", "psnr_db", "passed", "impact")


def read_rows(path: Path, fix: str) -> list[dict[str, str]]:
    """A CSV file we wrote, as rows (column -> text).

    Args:
        path: the CSV file.
        fix: the end of the error message for a missing, binary or malformed file.

    Returns:
        One dict per data row.

    Raises:
        SemreadyError: the file is missing, binary or malformed (one line ending in ``fix``).
    """
    if not path.is_file():
        raise SemreadyError(f"{path.parent} has no {path.name}: {fix}")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error):
        raise SemreadyError(f"{path} is corrupt: {fix}") from None


def write_table(path: Path, columns: tuple[str, ...] | list[str], table: dict[str, Any]) -> None:
    """Columns of equal length as one CSV file, atomically; floats with 6 decimals.

    Args:
        path: the CSV file.
        columns: the column names, in order.
        table: column name -> sequence of length N (extra keys are ignored).
    """
    with io.atomic_text(path) as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in zip(*(table[c] for c in columns), strict=True):
            writer.writerow([f"{v:.6f}" if isinstance(v, float | np.floating) else v for v in row])
