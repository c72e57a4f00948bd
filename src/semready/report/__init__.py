"""What a person reads: the run's plots (:mod:`~semready.report.plots`) and the self-contained HTML report
(:mod:`~semready.report.html`)."""

from semready.report.html import SECTIONS, build_report

__all__ = ["SECTIONS", "build_report"]
