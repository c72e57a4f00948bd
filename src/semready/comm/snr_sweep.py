"""The SNR sweep (docs/kpis.md, "Physical channel"): the schemes' messages sent again over a physical channel at
each SNR of a list.

What a scheme sends does not depend on the channel: its language, the semantic stream's bits, each classical
item's bits and every item's PSNR at the receiver are fixed once :func:`~semready.comm.system.run_scheme` has run
(the link retransmits a damaged packet; it never delivers one with errors). So the sweep reuses one run of the
schemes — the languages are built once — and, per scheme and SNR, sends the same messages in the same order
through a fresh seeded :class:`~semready.comm.link.Link`: the semantic stream first, then each classical item,
exactly as ``run_scheme`` does, so a sweep point equals ``run_scheme`` run at that SNR.

Per scheme and SNR it reports: ``goodput_bps`` (the bits of the messages delivered / the link's seconds, every
transmission counted), ``delivered_share`` (items whose message arrived), ``fidelity_pass_rate`` (delivered and
meeting the PSNR target: an undelivered item fails), ``passed_items_per_second``, ``mean_transmissions_per_packet``
and the channel's ``ber`` and ``packet_error`` (one transmission of a full packet) at that SNR.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydantic import ValidationError

from semready.comm.channel import channel_from_config
from semready.comm.link import Link
from semready.config import CommConfig
from semready.errors import SemreadyError

SWEEP_COLUMNS = (("Es/N0 (dB)", "snr_db", ".1f"), ("Eb/N0 (dB)", "ebn0_db", ".1f"), ("BER", "ber", ".2e"),
                 ("packet error", "packet_error", ".3f"), ("tx/packet", "mean_transmissions_per_packet", ".2f"),
                 ("delivered", "delivered_share", ".3f"), ("fidelity pass", "fidelity_pass_rate", ".3f"),
                 ("goodput (bit/s)", "goodput_bps", ",.0f"), ("passed items/s", "passed_items_per_second", ",.1f"))


def parse_snr_list(text: str) -> list[float]:
    """``"0,5,10"`` -> [0.0, 5.0, 10.0]: the SNRs (Es/N0, dB) of ``--snr-sweep``.

    Args:
        text: comma-separated numbers.

    Returns:
        The SNRs, in the order given.

    >>> parse_snr_list(" 0, 5,10 ")
    [0.0, 5.0, 10.0]
    """
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SemreadyError(f"--snr-sweep {text!r} is not a list of numbers: give Es/N0 values in dB like "
                            "'0,5,10,15'") from None
    return values


def check_snr_list(cfg: CommConfig, snrs: Iterable[float]) -> list[float]:
    """Validate a sweep: a physical channel, at least two distinct SNRs, each within ``comm.snr_db``'s range.

    Args:
        cfg: the comm settings the sweep runs with.
        snrs: Es/N0 values in dB.

    Returns:
        The SNRs, sorted, duplicates dropped.

    >>> check_snr_list(CommConfig(channel="awgn"), [10, 0, 10])
    [0.0, 10.0]
    """
    values = sorted({float(s) for s in snrs})
    if cfg.channel == "packet":
        raise SemreadyError("an SNR sweep needs a physical channel: add --channel awgn or --channel rayleigh "
                            "(comm.channel)")
    if len(values) < 2:
        raise SemreadyError(f"an SNR sweep needs at least two different SNRs, got {values}: give e.g. '0,5,10,15'")
    for snr in values:
        try:
            CommConfig.model_validate({**cfg.model_dump(), "snr_db": snr})
        except ValidationError as err:
            raise SemreadyError(f"SNR {snr:g} dB in the sweep is out of range ({err.errors()[0]['msg']}): keep "
                                "every point within comm.snr_db's -10..40 dB") from None
    return values


def sweep_point(summary: dict, table: dict, cfg: CommConfig, snr_db: float, seed: int = 0) -> dict:
    """One scheme's messages over the channel at one SNR.

    Args:
        summary: the scheme's summary from :func:`~semready.comm.system.run_scheme` (``semantic_stream_bits``).
        table: its per-item table: ``path``, ``bits``, ``psnr``, each (N,).
        cfg: the comm settings (channel, modulation, symbol rate, fidelity target).
        snr_db: Es/N0 in dB.
        seed: seeds the link's draws (``run_scheme``'s seed, for the same draws).

    Returns:
        The point's KPIs (module docstring).
    """
    link = Link.from_config(cfg, seed, snr_db)
    if link.channel is None:
        raise SemreadyError("an SNR sweep needs a physical channel: set comm.channel to awgn or rayleigh")
    semantic = np.asarray(table["path"]) == "semantic"
    n = len(semantic)
    delivered = np.ones(n, dtype=bool)
    transfers = []
    if semantic.any():
        transfers.append(link.send(int(summary["semantic_stream_bits"])))
        delivered[semantic] = transfers[-1].delivered
    classical = np.flatnonzero(~semantic)
    for i in classical:  # in stream order, one message each, as send_classical sends them
        transfers.append(link.send(int(round(table["bits"][i]))))
        delivered[i] = transfers[-1].delivered
    seconds = sum(t.seconds for t in transfers)
    payload = sum(t.bits for t in transfers if t.delivered)
    passed = delivered & (np.asarray(table["psnr"]) >= cfg.fidelity_psnr_db)
    packets = sum(t.packets for t in transfers)
    channel = link.channel
    return {"snr_db": float(snr_db), "ebn0_db": channel.ebn0_db, "ber": channel.ber(),
            "packet_error": channel.packet_error(link.packet_bits),
            "goodput_bps": payload / seconds if seconds else 0.0,
            "delivered_share": float(delivered.mean()) if n else 0.0,
            "fidelity_pass_rate": float(passed.mean()) if n else 0.0,
            "passed_items_per_second": float(passed.sum()) / seconds if seconds else 0.0,
            "mean_transmissions_per_packet": sum(t.transmissions for t in transfers) / packets if packets else 0.0,
            "link_seconds": seconds}


def run_snr_sweep(summaries: dict[str, dict], tables: dict[str, dict], cfg: CommConfig, snrs: Iterable[float],
                  seed: int = 0) -> dict:
    """Every scheme at every SNR (:func:`sweep_point`).

    Args:
        summaries: scheme -> its summary from ``run_scheme``.
        tables: scheme -> its per-item table.
        cfg: the comm settings (a physical ``channel``).
        snrs: Es/N0 values in dB, at least two.
        seed: seeds the link's draws.

    Returns:
        ``channel``, ``modulation``, ``symbol_rate``, ``rate_bps``, ``payload_bytes``, ``max_transmissions`` and
        ``points``: one row per scheme and SNR (``scheme`` plus :func:`sweep_point`'s KPIs).
    """
    snrs = check_snr_list(cfg, snrs)
    channel = channel_from_config(cfg)
    points = [{"scheme": scheme, **sweep_point(summaries[scheme], tables[scheme], cfg, snr, seed)}
              for scheme in summaries for snr in snrs]
    return {"channel": cfg.channel, "modulation": cfg.modulation, "symbol_rate": cfg.symbol_rate,
            "rate_bps": channel.rate_bps, "payload_bytes": cfg.payload_bytes,
            "max_transmissions": cfg.max_transmissions, "points": points}


def sweep_table(sweep: dict, title: str | None = None):
    """The sweep as a rich Table, one row per scheme and SNR (what ``semready simulate --snr-sweep`` prints).

    Args:
        sweep: what :func:`run_snr_sweep` returns (``kpis["snr_sweep"]``).
        title: the table's title; the channel's settings unless given.

    Returns:
        A :class:`rich.table.Table`.
    """
    from rich.table import Table

    table = Table(title=title or f"SNR sweep: {sweep['modulation'].upper()} over {sweep['channel']}, "
                                 f"R = {sweep['rate_bps']:,.0f} bit/s, {sweep['payload_bytes']}-byte packets, "
                                 f"<= {sweep['max_transmissions']} tries")
    table.add_column("scheme")
    for name, _, _ in SWEEP_COLUMNS:
        table.add_column(name, justify="right")
    for row in sweep["points"]:
        table.add_row(row["scheme"], *(format(row[key], fmt) for _, key, fmt in SWEEP_COLUMNS))
    return table
