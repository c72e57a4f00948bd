"""Experiments built on the library API: the paper's simulation sweep (:mod:`~semready.experiments.reproduce`)
and its figures and report (:mod:`~semready.experiments.figures`)."""
