"""``semready reproduce``: the paper's simulation section — Fig. 2, Fig. 3 and the headline numbers.

For each content-complexity level (:mod:`semready.data.mixtures`: K structured elements, ρ semantic-poor items
in thirds of noise, scrambled and rare) and seed, one independent job: draw the mixture stream, train a teacher
on it with M = K clusters (unless the config file sets ``model.clusters``), split it by the run's default score
and policy (recorded in job.json), and simulate the classical, vanilla and disentangled schemes
(:func:`semready.comm.simulate.simulate`). Jobs run as separate processes (up to ``workers``), each in
``DIR/jobs/<level>_s<seed>/``; a job whose ``job.json`` exists and was planned with the same settings is
skipped, so an interrupted sweep resumes where it stopped. ``DIR/results.csv`` has one row per (level, seed,
scheme), the split's X_m share and the KPIs per family included; :mod:`semready.experiments.figures` draws the
figures and writes ``DIR/report.md``; ``DIR/report.html`` follows (:mod:`semready.report`).
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

FAMILY_ORDER = ("clean", "noise", "scrambled", "rare")  # semready.data.inject's CLEAN and FAMILIES
SPLIT_KEYS = ("score", "policy", "value", "threshold")  # what train() returns about the split it wrote
KPI_COLUMNS = ["mean_representation_bits", "total_bits_per_item", "total_bits_per_item_excluding_dictionary",
               "semantic_impact", "fidelity_pass_rate", "gamma_nats_per_item", "semantic_items", "classical_items",
               "multi_packet_share"]
HEAD_COLUMNS = ["same_items_reduction_pct", "all_items_reduction_pct"]  # on the disentangled (and control) rows
# the controls every job runs beside the teacher (semready.comm.controls); each adds a results.csv row whose
# scheme is control_scheme(name) (its disentangled scheme; the comparison is against its own vanilla)
SWEEP_CONTROLS = ("untrained teacher", "no teacher (pixel)", "random split")
_CONTROL = "disentangled | "


def control_scheme(name: str) -> str:
    """The results.csv scheme of a control's row.

    >>> control_scheme("random split"), is_control(control_scheme("random split")), is_control("disentangled")
    ('disentangled | random split', True, False)
    """
    return _CONTROL + name


def is_control(scheme: str) -> bool:
    """Whether a results.csv row is a control's (its split is not the teacher's)."""
    return scheme.startswith(_CONTROL)
RESULT_COLUMNS = ["level", "content_complexity_nats", "elements", "unseen", "rho", "items", "seed", "clusters",
                  "scheme", *KPI_COLUMNS, *HEAD_COLUMNS, *[f"mean_bits_{f}" for f in FAMILY_ORDER],
                  *[f"fidelity_pass_rate_{f}" for f in FAMILY_ORDER], *[f"split_{k}" for k in SPLIT_KEYS],
                  "poor_memorizable_share", "clean_learnable_share", *[f"memorizable_share_{f}" for f in FAMILY_ORDER],
                  "teacher_epochs", "job_seconds"]


def memorizable_by_family(memorizable: np.ndarray, family: np.ndarray) -> dict[str, float | None]:
    """The share of each family's items the split put in X_m.

    Args:
        memorizable: whether each stream item went to X_m, bool (N,).
        family: each item's family (``FAMILY_ORDER``), str (N,).

    Returns:
        family -> share in [0, 1], None for a family the stream does not hold.

    >>> memorizable_by_family(np.array([True, False, True, True]), np.array(["clean", "clean", "noise", "rare"]))
    {'clean': 0.5, 'noise': 1.0, 'scrambled': None, 'rare': 1.0}
    """
    return {f: float(memorizable[family == f].mean()) if (family == f).any() else None for f in FAMILY_ORDER}


def per_family_kpis(item_rows: list[dict[str, str]], family: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Mean bits and fidelity pass rate per scheme and family, from a run's ``kpis_items.csv`` rows.

    Args:
        item_rows: :meth:`~semready.rundir.RunDir.read_kpi_item_rows` (``scheme``, ``index`` into the stream,
            ``bits``, ``passed`` 0/1, ...).
        family: each stream item's family, str (N,).

    Returns:
        scheme -> family -> ``items`` (sent), ``mean_bits``, ``pass_rate``; only families with items sent.

    >>> rows = [{"scheme": "vanilla", "index": str(i), "bits": str(b), "passed": str(p)}
    ...         for i, b, p in ((0, 10, 1), (1, 30, 0), (2, 20, 1))]
    >>> per_family_kpis(rows, np.array(["clean", "noise", "noise"]))["vanilla"]["noise"]
    {'items': 2, 'mean_bits': 25.0, 'pass_rate': 0.5}
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scheme in dict.fromkeys(r["scheme"] for r in item_rows):  # in the file's order
        sel = [r for r in item_rows if r["scheme"] == scheme]
        fam = family[np.array([int(r["index"]) for r in sel], dtype=np.int64)]
        bits = np.array([float(r["bits"]) for r in sel])
        passed = np.array([int(r["passed"]) for r in sel])
        out[scheme] = {f: {"items": int((fam == f).sum()), "mean_bits": float(bits[fam == f].mean()),
                           "pass_rate": float(passed[fam == f].mean())} for f in FAMILY_ORDER if (fam == f).any()}
    return out


def sweep_defaults(config_file: str | Path | None, minutes: float) -> tuple[dict[str, Any], bool]:
    """What the sweep sets in every job unless the user's config file sets it.

    Args:
        config_file: the user's config file, or None.
        minutes: the teacher's training budget.

    Returns:
        (``train.*`` defaults: ``max_minutes`` and a large ``epochs``, so the budget decides; whether M =
        ``model.clusters`` follows each level's structured elements K).
    """
    from semready.config import read_config_file

    user = read_config_file(config_file) if config_file else {}
    user_train, user_model = user.get("train") or {}, user.get("model") or {}
    train = {k: v for k, v in {"max_minutes": minutes, "epochs": 10_000}.items() if k not in user_train}
    return train, "clusters" not in user_model


def job_config(plan: dict[str, Any], data_spec: str | None = None):
    """A job's teacher config: the preset, the user's file, then the sweep's settings (:func:`sweep_defaults`).

    Args:
        plan: the job's plan (what :func:`reproduce` records in job.json under ``plan``).
        data_spec: the job's stream, or None (to validate the settings before the stream exists).

    Returns:
        The validated :class:`~semready.config.SemreadyConfig`.
    """
    from semready.config import build_config

    over: dict[str, Any] = {"train": {**plan["train"], "seed": plan["seed"], "threads": 1}}
    if plan["clusters"] is not None:
        over["model"] = {"clusters": plan["clusters"]}
    if data_spec is not None:
        over["data"] = {"spec": data_spec, "image_size": None}
    return build_config(plan["preset"], plan["config_file"], over)


def run_job(job_dir: str, plan: dict[str, Any]) -> dict[str, Any]:
    """One (level, seed): stream → teacher → split → simulate. Runs in its own process; writes job.json last.

    Args:
        job_dir: the job's folder (emptied first).
        plan: ``level`` (a :class:`~semready.data.mixtures.Level` as a dict), ``seed``, ``content`` (data specs of
            the content pools), ``image_size``, ``preset``, ``config_file``, ``train`` (the sweep's ``train.*``
            defaults) and ``clusters`` (M, or None to keep the config's).

    Returns:
        The job's result (what job.json holds): the plan, level, seed, content complexity, M, the split's score,
        policy, value and threshold, KPIs (overall and per family), the controls (``SWEEP_CONTROLS``: vanilla and
        disentangled on the same items with an untrained teacher, no teacher, a random split of the same size),
        split shares per family, timings.
    """
    import torch

    from semready.comm.simulate import run_split, simulate
    from semready.data import load_data
    from semready.data.mixtures import Level, build_mixture, pool_content
    from semready.pipeline import train

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    job = Path(job_dir)
    shutil.rmtree(job, ignore_errors=True)  # a half-finished job starts again
    job.mkdir(parents=True)
    lvl = Level(**plan["level"])
    pool = pool_content([load_data(spec, image_size=plan["image_size"]) for spec in plan["content"]])
    stream = build_mixture(pool, lvl, plan["seed"])
    stream_file, run = SweepDir.job_stream(job), SweepDir.job_run(job)
    np.savez(stream_file, x=stream.data.images.permute(0, 2, 3, 1).numpy())
    np.save(SweepDir.job_families(job), stream.family)
    cfg = job_config(plan, f"npz:{stream_file}")
    trained = train(run.path, cfg, progress=False)
    kpis = simulate(run.path, controls=SWEEP_CONTROLS)
    memorizable = ~run_split(run.path)[1]
    poor = stream.family != "clean"
    result = {"plan": plan, "level": asdict(lvl), "seed": plan["seed"],
              "content_complexity_nats": stream.complexity, "clusters": cfg.model.clusters,
              "split": {k: trained.get(k) for k in SPLIT_KEYS}, "teacher_epochs": trained["epochs"], "kpis": kpis,
              "controls": kpis["controls"],
              "family_items": {f: int((stream.family == f).sum()) for f in FAMILY_ORDER},
              "memorizable_share": memorizable_by_family(memorizable, stream.family),
              "per_family": per_family_kpis(run.read_kpi_item_rows(), stream.family),
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
    lv = job["level"]
    head = job["kpis"].get("comparison", {})
    runs = [(s, job["kpis"].get(s), head if s == "disentangled" else {}) for s in SCHEMES]
    runs += [(control_scheme(name), c["disentangled"], c) for name, c in job.get("controls", {}).items()]
    # the teacher's split columns belong to its own rows; a control's split is another one (left blank)
    teacher_split = {**{f"split_{s}": job["split"][s] for s in SPLIT_KEYS},
                     **{f"memorizable_share_{f}": job["memorizable_share"][f] for f in FAMILY_ORDER},
                     **{c: job[c] for c in ("poor_memorizable_share", "clean_learnable_share")}}
    for scheme, k, comparison in runs:
        if k is None:
            continue
        fam = job["per_family"].get(scheme, {})
        rows.append({"level": lv["name"], "content_complexity_nats": job["content_complexity_nats"],
                     "elements": lv["elements"], "unseen": lv["unseen"], "rho": lv["rho"], "items": lv["items"],
                     "seed": job["seed"], "clusters": job["clusters"], "scheme": scheme,
                     **{c: k.get(c) for c in KPI_COLUMNS}, **{c: comparison.get(c) for c in HEAD_COLUMNS},
                     **{f"mean_bits_{f}": fam.get(f, {}).get("mean_bits") for f in FAMILY_ORDER},
                     **{f"fidelity_pass_rate_{f}": fam.get(f, {}).get("pass_rate") for f in FAMILY_ORDER},
                     **({} if is_control(scheme) else teacher_split), "teacher_epochs": job["teacher_epochs"],
                     "job_seconds": job["job_seconds"]})
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


def finished_job(job_dir: Path, plan: dict[str, Any]) -> dict[str, Any] | None:
    """A job's result if it finished under this very plan (settings, level, seed), else None (it runs again).

    Args:
        job_dir: the job's folder.
        plan: what the job is planned to do now.

    Returns:
        job.json's content, or None when it is missing or was planned otherwise (an earlier sweep's settings).
    """
    path = SweepDir.job_result(job_dir)
    if not path.is_file():
        return None
    done = io.read_json(path, f"delete {job_dir} to run the job again")
    return done if isinstance(done, dict) and done.get("plan") == plan else None


def _check_teachers(plans: list[dict[str, Any]]) -> None:
    """Build every level's teacher config once: a bad preset, config file or M fails here, before any job."""
    for plan in plans:
        cfg, lv = job_config(plan), plan["level"]
        m = cfg.model.clusters
        if m > cfg.bank.size:  # the prototypes are seeded by k-means on the bank's keys: one key per cluster at least
            raise SemreadyError(f"level {lv['name']}'s teacher has model.clusters {m}, more than bank.size "
                                f"{cfg.bank.size}: raise bank.size or set model.clusters in --config")
        if m > lv["items"]:
            raise SemreadyError(f"level {lv['name']}'s stream has {lv['items']} items, fewer than model.clusters {m}: "
                                "raise --items or set model.clusters in --config")


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
    n_elements = int((sizes > 0).sum())
    planned = default_levels(n_elements, items, levels)
    while (feasible := max_items(sizes[sizes > 0], planned)) < items:  # shrink until every level fits; say so
        if feasible < 50:
            raise SemreadyError(f"the content pools ({', '.join(content)}) are too small for {levels} levels: "
                                "add a pool (--content) or use fewer --levels")
        items = feasible
        planned = default_levels(n_elements, items, levels)
    config = str(config_file) if config_file else None
    train_defaults, scale_clusters = sweep_defaults(config, minutes)
    plans = {(lv.name, seed): {"level": asdict(lv), "seed": seed, "content": list(content), "image_size": image_size,
                               "preset": preset, "config_file": config, "train": train_defaults,
                               "clusters": lv.elements if scale_clusters else None, "controls": list(SWEEP_CONTROLS)}
             for lv in planned for seed in range(seeds)}
    _check_teachers([plans[(lv.name, 0)] for lv in planned])  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    settings = {"preset": preset, "seeds": seeds, "items": items, "minutes_per_teacher": minutes,
                "image_size": image_size, "content": content, "levels": [asdict(lv) for lv in planned],
                "clusters": "K per level" if scale_clusters else "config", "workers": workers,
                "config_file": config}
    t0 = time.perf_counter()
    jobs, todo = [], []
    for (name, seed), job_plan in plans.items():
        done = finished_job(sweep.job(name, seed), job_plan)
        if done is not None:
            jobs.append(done)
        else:
            todo.append((str(sweep.job(name, seed)), job_plan))
    skipped = len(jobs)
    if todo:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn")) as pool_ex:
            futures = [pool_ex.submit(run_job, d, job_plan) for d, job_plan in todo]
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
               "jobs_skipped": skipped, "job_seconds_total": sum(j["job_seconds"] for j in jobs),
               "splits": [{"level": j["level"]["name"], "seed": j["seed"], "clusters": j["clusters"], **j["split"]}
                          for j in jobs]}
    figures = write_figures(out, rows)
    summary.update(write_report(out, rows, summary, figures))
    io.write_json(sweep.summary, summary)
    from semready.report import build_report

    build_report(out)  # report.html: the same story, self-contained, for a browser
    return summary
