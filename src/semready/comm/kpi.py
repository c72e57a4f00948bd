"""The paper's KPIs on real bitstreams (|Z_i|: docs/protocol.md §4; ι: docs/protocol.md §5).

Every formula is in docs/kpis.md.

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

from typing import Any

import numpy as np
import torch


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-item PSNR (dB) between two batches of uint8-valued items (peak 255).

    Args:
        x: items, any dtype holding 0–255 values, N×… (flattened per item).
        y: reference items, same shape as ``x``.

    Returns:
        float64 (N,); inf where an item equals its reference.

    >>> x = torch.zeros(2, 3, dtype=torch.uint8)
    >>> y = torch.tensor([[0, 0, 0], [10, 10, 10]], dtype=torch.uint8)
    >>> psnr_db(x, y).round().tolist()
    [inf, 28.0]
    """
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse)


def target_mse(psnr: float) -> float:
    """The per-value mean squared error (0–255 scale) a PSNR target allows.

    Args:
        psnr: the fidelity target in dB.

    Returns:
        The largest MSE that still meets ``psnr``.

    >>> round(target_mse(40.0), 4)
    6.5025
    """
    return 255.0 ** 2 / 10 ** (psnr / 10)


def attribute_stream_bits(information_bits: np.ndarray, stream_bits: int) -> np.ndarray:
    """Per-item |Z_i|: information content plus an equal share of the coder's overhead (docs/protocol.md §4).

    Args:
        information_bits: −log2 p(Z_i) per item, float (N,).
        stream_bits: the length of the range-coded stream that carries all N items.

    Returns:
        float (N,), summing to ``stream_bits``.

    >>> attribute_stream_bits(np.array([10.0, 20.0]), 40).tolist()
    [15.0, 25.0]
    """
    n = len(information_bits)
    if n == 0:
        return np.zeros(0)
    return information_bits + (stream_bits - float(information_bits.sum())) / n


def packets_for(bits: np.ndarray, payload_bytes: int) -> np.ndarray:
    """Packets of ``payload_bytes`` needed to carry each message (the last one partly filled).

    Args:
        bits: message lengths in bits, scalar or (N,).
        payload_bytes: packet payload.

    Returns:
        float64 packet counts, the shape of ``bits``.

    >>> packets_for(np.array([0, 1, 11776, 11777]), 1472).tolist()
    [0.0, 1.0, 1.0, 2.0]
    """
    return np.ceil(np.asarray(bits, dtype=np.float64) / (8 * payload_bytes))


def semantic_impact(generated_packets: np.ndarray, passed: np.ndarray, rep_bits: np.ndarray, rate_bps: float,
                    generation_seconds: float, link_overhead: float = 1.0) -> np.ndarray:
    """ι_i = P_i / τ_i for semantically sent items (docs/protocol.md §5).

    Where every regenerated item fits one packet (P_i = 1: any 16×16 RGB item at the default 1,472-byte payload),
    ι_i is just 1/τ_i (docs/kpis.md, "When ι is just 1/τ").

    Args:
        generated_packets: P_i, the classical packets the regenerated item is worth, (N,).
        passed: whether each regeneration met the fidelity target, bool (N,); P_i counts as 0 where not.
        rep_bits: |Z_i| in bits, (N,).
        rate_bps: link rate R.
        generation_seconds: the apprentice's generation time per item.
        link_overhead: link bits sent per stream bit (retransmissions), ≥ 1.

    Returns:
        float (N,), packets / (representation · s).

    >>> semantic_impact(np.array([4.0, 4.0]), np.array([True, False]), np.array([1000.0, 1000.0]), 1e6, 0.0).tolist()
    [4000.0, 0.0]
    """
    tau = rep_bits * link_overhead / rate_bps + generation_seconds
    return np.where(passed, generated_packets, 0.0) / tau


def classical_impact(packet_rate: float, packets: np.ndarray, transmissions: np.ndarray) -> np.ndarray:
    """ι_i = R / (8·payload) × packets / transmissions for classically sent items (docs/protocol.md §5).

    Args:
        packet_rate: R / (8·payload), packets per second of an error-free link.
        packets: packets per item, (N,).
        transmissions: transmissions per item, retransmissions included, (N,).

    Returns:
        float64 (N,).

    >>> classical_impact(100.0, np.array([2, 2]), np.array([2, 4])).tolist()
    [100.0, 50.0]
    """
    return packet_rate * np.asarray(packets, dtype=np.float64) / np.maximum(transmissions, 1)


