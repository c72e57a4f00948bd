"""``semready reproduce``: the paper's simulation section — Fig. 2, Fig. 3 and the headline numbers.

For each content-complexity level (:mod:`semready.data.mixtures`) and seed, one independent job: draw the
mixture stream, train a teacher on it, split it by the run's default policy, and simulate the classical,
vanilla and disentangled schemes (:func:`semready.comm.simulate.simulate`). Jobs run as separate processes (up
to ``workers``), each in ``DIR/jobs/<level>_s<seed>/``; a job whose ``job.json`` exists is skipped, so an
interrupted sweep resumes where it stopped. ``DIR/results.csv`` has one row per (level, seed, scheme);
:mod:`semready.experiments.figures` draws the figures and writes ``DIR/report.md``; ``DIR/report.html``
follows (:mod:`semready.report`).
Never tuned to hit the paper's numbers: the protocol decides and the data speaks.
"""

from __future__ import annotations

import csv
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.comm.system import SCHEMES
from semready.errors import SemreadyError
from semready.rundir import SweepDir

RESULT_COLUMNS = ["level", "content_complexity_nats", "elements", "rho", "items", "seed", "scheme",
                  "mean_representation_bits", "total_bits_per_item", "total_bits_per_item_excluding_dictionary",
                  "semantic_impact", "fidelity_pass_rate", "gamma_nats_per_item", "semantic_items",
                  "classical_items", "poor_memorizable_share", "clean_learnable_share", "teacher_epochs",
                  "job_seconds"]


def run_job(job_dir: str, level: dict, seed: int, content: list[str], image_size: int, preset: str,
            config_file: str | None, train_defaults: dict) -> dict[str, Any]:
    """One (level, seed): stream → teacher → split → simulate. Runs in its own process; writes job.json last.

    Args:
        job_dir: the job's folder (emptied first).
        level: the :class:`~semready.data.mixtures.Level` as a dict.
        seed: seeds the stream, the teacher and the simulation.
        content: data specs of the content pools.
        image_size: the items' side.
        preset: the config preset.
        config_file: a config file applied over the preset, or None.
        train_defaults: ``train.*`` settings the sweep sets unless the config file does.

    Returns:
        The job's result (what job.json holds): level, seed, content complexity, KPIs, split shares, timings.
    """
    import torch

    from semready.comm.simulate import run_split, simulate
    from semready.config import build_config
    from semready.data import load_data
    from semready.data.mixtures import Level, build_mixture, pool_content
    from semready.pipeline import train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    job = Path(job_dir)
    shutil.rmtree(job, ignore_errors=True)  # a half-finished job starts again
    job.mkdir(parents=True)
    lvl = Level(**level)
    pool = pool_content([load_data(spec, image_size=image_size) for spec in content])
    stream = build_mixture(pool, lvl, seed)
    stream_file, run = SweepDir.job_stream(job), SweepDir.job_run(job)
    np.savez(stream_file, x=stream.data.images.permute(0, 2, 3, 1).numpy())
    np.save(SweepDir.job_families(job), stream.family)
    cfg = build_config(preset, config_file, {"data": {"spec": f"npz:{stream_file}", "image_size": None},
                                             "train": {**train_defaults, "seed": seed, "threads": 1}})
    trained = train(run.path, cfg, progress=False)
    kpis = simulate(run.path)
    memorizable = ~run_split(run.path)[1]
    poor = stream.family != "clean"
    result = {"level": asdict(lvl), "seed": seed, "content_complexity_nats": stream.complexity,
              "teacher_epochs": trained["epochs"], "kpis": kpis,
              "poor_memorizable_share": float(memorizable[poor].mean()) if poor.any() else None,
              "clean_learnable_share": float((~memorizable[~poor]).mean()),
              "job_seconds": time.perf_counter() - t0}
    io.write_json(SweepDir.job_result(job), result)
    return result


