"""``semready rd RUN --targets 26,30,34,38``: the rate–distortion sweep of a trained run, into RUN/rd.json
(docs/rd.md).

At each PSNR target the same items — the run's held-out stream, as ``semready simulate`` sends it (the first
``max_items`` of it when given) — go through every classical codec asked for and through the linear language's
``vanilla`` and ``disentangled`` schemes (:func:`semready.comm.system.run_scheme` with the run's comm settings and
``comm.fidelity_psnr_db`` = the target). Each (curve, target) point gives the mean bits per item and the achieved
fidelity — PSNR of the mean squared error, mean item PSNR, SSIM (:func:`semready.comm.rd.structural_similarity`),
the PSNR pass rate and the teacher's semantic pass rates — over all sent items and over the learnable items X_l
alone (disentangled sends X_m classically, so X_l is where the two languages compare on equal terms). Lossless
codecs (png, zlib, lzma) give one point. ``min_all`` is, per item and target, the smallest payload among the lossy
codecs and PNG (picked after the fact: what a ``best`` over every codec would send). BD-rates come from these
curves (:func:`semready.comm.rd.bd_rate`): disentangled against vanilla, and each language against ``best``.

>>> result = rd_sweep("runs/demo", "26,30,34,38")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semready.comm.classical import CODECS, LOSSY, available
from semready.comm.kpi import finite_mean, target_mse
from semready.comm.rd import bd_psnr, bd_rate, structural_similarity
from semready.comm.semantic import SemanticJudge
from semready.comm.simulate import comm_config, language_mask, run_items
from semready.comm.system import build_language, run_scheme
from semready.data import check_data_identity
from semready.errors import SemreadyError
from semready.rundir import RunDir

DEFAULT_CODECS = ("jpeg", "webp", "jpeg2000", "avif", "png", "best")
LANGUAGES = ("vanilla", "disentangled")
LEARNED = ("learned vanilla", "learned disentangled")  # the learned language's curves (``learned=True``)
LOSSLESS = ("png", "zlib", "lzma")
#: (test, anchor) pairs whose BD-rate the sweep reports: negative = test needs fewer bits than anchor
BD_PAIRS = (("disentangled", "vanilla"), ("vanilla", "best"), ("disentangled", "best"))
LEARNED_PAIRS = (("learned disentangled", "learned vanilla"), ("learned vanilla", "vanilla"),
                 ("learned disentangled", "disentangled"), ("learned vanilla", "best"))
#: the rate axis of each BD view: (view, which points, rate key)
BD_VIEWS = (("all items", "all", "bits_per_item"), ("all items, no dictionary", "all", "bits_per_item_excl_dictionary"),
            ("X_l", "learnable", "bits_per_item"))


def parse_targets(targets: str | Sequence[float]) -> list[float]:
    """PSNR targets from ``"26,30,34"`` or a list: at least 2 distinct, each in (0, 100] dB; sorted ascending.

    >>> parse_targets("34, 26,30")
    [26.0, 30.0, 34.0]
    """
    parts = [t.strip() for t in targets.split(",") if t.strip()] if isinstance(targets, str) else list(targets)
    try:
        values = sorted({float(t) for t in parts})
    except (TypeError, ValueError):
        raise SemreadyError(f"--targets {targets!r} is not a list of numbers: pass PSNR targets in dB, e.g. "
                            "--targets 26,30,34,38") from None
    if len(values) < 2:
        raise SemreadyError(f"an RD curve needs at least 2 distinct PSNR targets, got {len(values)}: pass e.g. "
                            "--targets 26,30,34,38 (4 or more for cubic BD-rates)")
    bad = [v for v in values if not 0 < v <= 100]
    if bad:
        raise SemreadyError(f"PSNR target {bad[0]:g} dB is outside (0, 100]: pass targets such as 26,30,34,38")
    return values


def check_codecs(codecs: Sequence[str] | None) -> list[str]:
    """Codec names (:data:`semready.comm.classical.CODECS`; default :data:`DEFAULT_CODECS`), each available here.

    >>> check_codecs(["webp", "png", "webp"])
    ['webp', 'png']
    """
    names = list(dict.fromkeys(codecs or DEFAULT_CODECS))
    bad = [c for c in names if c not in CODECS]
    if bad:
        raise SemreadyError(f"unknown classical codec {bad[0]!r}: choose one of {', '.join(CODECS)}")
    for c in names:
        available(c)
    return names


@dataclass
class _Measured:
    """The run's semantic judge, plus SSIM of every received item (run_scheme puts each key in its table)."""

    judge: SemanticJudge
    measure: str = ""

    def __call__(self, originals, received) -> dict[str, np.ndarray]:
        verdict = self.judge(originals, received)
        verdict["ssim"], self.measure = structural_similarity(originals, received)
        return verdict


