"""Physical-channel benchmark: python benchmarks/channel.py [--run RUN] [--items 200] [--out results.json].

The classical, vanilla and disentangled schemes of a trained run (``--run``; else a tiny one trained here with
:mod:`semready.api` on the embedded ``sample`` at 16×16, 2 epochs) send ``--items`` of the run's held-out items
once (:func:`semready.comm.system.run_scheme`, the languages built once), then the same messages go over QPSK on
AWGN and on Rayleigh block fading at Es/N0 = 0, 2.5, ..., 20 dB (:func:`semready.comm.snr_sweep.run_snr_sweep`).
Per scheme, channel and SNR: BER, packet error, transmissions per packet, delivered share, fidelity pass rate,
goodput and items passed per second of link time (docs/kpis.md, "Physical channel").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import write_result

from semready import api
from semready.comm.simulate import language_mask, run_items
from semready.comm.snr_sweep import run_snr_sweep, sweep_table
from semready.comm.system import SCHEMES, run_scheme
from semready.rundir import RunDir

SNRS = tuple(np.arange(0.0, 20.01, 2.5).tolist())
KEEP = ("semantic_items", "classical_items", "semantic_stream_bits", "total_bits_per_item_excluding_dictionary",
        "fidelity_pass_rate", "link_seconds")


def tiny_run(work: Path, epochs: int, seed: int) -> Path:
    """A 2-epoch quick-preset run on the embedded sample at 16×16 (kept in ``work``; reused when there)."""
    run = work / "run"
    if RunDir(run).samples.is_file():
        return run
    cfg = api.build_config("quick", overrides={"data": {"spec": "sample", "image_size": 16},
                                               "train": {"epochs": epochs, "seed": seed}})
    api.train(run, cfg, progress=False)
    return run


def run_channel_benchmark(run: Path, items: int, modulation: str = "qpsk", snrs=SNRS, learned: bool = False,
                          fidelity: float | None = None) -> dict:
    t0 = time.perf_counter()
    cfg = RunDir(run).read_config()
    own = run_items(run, cfg)
    in_fit = language_mask(len(own), cfg.comm.language_fraction, cfg.train.seed)
    fit = own.subset(in_fit)
    held_out = np.flatnonzero(~in_fit)[:items]
    sent = np.zeros(len(own), dtype=bool)
    sent[held_out] = True
    stream = own.subset(sent)
    # the messages: what each scheme sends, error-free
    comm = cfg.comm.model_copy(update={"channel": "packet", "language": "linear",
                                       **({"fidelity_psnr_db": fidelity} if fidelity else {})})
    summaries, tables = {}, {}
    for scheme in SCHEMES:
        summaries[scheme], tables[scheme], _ = run_scheme(scheme, fit, stream, cfg.model.clusters, comm,
                                                          cfg.train.seed)
    for scheme in ("vanilla", "disentangled") if learned else ():  # the learned language on the same items
        summaries[f"learned {scheme}"], tables[f"learned {scheme}"], _ = run_scheme(
            scheme, fit, stream, cfg.model.clusters, comm.model_copy(update={"language": "learned"}), cfg.train.seed)
    t_sweep = time.perf_counter()
    sweeps = {kind: run_snr_sweep(summaries, tables, comm.model_copy(update={"channel": kind,
                                                                           "modulation": modulation}),
                                  snrs, cfg.train.seed)
              for kind in ("awgn", "rayleigh")}
    return {"benchmark": "channel", "run": str(run), "torch": torch.__version__, "items_sent": len(stream),
            "learnable_sent": int(stream.learnable.sum()), "language_items": len(fit),
            "image_size": int(own.images.shape[-1]), "fidelity_psnr_db": comm.fidelity_psnr_db,
            "classical_codec": comm.classical_codec, "modulation": modulation, "symbol_rate": comm.symbol_rate,
            "payload_bytes": comm.payload_bytes, "max_transmissions": comm.max_transmissions,
            "schemes": {s: {k: summaries[s].get(k) for k in KEEP} for s in summaries}, "sweeps": sweeps,
            "schemes_seconds": t_sweep - t0, "sweep_seconds": time.perf_counter() - t_sweep,
            "wall_seconds": time.perf_counter() - t0}


def markdown(result: dict) -> str:
    """Per channel and SNR: BER, then each scheme's fidelity pass rate and items passed per link second."""
    names = list(result["schemes"])
    head = "| channel | Es/N0 (dB) | BER | " + " | ".join(f"{s} pass / items/s" for s in names) + " |"
    lines = [head, "|" + "---|" * (3 + len(names))]
    for kind, sweep in result["sweeps"].items():
        by = {(p["scheme"], p["snr_db"]): p for p in sweep["points"]}
        for snr in sorted({p["snr_db"] for p in sweep["points"]}):
            cells = [f"{by[s, snr]['fidelity_pass_rate']:.3f} / {by[s, snr]['passed_items_per_second']:,.0f}"
                     for s in names]
            lines.append(f"| {kind} | {snr:g} | {by[names[0], snr]['ber']:.2e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_tables(result: dict) -> None:
    from rich.console import Console

    console = Console(width=200)
    for sweep in result["sweeps"].values():
        console.print(sweep_table(sweep))
    print(markdown(result))
    print({s: {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
           for s, r in result["schemes"].items()})
    print(f"{result['items_sent']} items sent ({result['learnable_sent']} learnable), schemes "
          f"{result['schemes_seconds']:.1f} s, sweeps {result['sweep_seconds']:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, help="a trained run (default: train a tiny one in --work)")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/results/channel_run"))
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the tiny run")
    ap.add_argument("--items", type=int, default=200, help="held-out items sent")
    ap.add_argument("--modulation", default="qpsk", choices=("bpsk", "qpsk", "16qam"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--learned", action="store_true", help="also vanilla and disentangled with the learned language")
    ap.add_argument("--fidelity", type=float, default=None, help="PSNR target (default: the run's)")
    ap.add_argument("--out", default="benchmarks/results/channel.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = args.run or tiny_run(args.work, args.epochs, args.seed)
    result = run_channel_benchmark(run, args.items, args.modulation, learned=args.learned, fidelity=args.fidelity)
    result["total_seconds"] = time.perf_counter() - t0  # training the tiny run included
    print_tables(result)
    write_result(result, args.out)
