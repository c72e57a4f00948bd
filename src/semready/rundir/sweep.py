"""SweepDir: the reproduction folder's files (see :mod:`semready.rundir`)."""

from __future__ import annotations

from pathlib import Path

from semready.rundir.run import RunDir


class SweepDir:
    """A reproduction folder (``semready reproduce --out DIR``): its files and its jobs' folders.

    Args:
        path: the folder (need not exist yet).

    Attributes:
        results, summary, report_md, report, jobs: the paths of ``results.csv``, ``summary.json``, ``report.md``,
            ``report.html`` and ``jobs/``.

    >>> SweepDir("out").job("high", 3).as_posix()
    'out/jobs/high_s3'
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    results = property(lambda self: self.path / "results.csv")
    summary = property(lambda self: self.path / "summary.json")
    report_md = property(lambda self: self.path / "report.md")
    report = property(lambda self: self.path / "report.html")
    splits = property(lambda self: self.path / "splits")
    jobs = property(lambda self: self.path / "jobs")

    def job(self, level: str, seed: int) -> Path:
        """``jobs/<level>_s<seed>``: one (level, seed) job's folder."""
        return self.jobs / f"{level}_s{seed}"

    @staticmethod
    def job_result(job_dir: Path) -> Path:
        """A job's result file, written last: its presence means the job is done."""
        return Path(job_dir) / "job.json"

    @staticmethod
    def job_stream(job_dir: Path) -> Path:
        """The job's stream as an npz file (what its teacher trains on)."""
        return Path(job_dir) / "stream.npz"

    @staticmethod
    def job_families(job_dir: Path) -> Path:
        """Each stream item's family (``clean``, ``noise``, ``scrambled``, ``rare``), a .npy array."""
        return Path(job_dir) / "family.npy"

    @staticmethod
    def job_run(job_dir: Path) -> RunDir:
        """The run folder of a job's teacher."""
        return RunDir(Path(job_dir) / "run")

    def job_runs(self) -> list[Path]:
        """The run folders of every job, sorted."""
        return sorted(self.jobs.glob("*/run"))

    def figures(self) -> list[Path]:
        """The figure PNGs (Fig. 2 first, then Fig. 3)."""
        return sorted(self.path.glob("fig2_*.png")) + sorted(self.path.glob("fig3_*.png"))

    def is_sweep(self) -> bool:
        """Whether the folder holds a reproduction's results, report or figures."""
        return self.results.is_file() or self.report_md.is_file() or bool(self.figures())
