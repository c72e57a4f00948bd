"""The library facade: each command of the CLI is one call here, and these are the calls a script needs::

    from semready import api
    result = api.train("runs/demo")                        # embedded sample, quick preset
    api.split("runs/demo", policy="budget", value=0.1)     # the 10 % least learnable items memorizable
    api.route("runs/demo", "npz:new_items.npz", "routed.csv")
    api.evaluate("runs/demo", "sample")                    # ACC / NMI / ARI -> runs/demo/metrics.json
    kpis = api.simulate("runs/demo")                       # classical, vanilla, disentangled -> kpis.json
    api.report("runs/demo")                                # runs/demo/report.html
    api.reproduce("runs/reproduce")                        # the paper's Fig. 2 and Fig. 3

The stages behind it: :mod:`semready.teacher` (train), :mod:`semready.split` (learnable vs memorizable),
:mod:`semready.comm` (language, link, KPIs), :mod:`semready.experiments` (the paper's reproduction),
:mod:`semready.report`; :mod:`semready.pipeline` takes one run folder through the first two.
"""

from __future__ import annotations

from semready.comm.simulate import kpi_table, simulate
from semready.config import PRESETS, SemreadyConfig, build_config, load_config_file, resolve_preset
from semready.data import SPEC_HELP, ImageData, load_data
from semready.errors import SemreadyError
from semready.experiments.reproduce import reproduce
from semready.pipeline import evaluate, route, split, train
from semready.report import build_report as report
from semready.rundir import RunDir, SweepDir
from semready.split.policies import DEFAULT_FLOOR, POLICIES
from semready.split.scores import SCORES
from semready.teacher.infer import load_run

__all__ = ["DEFAULT_FLOOR", "POLICIES", "PRESETS", "SCORES", "SPEC_HELP", "ImageData", "RunDir", "SemreadyConfig",
           "SemreadyError", "SweepDir", "build_config", "evaluate", "kpi_table", "load_config_file", "load_data",
           "load_run", "report", "reproduce", "resolve_preset", "route", "simulate", "split", "train"]
