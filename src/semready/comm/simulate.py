"""``semready simulate``: the three schemes on a run's stream, KPIs into RUN/kpis.json (library API).

Which items build the languages and which are sent (docs/kpis.md): a seeded ``comm.language_fraction`` of the
run's training stream builds the languages (vanilla: all of them; disentangled: the learnable ones, by the
run's split), so the probability models never see a transmitted item. With ``--data`` the run's own stream
(the default), the other items are sent with their split from samples.csv; with other data, every item is
sent and its content element and split come from routing it through the teacher.

>>> from semready.comm.simulate import simulate
>>> kpis = simulate("runs/demo")  # all schemes, the run's own held-out items  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from semready.comm.controls import SPLIT_CONTROLS, run_split_controls
from semready.comm.kpi import compare
from semready.comm.link import Link
from semready.comm.semantic import SemanticJudge
from semready.comm.snr_sweep import check_snr_list, run_snr_sweep
from semready.comm.system import SCHEMES, Items, check_schemes, run_scheme
from semready.config import CommConfig
from semready.data import check_data_identity, iter_batches, load_run_data
from semready.errors import SemreadyError
from semready.rundir import RunDir
from semready.teacher.device import resolve_device


def comm_config(base: CommConfig, overrides: dict[str, Any] | None) -> CommConfig:
    """The run's comm settings with overrides applied (None values ignored), validated.

    Args:
        base: the run's :class:`~semready.config.CommConfig`.
        overrides: ``comm.*`` field -> value.

    Returns:
        The new settings; an invalid value raises SemreadyError.

    >>> comm_config(CommConfig(), {"rate_bps": 2e6, "beta": None}).rate_bps
    2000000.0
    """
    values = {**base.model_dump(), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return CommConfig.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        raise SemreadyError(f"invalid setting comm.{first['loc'][0]}: {first['msg']}; fix the value "
                            "(see docs/kpis.md)") from None


def run_split(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A trained run's content element and learnable flag per item, from its samples.csv.

    Args:
        run_dir: the run directory.

    Returns:
        (clusters: int (N,), learnable: bool (N,)).
    """
    samples = RunDir(run_dir).read_samples()
    return samples["cluster"], samples["learnable"]


def check_controls(controls, own_stream: bool) -> tuple[str, ...]:
    """Validate control names (``all``: every control but the teacher's own split, which the schemes are).

    Args:
        controls: names from :data:`semready.comm.controls.SPLIT_CONTROLS`, or ``all``.
        own_stream: whether the run's own stream is sent (controls need its split and clusters).

    Returns:
        The controls to run.

    >>> check_controls(["all"], True)
    ('untrained teacher', 'no teacher (pixel)', 'random split')
    """
    controls = tuple(controls or ())
    if "all" in controls:
        controls = SPLIT_CONTROLS[1:]
    bad = [c for c in controls if c not in SPLIT_CONTROLS]
    if bad:
        raise SemreadyError(f"unknown control {bad[0]!r}: choose all or {', '.join(SPLIT_CONTROLS)}")
    if controls and not own_stream:
        raise SemreadyError("controls need the run's own stream (its split and clusters): drop --data or --controls")
    return controls


def language_mask(n: int, language_fraction: float, seed: int) -> np.ndarray:
    """Which of a run's N items build the languages (a seeded share); the others are sent.

    Args:
        n: the run's stream length.
        language_fraction: ``comm.language_fraction``.
        seed: the run's ``train.seed``.

    Returns:
        bool (N,), at least one item true.

    >>> int(language_mask(10, 0.3, 0).sum())
    3
    """
    order = np.random.default_rng(seed).permutation(n)
    in_fit = np.zeros(n, dtype=bool)
    in_fit[order[:max(1, round(language_fraction * n))]] = True
    return in_fit


