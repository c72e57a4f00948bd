"""semready: make raw source data semantic-ready (Chaccour & Saad, contrastive disentangling of learnable and
memorizable data for semantic communications).

The packages follow the paper's Fig. 1: :mod:`semready.data` (the raw stream X) → :mod:`semready.teacher`
(the contrastive model, eq. 2-4) → :mod:`semready.split` (learnable X_l vs memorizable X_m) →
:mod:`semready.comm` (language, link, receiver, KPIs) → :mod:`semready.experiments` (Fig. 2, Fig. 3) and
:mod:`semready.report`. :mod:`semready.api` is the facade the CLI calls; docs/architecture.md draws the map.

>>> import semready
>>> run = semready.train("runs/demo")          # doctest: +SKIP
>>> semready.simulate("runs/demo")             # doctest: +SKIP
>>> table = semready.Disentangler(epochs=5).fit_transform(images)  # doctest: +SKIP

The main objects are importable from here; they load on first use, so ``import semready`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "train": "semready.api", "split": "semready.api", "route": "semready.api", "evaluate": "semready.api",
    "simulate": "semready.api", "reproduce": "semready.api", "report": "semready.api",
    "build_config": "semready.config", "SemreadyConfig": "semready.config", "load_data": "semready.data",
    "ImageData": "semready.data", "SemreadyError": "semready.errors", "RunDir": "semready.rundir",
    "Teacher": "semready.teacher", "TeacherLoss": "semready.teacher", "Trainer": "semready.teacher",
    "TrainedRun": "semready.teacher", "load_run": "semready.teacher", "Router": "semready.split.router",
    "SemanticLanguage": "semready.comm.language", "Disentangler": "semready.estimator",
    "register_backbone": "semready.teacher.backbones",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semready' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