def finite_mean(values: np.ndarray) -> float | None:
    """Mean of the finite entries (PSNR is inf for exact items), or None if there are none.

    Args:
        values: float (N,).

    Returns:
        The mean, or None.

    >>> finite_mean(np.array([1.0, np.inf, 3.0]))
    2.0
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def _reduction(before: float | None, after: float | None) -> float | None:
    """100·(1 − after/before), None when either is missing or ``before`` is not positive."""
    if before is None or after is None or not before > 0:
        return None
    return 100 * (1 - after / before)


def break_even_items(dictionary_bits: float, payload_per_item: float, baseline_per_item: float) -> float | None:
    """The stream length at which a scheme's dictionary has paid for itself against a baseline.

    N* = dictionary / (baseline − payload), per-item payloads as measured on the stream; None if the scheme's
    payload is not below the baseline's (it never breaks even).

    >>> break_even_items(1000.0, 30.0, 40.0)
    100.0
    >>> break_even_items(1000.0, 50.0, 40.0) is None
    True
    """
    gain = baseline_per_item - payload_per_item
    return dictionary_bits / gain if gain > 0 else None


def compare(kpis: dict) -> dict[str, Any]:
    """The paper's headline quantities (disentangled against vanilla), where both schemes ran, same items first.

    - ``same_items_reduction_pct``: mean |Z_i| over the learnable items, which both schemes send semantically
      — only the language differs, so no item selection enters;
    - ``all_items_reduction_pct``: payload bits per item over every item (semantic and classical, no dictionary);
    - ``total_bits_reduction_pct``: the same with each scheme's dictionary counted;
    - ``representation_length_reduction_pct``: mean |Z_i| over each scheme's own semantic items (the paper's
      Fig. 2 quantity; it mixes in which items each scheme sends semantically);
    - against ``classical`` (when it ran): each semantic scheme's total reduction, and ``break_even_items``
      (``vanilla_break_even_items``), the stream length at which the disentangled (vanilla) dictionary pays for
      itself; ``break_even_items_header_stripped`` against the classical items without their container headers
      (the semantic stream carries none).

    Args:
        kpis: scheme -> summary, as :func:`simulate` returns.

    Returns:
        Percentages keyed ``*_pct``, Γ̂ per learnable item of both languages, and the break-even length; empty
        if vanilla or disentangled is missing.

    >>> compare({"vanilla": {"mean_representation_bits": 200.0, "mean_representation_bits_learnable": 160.0,
    ...                      "semantic_impact": 10.0, "total_bits_per_item": 400.0,
    ...                      "total_bits_per_item_excluding_dictionary": 400.0},
    ...          "disentangled": {"mean_representation_bits": 100.0, "mean_representation_bits_learnable": 120.0,
    ...                           "semantic_impact": 15.0, "total_bits_per_item": 300.0,
    ...                           "total_bits_per_item_excluding_dictionary": 100.0}})  # doctest: +NORMALIZE_WHITESPACE
    {'same_items_reduction_pct': 25.0, 'all_items_reduction_pct': 75.0, 'total_bits_reduction_pct': 25.0,
     'representation_length_reduction_pct': 50.0, 'semantic_impact_gain_pct': 50.0}
    """
    out: dict[str, Any] = {}
    van, dis = kpis.get("vanilla"), kpis.get("disentangled")
    if not (van and dis):
        return out
    out["same_items_reduction_pct"] = _reduction(van.get("mean_representation_bits_learnable"),
                                                 dis.get("mean_representation_bits_learnable"))
    out["all_items_reduction_pct"] = _reduction(van.get("total_bits_per_item_excluding_dictionary"),
                                                dis.get("total_bits_per_item_excluding_dictionary"))
    out["total_bits_reduction_pct"] = _reduction(van.get("total_bits_per_item"), dis.get("total_bits_per_item"))
    out["representation_length_reduction_pct"] = _reduction(van.get("mean_representation_bits"),
                                                            dis.get("mean_representation_bits"))
    if van.get("semantic_impact", 0) > 0:
        out["semantic_impact_gain_pct"] = 100 * (dis["semantic_impact"] / van["semantic_impact"] - 1)
    for name in ("vanilla", "disentangled"):  # Γ̂ of both languages on the same items, X_l
        if kpis[name].get("gamma_nats_per_learnable_item") is not None:
            out[f"{name}_gamma_nats_per_learnable_item"] = kpis[name]["gamma_nats_per_learnable_item"]
    cls = kpis.get("classical")
    if cls:
        for name, summary in (("disentangled", dis), ("vanilla", van)):
            out[f"{name}_vs_classical_total_pct"] = _reduction(cls["total_bits_per_item"],
                                                              summary.get("total_bits_per_item"))
            payload = summary.get("total_bits_per_item_excluding_dictionary")
            if payload is not None:
                prefix = "" if name == "disentangled" else "vanilla_"
                out[f"{prefix}break_even_items"] = break_even_items(summary.get("dictionary_bits") or 0, payload,
                                                                    cls["total_bits_per_item"])
        stripped = cls.get("mean_classical_header_stripped_bits")  # the codec's payload without its container
        if stripped is not None and dis.get("total_bits_per_item_excluding_dictionary") is not None:
            out["break_even_items_header_stripped"] = break_even_items(
                dis.get("dictionary_bits") or 0, dis["total_bits_per_item_excluding_dictionary"], stripped)
    return {k: v for k, v in out.items() if v is not None or "break_even" in k}