def aggregate_psnr(psnr: np.ndarray) -> float | None:
    """PSNR of the mean squared error over items (finite unless every item is exact; then None).

    >>> round(aggregate_psnr(np.array([30.0, np.inf])), 4)  # half the MSE of a 30 dB item
    33.0103
    """
    mse = np.array([0.0 if np.isinf(p) else target_mse(float(p)) for p in psnr])
    return None if len(mse) == 0 or mse.mean() == 0 else float(10 * np.log10(255.0 ** 2 / mse.mean()))


def _measures(table: dict[str, np.ndarray], mask: np.ndarray, bits: float) -> dict[str, Any]:
    """One point's fidelity over the items in ``mask`` (bool (N,)), with ``bits`` per item."""
    psnr = table["psnr"][mask]
    return {"items": int(mask.sum()), "bits_per_item": bits, "psnr_db": aggregate_psnr(psnr),
            "mean_item_psnr_db": finite_mean(psnr), "exact_items": int(np.isinf(psnr).sum()),
            "ssim": float(table["ssim"][mask].mean()), "fidelity_pass_rate": float(table["passed"][mask].mean()),
            **{f"{k}_rate": float(table[k][mask].mean()) for k in ("semantic_cosine_pass", "semantic_cluster_pass")}}


def _point(target: float, table: dict[str, np.ndarray], learnable: np.ndarray, dictionary_bits: float) -> dict:
    """A curve's point at ``target`` from its per-item table: all items (dictionary shared out) and X_l."""
    everyone = np.ones(len(learnable), dtype=bool)
    payload = float(table["bits"].mean())
    point = {"target_db": target, **_measures(table, everyone, payload + dictionary_bits / len(learnable)),
             "bits_per_item_excl_dictionary": payload, "dictionary_bits": dictionary_bits}
    point["learnable"] = _measures(table, learnable, float(table["bits"][learnable].mean())) \
        if learnable.any() else None
    return point


def _min_all(tables: dict[str, dict[float, dict]], target: float) -> dict[str, np.ndarray] | None:
    """Per item, the table row of the smallest payload among the lossy codecs at ``target`` and PNG."""
    names = [c for c in tables if c in LOSSY or c == "best"]
    if len(names) < 2:
        return None
    rows = [tables[c][target] for c in names] + ([next(iter(tables["png"].values()))] if "png" in tables else [])
    pick = np.argmin(np.stack([r["bits"] for r in rows]), axis=0)
    keys = ("bits", "psnr", "ssim", "passed", "semantic_cosine_pass", "semantic_cluster_pass")
    return {k: np.choose(pick, [r[k] for r in rows]) for k in keys}


def bd_table(curves: dict[str, list[dict]], pairs=BD_PAIRS) -> list[dict[str, Any]]:
    """BD-rate and BD-PSNR of each (test, anchor) pair in each view (:data:`BD_VIEWS`); a pair that cannot be
    compared (a curve missing, too few points, no overlap) gets ``None`` and the reason in ``note``.

    Args:
        curves: name -> points (as in rd.json).
        pairs: (test, anchor) names.

    Returns:
        One row per pair and view: ``test``, ``anchor``, ``view``, ``method`` (cubic with 4 points or more on both
        curves, else pchip), ``bd_rate_pct``, ``bd_psnr_db``, ``note`` (why a value is None).
    """
    rows = []
    for test, anchor in pairs:
        for view, part, key in BD_VIEWS:
            row = {"test": test, "anchor": anchor, "view": view, "method": None, "bd_rate_pct": None,
                   "bd_psnr_db": None, "note": None}
            try:
                (rt, dt), (ra, da) = (_rd_points(curves, n, part, key) for n in (test, anchor))
                row["method"] = "cubic" if min(len(rt), len(ra)) >= 4 else "pchip"
                row["bd_rate_pct"] = bd_rate(ra, da, rt, dt, row["method"])
                row["bd_psnr_db"] = bd_psnr(ra, da, rt, dt, row["method"])
            except SemreadyError as exc:
                row["note"] = ("BD-PSNR: " if row["bd_rate_pct"] is not None else "") + str(exc)
            rows.append(row)
    return rows