def result_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's result as results.csv rows, one per scheme that ran.

    Args:
        job: what :func:`run_job` returned.

    Returns:
        Rows keyed by ``RESULT_COLUMNS``.
    """
    rows = []
    for scheme in SCHEMES:
        k = job["kpis"].get(scheme)
        if k is None:
            continue
        rows.append({"level": job["level"]["name"], "content_complexity_nats": job["content_complexity_nats"],
                     "elements": job["level"]["elements"], "rho": job["level"]["rho"],
                     "items": job["level"]["items"], "seed": job["seed"], "scheme": scheme,
                     **{c: k.get(c) for c in RESULT_COLUMNS[7:15]},
                     **{c: job[c] for c in RESULT_COLUMNS[15:]}})
    return rows


def write_results(path: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write results.csv (atomically; None as an empty cell).

    Args:
        path: the CSV file.
        jobs: the jobs' results.

    Returns:
        The rows written.
    """
    rows = [r for job in jobs for r in result_rows(job)]
    with io.atomic_text(path) as fh:
        writer = csv.DictWriter(fh, RESULT_COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return rows


def reproduce(out: str | Path, *, preset: str = "quick", seeds: int = 3, items: int = 2000,
              minutes: float = 2.0, image_size: int = 16, content: list[str] | None = None,
              levels: int = 6, workers: int = 2, config_file: str | Path | None = None, on_job=None
              ) -> dict[str, Any]:
    """Run (or resume) the sweep into ``out``: results.csv, the figures, report.md and report.html.

    Args:
        out: the reproduction folder; finished jobs in it are reused.
        preset: the config preset of every teacher.
        seeds: seeds per level.
        items: N per stream; lowered if the pools cannot fill every level without repeating an item.
        minutes: training budget per teacher.
        image_size: the items' side.
        content: data specs of the content pools; the embedded sample unless given.
        levels: content-complexity levels.
        workers: jobs run in parallel.
        config_file: a config file applied over the preset.
        on_job: called as ``on_job(result, done, todo)`` after each job.

    Returns:
        The summary report.md is written from: settings, timings, headline, shapes, figures.

    >>> summary = reproduce("runs/reproduce", seeds=1, levels=2)  # doctest: +SKIP
    """
    from semready.config import build_config, read_config_file
    from semready.data import load_data
    from semready.data.mixtures import default_levels, max_items, pool_content
    from semready.experiments.figures import write_figures, write_report

    out = Path(out)
    sweep = SweepDir(out)
    if out.exists() and not out.is_dir():
        raise SemreadyError(f"--out {out} is a file: choose a directory")
    if seeds < 1 or levels < 2 or items < 50 or workers < 1:
        raise SemreadyError("need --seeds >= 1, --levels >= 2, --items >= 50 and --workers >= 1")
    content = content or ["sample"]
    pool = pool_content([load_data(spec, image_size=image_size) for spec in content])  # fails early, clearly
    sizes = np.bincount(pool.labels)
    plan = default_levels(int((sizes > 0).sum()), items, levels)
    feasible = max_items(sizes[sizes > 0], plan)
    if feasible < items:  # the pools cannot fill every level without repeating items: shrink, and say so
        if feasible < 50:
            raise SemreadyError(f"the content pools ({', '.join(content)}) are too small for {levels} levels: "
                                "add a pool (--content) or use fewer --levels")
        items = feasible
        plan = default_levels(int((sizes > 0).sum()), items, levels)
    build_config(preset, config_file)  # a bad preset or config file fails here, once, clearly
    user_train = read_config_file(config_file).get("train", {}) if config_file else {}
    train_defaults = {k: v for k, v in {"max_minutes": minutes, "epochs": 10_000}.items() if k not in user_train}
    out.mkdir(parents=True, exist_ok=True)
    settings = {"preset": preset, "seeds": seeds, "items": items, "minutes_per_teacher": minutes,
                "image_size": image_size, "content": content, "levels": [asdict(lv) for lv in plan],
                "workers": workers, "config_file": str(config_file) if config_file else None}
    t0 = time.perf_counter()
    jobs, todo = [], []
    for lv in plan:
        for seed in range(seeds):
            job_dir = sweep.job(lv.name, seed)
            if SweepDir.job_result(job_dir).is_file():
                jobs.append(io.read_json(SweepDir.job_result(job_dir), f"delete {job_dir} to run the job again"))
            else:
                todo.append((str(job_dir), asdict(lv), seed))
    skipped = len(jobs)
    if todo:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn")) as pool_ex:
            futures = [pool_ex.submit(run_job, d, lv, s, content, image_size, preset,
                                      str(config_file) if config_file else None, train_defaults) for d, lv, s in todo]
            for fut in as_completed(futures):
                try:
                    jobs.append(fut.result())
                except BaseException:  # stop the sweep at the first failed job; finished jobs stay reusable
                    for f in futures:
                        f.cancel()
                    raise
                if on_job is not None:
                    on_job(jobs[-1], len(jobs) - skipped, len(todo))
    jobs.sort(key=lambda j: (j["level"]["name"], j["seed"]))
    rows = write_results(sweep.results, jobs)
    previous = sweep.summary
    before = io.read_json(previous, f"delete {previous}").get("wall_seconds_total", 0.0) if previous.is_file() \
        else 0.0
    wall = time.perf_counter() - t0
    summary = {"settings": settings, "wall_seconds": wall, "wall_seconds_total": before + wall, "jobs_run": len(todo),
               "jobs_skipped": skipped, "job_seconds_total": sum(j["job_seconds"] for j in jobs)}
    figures = write_figures(out, rows)
    summary.update(write_report(out, rows, summary, figures))
    io.write_json(sweep.summary, summary)
    from semready.report import build_report

    build_report(out)  # report.html: the same story, self-contained, for a browser
    return summary