def run_items(run_dir: str | Path, cfg=None) -> Items:
    """A trained run's own stream as :class:`Items`: images, content elements and split from samples.csv.

    Args:
        run_dir: the run directory.
        cfg: its config, when the caller has read it already.

    Returns:
        The items, in stream order.
    """
    cfg = cfg or RunDir(run_dir).read_config()
    clusters, learnable = run_split(run_dir)
    data = load_run_data(cfg.data.spec, cfg.data.image_size, len(clusters))
    return Items(data.images, clusters, learnable)


def _routed_items(run_dir: Path, spec: str, image_size: int) -> Items:
    from semready.split.router import Router

    router = Router.from_run(run_dir)
    images, clusters, learnable = [], [], []
    for batch, _ in iter_batches(spec, 512, image_size=image_size):
        r = router.route_batch(batch)
        images.append(batch)
        clusters.append(r.clusters)
        learnable.append(r.split == "learnable")
    if not images:
        raise SemreadyError(f"data {spec} is empty: nothing to send")
    return Items(torch.cat(images), np.concatenate(clusters), np.concatenate(learnable))


def simulate(run_dir: str | Path, spec: str | None = None, schemes: list[str] | None = None,
             overrides: dict[str, Any] | None = None, *, on_scheme=None, controls: tuple[str, ...] = (),
             snr_sweep: list[float] | None = None) -> dict[str, Any]:
    """Run the schemes on a trained run, write RUN/kpis.json, RUN/kpis_items.csv and RUN/languages/. A run whose
    data is gone or changed since training is refused in one line.

    Args:
        run_dir: the trained run.
        spec: the data to send; the run's own stream (held-out part) unless given.
        schemes: scheme names or ``all`` (the default).
        overrides: ``comm.*`` settings that replace the run's.
        on_scheme: called as ``on_scheme(scheme, summary)`` after each scheme.
        controls: split controls to run beside (:data:`semready.comm.controls.SPLIT_CONTROLS`, e.g. ``random
            split``); each is sent by vanilla and disentangled on the same items. The run's own stream only.
        snr_sweep: Es/N0 values (dB, at least two; a physical ``comm.channel``) to send every scheme's messages
            at again (:mod:`semready.comm.snr_sweep`).

    Returns:
        The KPIs: ``settings``, one summary per scheme, ``comparison`` (:func:`semready.comm.kpi.compare`) and,
        with ``controls``, ``controls`` (name -> :func:`semready.comm.controls.control_row`); with ``snr_sweep``,
        ``snr_sweep`` (:func:`semready.comm.snr_sweep.run_snr_sweep`).
    """
    run_dir = Path(run_dir)
    files = RunDir(run_dir)
    cfg = files.read_config()
    check_data_identity(cfg.data, run_dir)  # the run's own stream, gone or changed since training: one line
    comm = comm_config(cfg.comm, overrides)
    snrs = check_snr_list(comm, snr_sweep) if snr_sweep is not None else None
    schemes = check_schemes(list(schemes or ["all"]))
    controls = check_controls(controls, spec is None or spec == cfg.data.spec)
    own = run_items(run_dir, cfg)
    in_fit = language_mask(len(own), comm.language_fraction, cfg.train.seed)
    fit = own.subset(in_fit)
    if spec is None or spec == cfg.data.spec:
        stream, spec = own.subset(~in_fit), cfg.data.spec
    else:
        stream = _routed_items(run_dir, spec, int(own.images.shape[-1]))
    if len(stream) == 0:
        raise SemreadyError(f"no items left to send: lower comm.language_fraction ({comm.language_fraction})")
    kpis: dict[str, Any] = {"settings": {
        "data": spec, "items_sent": len(stream), "learnable_sent": int(stream.learnable.sum()),
        "language_items": len(fit), "learnable_language_items": int(fit.learnable.sum()),
        "fidelity_psnr_db": comm.fidelity_psnr_db, "classical_codec": comm.classical_codec,
        "rate_bps": Link.from_config(comm).rate_bps, "payload_bytes": comm.payload_bytes,
        "packet_loss": comm.packet_loss, "bit_error_rate": comm.bit_error_rate, "beta": comm.beta,
        "semantic_cosine": comm.semantic_cosine}}
    if comm.channel != "packet":  # a packet link's settings stay as they were
        kpis["settings"].update({"channel": comm.channel, "modulation": comm.modulation, "snr_db": comm.snr_db,
                                 "symbol_rate": comm.symbol_rate})
    if comm.language != "linear":
        kpis["settings"].update({"language": comm.language, "learned_steps": comm.learned_steps,
                                 "learned_width": comm.learned_width, "learned_latent": comm.learned_latent,
                                 "learned_rate_weight": comm.learned_rate_weight,
                                 "learned_device": str(resolve_device("auto"))})
    tables = {}
    files.languages.mkdir(exist_ok=True)
    judge = SemanticJudge.from_run(run_dir, comm.semantic_cosine)  # loaded once, judges every scheme's items
    for scheme in schemes:
        summary, table, lang = run_scheme(scheme, fit, stream, cfg.model.clusters, comm, cfg.train.seed,
                                          judge=judge)
        kpis[scheme], tables[scheme] = summary, table
        if lang is not None:
            lang.save(files.language(scheme))
        if on_scheme is not None:
            on_scheme(scheme, summary)
    kpis["comparison"] = compare(kpis)
    if controls:
        kpis["controls"] = run_split_controls(run_dir, own, in_fit, cfg.model.clusters, comm, cfg.train.seed,
                                              controls, judge, {s: kpis[s] for s in schemes})
    if snrs is not None:
        kpis["snr_sweep"] = run_snr_sweep({s: kpis[s] for s in schemes}, tables, comm, snrs, cfg.train.seed)
    files.write_kpis(kpis, tables)
    return kpis