def _rd_points(curves: dict[str, list[dict]], name: str, part: str, key: str) -> tuple[list[float], list[float]]:
    """(rates, PSNRs) of one curve in one view; refused in one line where BD is undefined on it."""
    if name not in curves:
        raise SemreadyError(f"no {name} curve in this sweep")
    points = [p if part == "all" else p["learnable"] for p in curves[name]]
    if any(p is None for p in points):
        raise SemreadyError("no learnable items were sent")
    rates, psnr = [p[key] for p in points], [p["psnr_db"] for p in points]
    if any(d is None for d in psnr):
        raise SemreadyError(f"curve {name} has a point with every item exact (no finite PSNR)")
    order = np.argsort(psnr)
    if (np.diff(np.asarray(rates, dtype=np.float64)[order]) <= 0).any():  # BD assumes more bits buy more PSNR
        raise SemreadyError(f"curve {name} is not monotone (as many bits or more for a lower PSNR): BD is undefined "
                            "on it")
    return rates, psnr


def rd_sweep(run_dir: str | Path, targets: str | Sequence[float], codecs: Sequence[str] | None = None,
             max_items: int | None = None, *, learned: bool = False, on_point=None) -> dict[str, Any]:
    """Sweep PSNR targets for every codec and both language schemes on a trained run; write RUN/rd.json.

    Args:
        run_dir: the trained run.
        targets: PSNR targets in dB (``"26,30,34,38"`` or a list), at least 2.
        codecs: classical codecs (default :data:`DEFAULT_CODECS`).
        max_items: send only the first this many held-out items (default all).
        learned: also the learned language's vanilla and disentangled curves (:data:`LEARNED`): one codec per
            scheme, trained once with the run's ``comm.learned_*`` settings, each target choosing its own steps.
        on_point: called as ``on_point(curve, target)`` after each point.

    Returns:
        ``settings``, ``curves`` (name -> points, ascending target; see :func:`_point`), ``bd``
        (:func:`bd_table`), ``seconds`` (per curve). Bad input is refused before anything is read or written.
    """
    targets, codecs = parse_targets(targets), check_codecs(codecs)
    if max_items is not None and max_items < 1:
        raise SemreadyError(f"--items {max_items} must be at least 1: pass how many held-out items to send")
    run_dir = Path(run_dir)
    files = RunDir(run_dir)
    cfg = files.read_config()
    check_data_identity(cfg.data, run_dir)
    own = run_items(run_dir, cfg)
    in_fit = language_mask(len(own), cfg.comm.language_fraction, cfg.train.seed)
    fit, stream = own.subset(in_fit), own.subset(~in_fit)
    if max_items is not None:
        stream = stream.subset(np.arange(len(stream)) < max_items)
    if len(stream) == 0:
        raise SemreadyError(f"no items left to send: lower comm.language_fraction ({cfg.comm.language_fraction})")
    if learned and any(side % 4 for side in own.images.shape[-2:]):  # before any curve is computed
        h, w = own.images.shape[-2:]
        raise SemreadyError(f"the learned language needs items whose sides are multiples of 4, got {h}×{w}: "
                            "retrain the run with --image-size 32 (or 16)")
    judge = _Measured(SemanticJudge.from_run(run_dir, cfg.comm.semantic_cosine))
    curves: dict[str, list[dict]] = {}
    tables: dict[str, dict[float, dict]] = {}
    seconds: dict[str, float] = {}
    # Γ̂ and the prequential length are not part of a point: their cheapest settings (the bits do not change)
    cheap = {"gamma_samples": 1, "prequential_chunks": 2}
    for name in [*codecs, *LANGUAGES, *(LEARNED if learned else ())]:
        t0 = time.perf_counter()
        classical, scheme = name in codecs, name.removeprefix("learned ")
        lang = None
        if name in LEARNED:  # one codec per scheme spans every target: trained once
            lang = build_language(scheme, fit, cfg.model.clusters, comm_config(cfg.comm, {"language": "learned"}),
                                  cfg.train.seed)
        for target in targets[:1] if name in LOSSLESS else targets:
            comm = comm_config(cfg.comm, {**cheap, "fidelity_psnr_db": target, "language": "linear",
                                          **({"classical_codec": name} if classical else {})})
            summary, table, _ = run_scheme("classical" if classical else scheme, fit, stream, cfg.model.clusters,
                                           comm, cfg.train.seed, judge=judge,
                                           lang=lang.at_target(target) if lang is not None else None)
            tables.setdefault(name, {})[target] = table
            dictionary = float(summary.get("dictionary_bits", 0))
            curves.setdefault(name, []).append(_point(target, table, stream.learnable, dictionary))
            if on_point is not None:
                on_point(name, target)
        seconds[name] = time.perf_counter() - t0
    if any(_min_all(tables, t) is not None for t in targets):
        curves["min_all"] = [_point(t, _min_all(tables, t), stream.learnable, 0.0) for t in targets]
    result = {"settings": {
        "targets_db": targets, "codecs": codecs, "items_sent": len(stream),
        "learnable_sent": int(stream.learnable.sum()),
        "language_items": len(fit), "data": cfg.data.spec, "disentangled_classical_codec": cfg.comm.classical_codec,
        "structural_measure": judge.measure, "semantic_cosine": cfg.comm.semantic_cosine, "seed": cfg.train.seed,
        **({f"learned_{k}": getattr(cfg.comm, f"learned_{k}") for k in ("steps", "width", "latent", "rate_weight")}
           if learned else {})},
        "curves": curves, "bd": bd_table(curves, BD_PAIRS + (LEARNED_PAIRS if learned else ())), "seconds": seconds}
    files.write_rd(result)
    return result


