"""The demo (``semready demo``, what ``make demo`` runs): a stream with semantic-poor items, the whole way through.

The embedded sample (4,000 real CIFAR-10 images) with 200 noise and 200 scrambled items mixed in at random
places → a teacher (the ``quick`` preset) → the split it decides (the default ``teacher`` score, confidence floor
0.5) → the classical, vanilla and disentangled schemes (``simulate``) → ``report.html``. It says where each
family of items ended up, so the system's point — what the teacher cannot describe is sent classically — shows
in one command.

The folder holds the stream (``stream.npz``, ``family.npy``: what each item is) and the run (``run/``).

>>> result = run_demo("runs/demo")  # doctest: +SKIP
>>> result["report"]                # doctest: +SKIP
'runs/demo/run/report.html'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semready.errors import SemreadyError
from semready.rundir import SweepDir

DEMO_COUNTS = {"noise": 200, "scrambled": 200}


def run_demo(out: str | Path, *, epochs: int | None = None, seed: int = 0, progress: bool = True,
             say: Callable[[str], None] = print, source: str = "sample", counts: dict[str, int] | None = None,
             overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the demo stream, train, split, simulate the three schemes and write the report.

    Args:
        out: a new folder (refused if it holds files).
        epochs: the teacher's epochs (default: the quick preset's 20).
        seed: seeds the injected items, their places and the teacher.
        progress: show progress bars.
        say: where the step-by-step lines go.
        source: the clean stream's data spec.
        counts: family -> items injected (default :data:`DEMO_COUNTS`).
        overrides: config settings over the quick preset (section -> setting -> value).

    Returns:
        ``split`` (train's split summary), ``families`` (family -> items, memorizable), ``kpis`` (what
        :func:`~semready.comm.simulate.simulate` returns), ``report`` (the report's path), ``run`` (the run folder).
    """
    from semready import pipeline
    from semready.comm.simulate import simulate
    from semready.config import build_config
    from semready.data import load_data
    from semready.data.inject import inject
    from semready.report import build_report

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SemreadyError(f"--out {out} already holds files: remove it or choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    counts = DEMO_COUNTS if counts is None else counts
    clean = load_data(source)
    stream = inject(clean, counts, seed=seed)
    stream_file, families_file, run = SweepDir.job_stream(out), SweepDir.job_families(out), SweepDir.job_run(out)
    np.savez(stream_file, x=stream.data.images.permute(0, 2, 3, 1).numpy())
    np.save(families_file, stream.family)
    say(f"stream: {len(stream.data)} items = {len(clean)} {source} images + " +
        " + ".join(f"{n} {f}" for f, n in counts.items()) + f" -> {stream_file}")
    over: dict[str, Any] = {key: dict(value) for key, value in (overrides or {}).items()}
    over["data"] = {**over.get("data", {}), "spec": f"npz:{stream_file}"}
    over["train"] = {**over.get("train", {}), "seed": seed, **({"epochs": epochs} if epochs is not None else {})}
    summary = pipeline.train(run.path, build_config("quick", overrides=over), progress=progress)
    learnable = run.read_samples()["learnable"]
    families = {}
    for family in ("clean", *counts):
        pick = stream.family == family
        families[family] = {"items": int(pick.sum()), "memorizable": int((~learnable[pick]).sum())}
    say(f"split ({summary['score']} score, {summary['policy']} {summary['value']}): {summary['learnable']} "
        f"learnable, {summary['memorizable']} memorizable; memorizable by family: " +
        ", ".join(f"{f} {v['memorizable']}/{v['items']}" for f, v in families.items()))
    say("simulating the classical, vanilla and disentangled schemes on the held-out half of the stream ...")
    kpis = simulate(run.path)
    report = build_report(run.path)
    return {"split": summary, "families": families, "kpis": kpis, "report": str(report), "run": str(run.path)}