TABLE_COLUMNS = (("mean |Z_i| on X_l (bits)", "mean_representation_bits_learnable", ".0f"),
                 ("mean |Z_i| (bits)", "mean_representation_bits", ".0f"),
                 ("total bits/item", "total_bits_per_item", ".0f"),
                 ("total excl. dictionary", "total_bits_per_item_excluding_dictionary", ".0f"),
                 ("ι (pkt/(rep·s))", "semantic_impact", ".1f"), ("fidelity pass", "fidelity_pass_rate", ".3f"),
                 ("semantic cos pass", "semantic_cosine_pass_rate", ".3f"),
                 ("semantic cluster pass", "semantic_cluster_pass_rate", ".3f"),
                 ("Γ̂ (nats/item)", "gamma_nats_per_item", ".0f"),
                 ("prequential (nats/item)", "prequential_nats_per_item", ".0f"))


def kpi_table(kpis: dict, title: str | None = None):
    """The schemes side by side, as a rich Table (what ``semready simulate`` prints).

    Args:
        kpis: what :func:`simulate` returns.
        title: the table's title; a summary of the settings unless given.

    Returns:
        A :class:`rich.table.Table`, one row per scheme that ran.
    """
    from rich.table import Table

    s = kpis["settings"]
    semantic = f", semantic cos >= {s['semantic_cosine']}" if "semantic_cosine" in s else ""  # older kpis.json
    table = Table(title=title or f"{s['items_sent']} items sent, fidelity PSNR >= {s['fidelity_psnr_db']} dB"
                                 f"{semantic}, classical {s['classical_codec']}, R = {s['rate_bps']:.0f} bit/s"
                                 + (f", {s['modulation'].upper()} over {s['channel']} at Es/N0 {s['snr_db']:g} dB"
                                    if s.get("channel", "packet") != "packet" else ""))
    table.add_column("scheme")
    for name, _, _ in TABLE_COLUMNS:
        table.add_column(name, justify="right")
    for scheme in SCHEMES:
        if scheme in kpis:
            row = kpis[scheme]
            table.add_row(scheme, *("-" if row.get(key) is None else format(row[key], fmt)
                                    for _, key, fmt in TABLE_COLUMNS))
    return table