def rd_tables(result: dict[str, Any]) -> list:
    """What ``semready rd`` prints: the points (one row per curve and target) and the BD-rates, as rich Tables."""
    from rich.table import Table

    s = result["settings"]
    points = Table(title=f"{s['items_sent']} items sent ({s['learnable_sent']} learnable), {s['structural_measure']}")
    for col in ("curve", "target dB", "bits/item", "PSNR dB", "SSIM", "PSNR pass", "sem. cos pass", "X_l bits/item",
                "X_l PSNR dB"):
        points.add_column(col, justify="right")

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    for name, pts in result["curves"].items():
        for p in pts:
            xl = p["learnable"] or {}
            points.add_row(name, f(p["target_db"], "g"), f(p["bits_per_item"], ".0f"), f(p["psnr_db"], ".2f"),
                           f(p["ssim"], ".4f"), f(p["fidelity_pass_rate"], ".3f"),
                           f(p["semantic_cosine_pass_rate"], ".3f"), f(xl.get("bits_per_item"), ".0f"),
                           f(xl.get("psnr_db"), ".2f"))
    bd = Table(title="BD-rate of test against anchor (negative: test needs fewer bits at equal PSNR)")
    for col in ("test", "anchor", "view", "method", "BD-rate %", "BD-PSNR dB", "note"):
        bd.add_column(col, justify="right" if col.startswith("BD") else "left")
    for r in result["bd"]:
        bd.add_row(r["test"], r["anchor"], r["view"], r["method"] or "-", f(r["bd_rate_pct"], "+.1f"),
                   f(r["bd_psnr_db"], "+.2f"), r["note"] or "")
    return [points, bd]


__all__ = ["BD_PAIRS", "DEFAULT_CODECS", "aggregate_psnr", "bd_table", "check_codecs", "parse_targets", "rd_sweep",
           "rd_tables"]
