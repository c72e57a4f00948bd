"""RunDir: the run folder's files (the table of files: :mod:`semready.rundir`)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.config import SemreadyConfig, dump_config, load_config_file
from semready.errors import SemreadyError
from semready.rundir.tables import (
    CLUSTER_COLUMNS,
    ID_COLUMNS,
    ITEM_KPI_COLUMNS,
    LOG_COLUMNS,
    SAMPLE_COLUMNS,
    read_rows,
    write_table,
)


class RunDir:
    """A run folder: the path of each of its files, and their readers and writers.

    Args:
        path: the folder (need not exist yet).

    Attributes:
        config, checkpoint, state, log, tb, samples, clusters, split, regen, typicality, plots, metrics, kpis,
        kpi_items, rd, languages, report: the paths of the run's files and folders (see the module docstring's table).

    >>> run = RunDir("runs/demo")
    >>> run.samples.name, run.language("vanilla").as_posix()
    ('samples.csv', 'runs/demo/languages/vanilla')
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- names --------------------------------------------------------------------------------------------
    config = property(lambda self: self.path / "config.yaml")
    checkpoint = property(lambda self: self.path / "checkpoint.safetensors")
    state = property(lambda self: self.path / "state.json")
    log = property(lambda self: self.path / "log.csv")
    tb = property(lambda self: self.path / "tb")
    samples = property(lambda self: self.path / "samples.csv")
    clusters = property(lambda self: self.path / "clusters.csv")
    split = property(lambda self: self.path / "split.json")
    regen = property(lambda self: self.path / "regen.safetensors")
    typicality = property(lambda self: self.path / "typicality.safetensors")
    plots = property(lambda self: self.path / "plots")
    metrics = property(lambda self: self.path / "metrics.json")
    kpis = property(lambda self: self.path / "kpis.json")
    kpi_items = property(lambda self: self.path / "kpis_items.csv")
    rd = property(lambda self: self.path / "rd.json")
    languages = property(lambda self: self.path / "languages")
    report = property(lambda self: self.path / "report.html")
    splits = property(lambda self: self.path / "splits")

    def plot(self, stem: str) -> Path:
        """``plots/<stem>.png``."""
        return self.plots / f"{stem}.png"

    def language(self, scheme: str) -> Path:
        """``languages/<scheme>`` (the language writes ``.json`` and ``.safetensors`` beside it)."""
        return self.languages / scheme

    def is_run(self) -> bool:
        """Whether the folder holds any of a run's own files."""
        return any(p.is_file() for p in (self.config, self.log, self.samples))

    # -- creating a run -------------------------------------------------------------------------------------
    def prepare(self, resume: bool, cfg: SemreadyConfig | None = None) -> None:
        """Refuse an --out that cannot hold this run; clear what a killed run left half-done."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise SemreadyError(f"--out {out} is a file: choose a directory path")
        if resume:
            if not self.checkpoint.is_file():
                raise SemreadyError(f"--resume: {out} holds no checkpoint to resume from (no epoch finished): "
                                    "drop --resume to start it again")
            io.remove_stale_temps(out)
            return
        if not out.is_dir():
            parent = next(p for p in out.absolute().parents if p.exists())
            if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise SemreadyError(f"cannot create --out {out}: {parent} is not a writable folder; choose a "
                                    "location you can write to")
            return
        left = [p for p in out.iterdir() if not p.match(io.TEMP_GLOB)]
        # A run killed during its first checkpoint leaves only its config.yaml: the same run may start again.
        killed_early = (cfg is not None and left == [self.config]
                        and self.config.read_text(errors="replace") == dump_config(cfg))
        if left and not killed_early:
            raise SemreadyError(f"--out {out} already holds files: choose a new directory or pass --resume")
        io.remove_stale_temps(out)

    # -- config -----------------------------------------------------------------------------------------------
    def read_config(self) -> SemreadyConfig:
        """The run's resolved config; a folder without one is not a run (one-line error)."""
        if not self.path.is_dir():
            raise SemreadyError(f"run directory {self.path} does not exist: train one with `semready train --out "
                                f"{self.path}`")
        if not self.config.is_file():
            raise SemreadyError(f"{self.path} has no config.yaml: it is not a semready run directory: pass a "
                                "folder made by `semready train --out`")
        return load_config_file(self.config)

    def write_config(self, cfg: SemreadyConfig) -> None:
        """Write the resolved config as config.yaml, atomically."""
        io.write_text(self.config, dump_config(cfg))

    # -- training log -------------------------------------------------------------------------------------------
    def write_log(self, rows: list[dict]) -> None:
        """Write log.csv, one row per epoch (:data:`LOG_COLUMNS`; cluster sizes space-separated), atomically.

        Args:
            rows: the per-epoch log rows of :meth:`~semready.teacher.train.Trainer.run_epoch`.
        """
        table = {c: [r[c] for r in rows] for c in LOG_COLUMNS if c != "cluster_sizes"}
        table["cluster_sizes"] = [" ".join(map(str, r["cluster_sizes"])) for r in rows]
        with io.atomic_text(self.log) as fh:  # floats as Python prints them: the log keeps full precision
            writer = csv.writer(fh)
            writer.writerow(LOG_COLUMNS)
            writer.writerows(zip(*(table[c] for c in LOG_COLUMNS), strict=True))

    def read_log(self) -> list[dict[str, str]]:  # column -> text
        return read_rows(self.log, f"train a run: `semready train --out {self.path}`")

    # -- the split ------------------------------------------------------------------------------------------------
    def write_samples(self, items: dict[str, np.ndarray]) -> None:
        """Write samples.csv: :data:`SAMPLE_COLUMNS` (with :data:`ID_COLUMNS` after ``index`` and ``label`` last
        when present), each column (N,)."""
        ids = ID_COLUMNS if all(c in items for c in ID_COLUMNS) else ()
        columns = SAMPLE_COLUMNS[:1] + ids + SAMPLE_COLUMNS[1:] + (("label",) if "label" in items else ())
        write_table(self.samples, columns, items)

    def split_files(self) -> tuple[Path, ...]:
        """The files one split writes (and a re-split keeps in ``splits/<n>/``)."""
        return self.samples, self.clusters, self.split, self.regen, self.typicality

    def archive_split(self) -> Path | None:
        """Copy the current split's files into a new ``splits/<n>/`` (n = 1, 2, ...; made in a temporary folder,
        then renamed) before a re-split overwrites them. Returns that folder, or None where there is no split."""
        present = [f for f in self.split_files() if f.is_file()]
        if not present:
            return None
        self.splits.mkdir(exist_ok=True)
        taken = [int(p.name) for p in self.splits.iterdir() if p.name.isdigit()]
        target = self.splits / str(max(taken, default=0) + 1)
        with io.atomic_dir(target) as tmp:
            for f in present:
                shutil.copy2(f, tmp / f.name)
        return target

    def write_clusters(self, table: dict[str, np.ndarray]) -> None:
        """Write clusters.csv: :data:`CLUSTER_COLUMNS`, each column (M,)."""
        write_table(self.clusters, CLUSTER_COLUMNS, table)

    def read_sample_rows(self) -> list[dict[str, str]]:  # column -> text
        return read_rows(self.samples, f"train it first (`semready train --out {self.path}`)")

    def read_samples(self) -> dict[str, np.ndarray]:
        """samples.csv as columns: ``cluster`` (int64), ``confidence`` (float64) and ``learnable`` (bool, the
        split). A missing, corrupt or empty file is a one-line :class:`SemreadyError`."""
        rows = self.read_sample_rows()
        try:
            samples = {"cluster": np.array([int(r["cluster"]) for r in rows], dtype=np.int64),
                       "confidence": np.array([float(r["confidence"]) for r in rows]),
                       "learnable": np.array([r["split"] == "learnable" for r in rows], dtype=bool)}
        except (KeyError, ValueError, TypeError):
            raise SemreadyError(f"{self.samples} is corrupt: retrain the run") from None
        if not rows:
            raise SemreadyError(f"{self.samples} is empty: retrain the run")
        return samples

    def read_cluster_rows(self) -> list[dict[str, str]]:  # column -> text
        return read_rows(self.clusters, "its training did not finish; resume it (`semready train --resume`)")

    def read_cluster_confidence(self, n_clusters: int) -> np.ndarray:
        """C_l per cluster, exactly as the split computed it (split.json keeps it at full precision; a run split
        before it did falls back to clusters.csv's 6 decimals, 0 for a cluster the file does not list).

        Args:
            n_clusters: M.

        Returns:
            float (M,).
        """
        split = self.read_split() or {}
        exact = split.get("cluster_confidence")
        if isinstance(exact, list) and len(exact) == n_clusters and \
                all(isinstance(c, int | float) and not isinstance(c, bool) for c in exact):
            return np.array(exact, dtype=np.float64)
        conf = np.zeros(n_clusters)
        try:
            for row in self.read_cluster_rows():
                conf[int(row["cluster"])] = float(row["confidence"])
        except (KeyError, ValueError, TypeError, IndexError):
            raise SemreadyError(f"{self.clusters} is corrupt: re-split the run (`semready split {self.path}`)"
                                ) from None
        return conf

    def write_split(self, summary: dict[str, Any]) -> None:
        """Write split.json (score, policy, value, threshold, counts), atomically."""
        io.write_json(self.split, summary)

    def read_split(self) -> dict[str, Any] | None:
        """split.json as a dict, or None where the run has no split.json."""
        if not self.split.is_file():
            return None
        split = io.read_json(self.split, f"re-split the run (`semready split {self.path}`)")
        if not isinstance(split, dict):
            raise SemreadyError(f"{self.split} is not a JSON object: re-split the run (`semready split {self.path}`)")
        return split

    def split_rule(self, default: float, n_clusters: int) -> tuple[float | None, np.ndarray | None]:
        """The rule of the run's current split: (learnability threshold, None) under an item-level policy,
        (None, learnable clusters as bool (M,)) under a cluster-level one.

        Args:
            default: the threshold where split.json is absent.
            n_clusters: M.

        Returns:
            (threshold, learnable clusters), exactly one of them None.
        """
        split = self.read_split()
        keep = None if split is None else split.get("learnable_clusters")
        if keep is None:
            return self.split_threshold(default), None
        if not (isinstance(keep, list) and all(isinstance(c, int) and 0 <= c < n_clusters for c in keep)):
            raise SemreadyError(f"{self.split} lists learnable clusters outside 0..{n_clusters - 1}: re-split the run "
                                f"(`semready split {self.path}`)")
        mask = np.zeros(n_clusters, dtype=bool)
        mask[keep] = True
        return None, mask

    def split_threshold(self, default: float) -> float:
        """The learnability threshold of the run's current split (``default`` where split.json is absent)."""
        split = self.read_split()
        if split is None:
            return default
        threshold = split.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise SemreadyError(f"{self.split} has no numeric threshold: re-split the run (`semready split "
                                f"{self.path}`)")
        return float(threshold)

    # -- evaluation and KPIs ----------------------------------------------------------------------------------------
    def write_metrics(self, metrics: dict[str, Any]) -> None:  # ACC / NMI / ARI, atomically
        io.write_json(self.metrics, metrics)

    def write_kpis(self, kpis: dict[str, Any], tables: dict[str, dict[str, np.ndarray]]) -> None:
        """Write kpis.json and kpis_items.csv (one row per scheme and item).

        Args:
            kpis: the run's KPI summary (JSON-serialisable).
            tables: scheme -> per-item columns ``index, path, bits, psnr, passed, impact``, each (N,); bits,
                PSNR (dB) and impact as in docs/protocol.md §4-5.
        """
        rows: dict[str, list] = {c: [] for c in ITEM_KPI_COLUMNS}
        for scheme, t in tables.items():
            rows["scheme"] += [scheme] * len(t["index"])
            rows["index"] += [int(i) for i in t["index"]]
            rows["path"] += list(t["path"])
            rows["bits"] += [f"{b:.2f}" for b in t["bits"]]
            rows["psnr_db"] += [f"{p:.3f}" for p in t["psnr"]]
            rows["passed"] += [int(p) for p in t["passed"]]
            rows["impact"] += [f"{x:.4f}" for x in t["impact"]]
        write_table(self.kpi_items, ITEM_KPI_COLUMNS, rows)
        io.write_json(self.kpis, kpis)

    def write_rd(self, result: dict[str, Any]) -> None:
        """Write rd.json (the rate–distortion sweep, :mod:`semready.experiments.rd`), atomically."""
        io.write_json(self.rd, result)

    def read_kpi_item_rows(self) -> list[dict[str, str]]:  # column -> text
        return read_rows(self.kpi_items, f"simulate the run: `semready simulate {self.path}`")

    def read_json(self, path: Path, fix: str) -> Any:
        """One of the run's JSON files (``split``, ``metrics``, ``kpis``, ...).

        Args:
            path: the file (e.g. ``run.metrics``).
            fix: the end of the error message when it is missing or corrupt.

        Returns:
            The parsed JSON.
        """
        if not path.is_file():
            raise SemreadyError(f"{self.path} has no {path.name}: {fix}")
        return io.read_json(path, fix)
