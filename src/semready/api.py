"""The library facade: each command of the CLI is one call here, and these are the calls a script needs::

    from semready import api
    result = api.train("runs/demo")                        # embedded sample, quick preset
    api.split("runs/demo", policy="budget", value=0.1)     # the 10 % least learnable items memorizable
    api.route("runs/demo", "npz:new_items.npz", "routed.csv")
    api.evaluate("runs/demo")                              # ACC / NMI / ARI on the run's data -> metrics.json
    api.export_split("runs/demo", "memorizable", "xm.npz", to="npz")
    api.export_embeddings("runs/demo", "z.npy")            # the teacher's embeddings of the run's items
    kpis = api.simulate("runs/demo")                       # classical, vanilla, disentangled -> kpis.json
    api.rd_sweep("runs/demo", "26,30,34,38")               # rate–distortion curves and BD-rates -> rd.json
    api.report("runs/demo")                                # runs/demo/report.html
    api.reproduce("runs/reproduce")                        # the paper's Fig. 2 and Fig. 3

The stages behind it: :mod:`semready.teacher` (train), :mod:`semready.split` (learnable vs memorizable),
:mod:`semready.comm` (language, link, KPIs), :mod:`semready.experiments` (the paper's reproduction),
:mod:`semready.report`; :mod:`semready.pipeline` takes one run folder through the first two, :mod:`semready.export`
takes items out of it.

Importing this module is cheap: the functions load their stage (torch and all) on first use, and the names the
command line offers as choices (:data:`POLICIES`, :data:`SCORES`, :data:`SCHEMES`, :data:`CODECS`,
:data:`PRESETS`, :data:`SPLITS`, :data:`EXPORT_TARGETS`, :data:`DEVICES`, :data:`CHANNELS`,
:data:`MODULATIONS`) are read from the modules that define
them without running those modules, so ``semready --help`` and a wrong choice answer at once.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import semready as _package
from semready.errors import SemreadyError

__version__: str = _package.__version__


def _constant(module: str, name: str) -> Any:
    """A module-level literal constant (``NAME = ("a", "b")``), read from the module's source without importing
    it; from the module itself where it is already loaded or the value is not a literal.

    >>> _constant("semready.split.policies", "POLICIES")[0]
    'confidence'
    """
    if module in sys.modules:
        return getattr(sys.modules[module], name)
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin:
        for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                try:
                    return ast.literal_eval(node.value)
                except ValueError:
                    break
    return getattr(importlib.import_module(module), name)


POLICIES: tuple[str, ...] = _constant("semready.split.policies", "POLICIES")
DEFAULT_FLOOR: float = _constant("semready.split.policies", "DEFAULT_FLOOR")
DEFAULT_POLICY: str = _constant("semready.split.policies", "DEFAULT_POLICY")
SCORES: tuple[str, ...] = _constant("semready.split.scores", "SCORES")
SCHEMES: tuple[str, ...] = _constant("semready.comm.system", "SCHEMES")
LANGUAGES: tuple[str, ...] = _constant("semready.comm.system", "LANGUAGES")
CODECS: tuple[str, ...] = _constant("semready.comm.classical", "CODECS")
PRESETS: tuple[str, ...] = _constant("semready.config.sections", "PRESETS")
SPLITS: tuple[str, ...] = _constant("semready.export", "SPLITS")
EXPORT_TARGETS: tuple[str, ...] = _constant("semready.export", "TARGETS")
DEVICES: tuple[str, ...] = _constant("semready.overrides", "DEVICES")
CHANNELS: tuple[str, ...] = _constant("semready.comm.channel", "CHANNELS")
MODULATIONS: tuple[str, ...] = _constant("semready.comm.channel", "MODULATIONS")

_LAZY = {
    "train": ("semready.pipeline", "train"), "split": ("semready.pipeline", "split"),
    "route": ("semready.pipeline", "route"), "evaluate": ("semready.pipeline", "evaluate"),
    "export_split": ("semready.export", "export_split"), "export_embeddings": ("semready.export", "export_embeddings"),
    "kpi_table": ("semready.comm.simulate", "kpi_table"), "sweep_table": ("semready.comm.snr_sweep", "sweep_table"),
    "parse_snr_list": ("semready.comm.snr_sweep", "parse_snr_list"),
    "reproduce": ("semready.experiments.reproduce", "reproduce"), "rd_tables": ("semready.experiments.rd", "rd_tables"),
    "demo": ("semready.experiments.demo", "run_demo"),
    "report": ("semready.report", "build_report"), "RunDir": ("semready.rundir", "RunDir"),
    "SweepDir": ("semready.rundir", "SweepDir"), "load_run": ("semready.teacher.infer", "load_run"),
    "SemreadyConfig": ("semready.config", "SemreadyConfig"), "build_config": ("semready.config", "build_config"),
    "load_config_file": ("semready.config", "load_config_file"),
    "resolve_preset": ("semready.config", "resolve_preset"), "SPEC_HELP": ("semready.data", "SPEC_HELP"),
    "ImageData": ("semready.data", "ImageData"), "load_data": ("semready.data", "load_data"),
    "parse_sets": ("semready.overrides", "parse_sets"), "check_device": ("semready.overrides", "check_device"),
    "config_warnings": ("semready.overrides", "config_warnings"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semready.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def simulate(run_dir: str | Path, spec: str | None = None, schemes: list[str] | None = None,
             overrides: dict[str, Any] | None = None, *, on_scheme=None, progress: bool = False,
             controls: tuple[str, ...] = (), snr_sweep: list[float] | str | None = None) -> dict[str, Any]:
    """:func:`semready.comm.simulate.simulate` (same arguments) with a progress bar over the schemes.

    Args:
        progress: show a progress bar with ETA.
        snr_sweep: also as text, ``"0,5,10"`` (``--snr-sweep``).
    """
    from semready.comm.simulate import simulate as run_schemes
    from semready.comm.system import check_schemes
    from semready.progress import task

    names = check_schemes(list(schemes or ["all"]))
    if isinstance(snr_sweep, str):
        from semready.comm.snr_sweep import parse_snr_list

        snr_sweep = parse_snr_list(snr_sweep)
    with task(f"simulating {names[0]}", len(names), progress) as bar:
        def done(scheme: str, summary: dict) -> None:
            bar.advance()
            if bar.done < len(names):
                bar.describe(f"simulating {names[bar.done]}")
            if on_scheme is not None:
                on_scheme(scheme, summary)

        return run_schemes(run_dir, spec, names, overrides, on_scheme=done, controls=controls,
                           snr_sweep=snr_sweep)


def rd_sweep(run_dir: str | Path, targets, codecs: list[str] | None = None, max_items: int | None = None, *,
             learned: bool = False, progress: bool = False) -> dict[str, Any]:
    """:func:`semready.experiments.rd.rd_sweep` (same arguments: PSNR targets, codecs, items) with a progress bar
    over its points; writes RUN/rd.json.

    Args:
        progress: show a progress bar with ETA.
    """
    from semready.experiments.rd import LANGUAGES, LEARNED, LOSSLESS, check_codecs, parse_targets
    from semready.experiments.rd import rd_sweep as sweep
    from semready.progress import task

    names, points = check_codecs(codecs), len(parse_targets(targets))
    total = sum(1 if c in LOSSLESS else points for c in names) + points * len(LANGUAGES + (LEARNED if learned else ()))
    with task("rate-distortion sweep", total, progress) as bar:
        def done(curve: str, target: float) -> None:
            bar.advance()
            bar.describe(f"rate-distortion: {curve} at {target:g} dB done")

        return sweep(run_dir, targets, names, max_items, learned=learned, on_point=done)


__all__ = ["CHANNELS", "CODECS", "DEFAULT_FLOOR", "DEFAULT_POLICY", "DEVICES", "EXPORT_TARGETS", "LANGUAGES",
           "MODULATIONS", "POLICIES", "PRESETS", "SCHEMES", "SCORES", "SPLITS", "SemreadyError", "__version__",
           "rd_sweep", "simulate", *_LAZY]
