"""What a person reads: the run's plots (:mod:`~semready.report.plots`) and the self-contained HTML report
(:mod:`~semready.report.html`; its KPI table :mod:`~semready.report.kpis`, its item thumbnails
:mod:`~semready.report.thumbs`, its HTML pieces :mod:`~semready.report.markup`)."""

from semready.report.html import RUN_SECTIONS, SECTIONS, SWEEP_SECTIONS, build_report, report_sections

__all__ = ["RUN_SECTIONS", "SECTIONS", "SWEEP_SECTIONS", "build_report", "report_sections"]
