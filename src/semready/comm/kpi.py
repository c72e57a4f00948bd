"""The paper's KPIs, computed on real bitstreams (PROTOCOL §4–5; every formula in docs/kpis.md).

- fidelity: one criterion for every scheme — the PSNR (dB) of the item the receiver ends up with, against the
  original, at or above ``comm.fidelity_psnr_db``;
- representation length |Z_i| (bits): the item's share of the actual range-coded stream — its information
  content −log2 p(Z_i) plus an equal share of the stream's coder overhead, so the shares add up to the stream;
- semantic impact ι_i (packets / (representation·s)): for a semantic item P_i / τ_i, with P_i =
  ⌈bits the classical codec needs for the regenerated item / (8·payload)⌉ (0 if the item fails fidelity) and
  τ_i = |Z_i|·(link bits sent / stream bits) / R + the measured generation time per item; for a classical item
  R / (8·payload) × packets / transmissions (a packet generates itself, retransmissions cost time).
"""

from __future__ import annotations

import numpy as np
import torch


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-item PSNR (dB) between uint8-valued tensors N×…; inf where identical."""
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse)


def target_mse(psnr: float) -> float:
    """The per-value mean squared error (0–255 scale) a PSNR target allows."""
    return 255.0 ** 2 / 10 ** (psnr / 10)


def attribute_stream_bits(information_bits: np.ndarray, stream_bits: int) -> np.ndarray:
    """Per-item |Z_i|: information content plus an equal share of the coder's overhead; sums to stream_bits."""
    n = len(information_bits)
    if n == 0:
        return np.zeros(0)
    return information_bits + (stream_bits - float(information_bits.sum())) / n


def packets_for(bits: np.ndarray, payload_bytes: int) -> np.ndarray:
    """Packets of ``payload_bytes`` needed to carry each of ``bits`` (the last one partly filled)."""
    return np.ceil(np.asarray(bits, dtype=np.float64) / (8 * payload_bytes))


def semantic_impact(generated_packets: np.ndarray, passed: np.ndarray, rep_bits: np.ndarray, rate_bps: float,
                    generation_seconds: float, link_overhead: float = 1.0) -> np.ndarray:
    """ι_i = P_i / τ_i for semantically sent items (P_i = 0 where the regeneration fails the target)."""
    tau = rep_bits * link_overhead / rate_bps + generation_seconds
    return np.where(passed, generated_packets, 0.0) / tau


def classical_impact(packet_rate: float, packets: np.ndarray, transmissions: np.ndarray) -> np.ndarray:
    """ι_i = R / (8·payload) × packets / transmissions for classically sent items."""
    return packet_rate * np.asarray(packets, dtype=np.float64) / np.maximum(transmissions, 1)


def finite_mean(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None
