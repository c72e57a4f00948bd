"""The headline numbers of a reproduction and the shapes of its curves, computed from results.csv rows.

Headline, beside the paper's: the representation-length reduction of the disentangled scheme against vanilla
semantic communication, 100·(1 − mean|Z| disentangled / mean|Z| vanilla), and the semantic-impact gain,
100·(ι disentangled / ι vanilla − 1), each computed per (level, seed) and then averaged (± std), and at the
highest complexity level alone. The paper does not say over which levels its 57.22 % and 71.9 % are taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PAPER = {"representation_length_reduction_pct": 57.22, "semantic_impact_gain_pct": 71.9}


def level_names(rows: list[dict[str, Any]]) -> list[str]:
    """The rows' level names (L1, L2, ...) in order of complexity (numerically: L10 after L9).

    Args:
        rows: result rows, each with a ``level``.

    Returns:
        The distinct names, sorted.

    >>> level_names([{"level": "L10"}, {"level": "L9"}, {"level": "L10"}])
    ['L9', 'L10']
    """
    return sorted({r["level"] for r in rows}, key=lambda name: int(name[1:]))


def by_level(rows: list[dict[str, Any]], scheme: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scheme's ``key`` per level: x = content complexity, mean and std over seeds.

    Args:
        rows: results.csv rows, one per (level, seed, scheme).
        scheme: the scheme.
        key: a result column.

    Returns:
        (x, mean, std), each (L,) over the levels where ``key`` has a value.

    >>> rows = [{"level": "L1", "seed": 0, "scheme": scheme, "content_complexity_nats": 1.5,
    ...          "mean_representation_bits": bits, "semantic_impact": impact, "total_bits_per_item": total}
    ...         for scheme, bits, impact, total in (("vanilla", 200.0, 10.0, 400.0),
    ...                                              ("disentangled", 100.0, 15.0, 300.0))]
    >>> [a.tolist() for a in by_level(rows, "disentangled", "semantic_impact")]
    [[1.5], [15.0], [0.0]]
    """
    levels = level_names(rows)
    xs, means, stds = [], [], []
    for lv in levels:
        vals = [float(r[key]) for r in rows if r["level"] == lv and r["scheme"] == scheme
                and r.get(key) not in (None, "")]
        if vals:
            xs.append(np.mean([float(r["content_complexity_nats"]) for r in rows if r["level"] == lv]))
            means.append(np.mean(vals))
            stds.append(np.std(vals))
    return np.array(xs), np.array(means), np.array(stds)


def _pairs(rows, key: str) -> dict[tuple[str, int], tuple[float, float]]:
    table: dict[tuple[str, int], dict[str, float]] = {}
    for r in rows:
        if r["scheme"] in ("vanilla", "disentangled") and r.get(key) not in (None, ""):
            table.setdefault((r["level"], int(r["seed"])), {})[r["scheme"]] = float(r[key])
    return {k: (v["vanilla"], v["disentangled"]) for k, v in table.items() if len(v) == 2}


def headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline percentages, disentangled against vanilla, per (level, seed), beside the paper's.

    Args:
        rows: results.csv rows, one per (level, seed, scheme).

    Returns:
        Per quantity (``*_pct``): ``mean``, ``std``, ``highest_level`` (None where no pair) and ``paper``.

    >>> rows = [{"level": "L1", "seed": 0, "scheme": scheme, "content_complexity_nats": 1.5,
    ...          "mean_representation_bits": bits, "semantic_impact": impact, "total_bits_per_item": total}
    ...         for scheme, bits, impact, total in (("vanilla", 200.0, 10.0, 400.0),
    ...                                              ("disentangled", 100.0, 15.0, 300.0))]
    >>> headline(rows)["representation_length_reduction_pct"]
    {'mean': 50.0, 'std': 0.0, 'highest_level': 50.0, 'paper': 57.22}
    """
    out: dict[str, Any] = {}
    top = (level_names(rows) or [None])[-1]
    for name, key, fn in (("representation_length_reduction_pct", "mean_representation_bits",
                           lambda v, d: 100 * (1 - d / v)),
                          ("semantic_impact_gain_pct", "semantic_impact", lambda v, d: 100 * (d / v - 1)),
                          ("total_bits_reduction_pct", "total_bits_per_item", lambda v, d: 100 * (1 - d / v))):
        pairs = _pairs(rows, key)
        vals = [fn(v, d) for v, d in pairs.values() if v > 0]
        at_top = [fn(v, d) for (lv, _), (v, d) in pairs.items() if lv == top and v > 0]
        out[name] = {"mean": float(np.mean(vals)) if vals else None, "std": float(np.std(vals)) if vals else None,
                     "highest_level": float(np.mean(at_top)) if at_top else None, "paper": PAPER.get(name)}
    return out


def _slope(rows, scheme: str, key: str) -> float | None:
    x, m, _ = by_level(rows, scheme, key)
    return float(np.polyfit(x, m, 1)[0]) if len(x) >= 2 else None


def shapes(rows: list[dict[str, Any]]) -> list[str]:
    """The paper's qualitative claims, each checked against our data in one plain sentence.

    Args:
        rows: results.csv rows, one per (level, seed, scheme).

    Returns:
        One sentence per claim that the rows can check.
    """
    lines = []
    sv, sd = _slope(rows, "vanilla", "mean_representation_bits"), _slope(rows, "disentangled",
                                                                          "mean_representation_bits")
    if sv is not None and sd is not None:
        lines.append(f"Fig. 2 — vanilla |Z_i| grows with content complexity: {'holds' if sv > 0 else 'does NOT hold'}"
                     f" (slope {sv:+.0f} bits/nat).")
        lines.append(f"Fig. 2 — disentangled |Z_i| stays contained (grows more slowly than vanilla): "
                     f"{'holds' if sd < sv else 'does NOT hold'} (slope {sd:+.0f} vs {sv:+.0f} bits/nat).")
    iv, idis = _slope(rows, "vanilla", "semantic_impact"), _slope(rows, "disentangled", "semantic_impact")
    if iv is not None and idis is not None:
        lines.append(f"Fig. 3 — vanilla semantic impact falls with content complexity: "
                     f"{'holds' if iv < 0 else 'does NOT hold'} (slope {iv:+.1f} per nat).")
        lines.append(f"Fig. 3 — disentangled semantic impact holds up better than vanilla: "
                     f"{'holds' if idis > iv else 'does NOT hold'} (slope {idis:+.1f} vs {iv:+.1f} per nat).")
    low = level_names(rows)[0]
    _, van_low, _ = by_level([r for r in rows if r["level"] == low], "vanilla", "mean_representation_bits")
    _, dis_low, _ = by_level([r for r in rows if r["level"] == low], "disentangled", "mean_representation_bits")
    if len(van_low) and len(dis_low):
        lines.append(f"Fig. 2 — at the lowest complexity vanilla is as short as or shorter than disentangled (the "
                     f"paper: 'might result in a smaller representation length'): "
                     f"{'holds' if van_low[0] <= dis_low[0] else 'does NOT hold'} ({van_low[0]:.0f} vs "
                     f"{dis_low[0]:.0f} bits).")
    if idis is not None:
        lines.append(f"Fig. 3 — disentangled semantic impact grows with content complexity (the paper's claim): "
                     f"{'holds' if idis > 0 else 'does NOT hold'} (slope {idis:+.1f} per nat).")
    h = headline(rows)["representation_length_reduction_pct"]
    if h["mean"] is not None:
        lines.append(f"Disentangled |Z_i| shorter than vanilla on average: {'yes' if h['mean'] > 0 else 'NO'} "
                     f"({h['mean']:.1f} % ± {h['std']:.1f}; paper 57.22 %).")
    return lines
