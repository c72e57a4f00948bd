"""Fig. 2, Fig. 3 (styled like the paper's, with mean ± std bands over seeds), the honest totals, and report.md.

Headline numbers, beside the paper's: the representation-length reduction of the disentangled scheme against
vanilla semantic communication, 100·(1 − mean|Z| disentangled / mean|Z| vanilla), and the semantic-impact gain,
100·(ι disentangled / ι vanilla − 1), each computed per (level, seed) and then averaged (± std), and at the
highest complexity level alone. The paper does not say over which levels its 57.22 % and 71.9 % are taken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.rundir import SweepDir

PAPER = {"representation_length_reduction_pct": 57.22, "semantic_impact_gain_pct": 71.9}
STYLE = {"classical": ("tab:gray", "s", "Classical"), "vanilla": ("tab:red", "o", "Vanilla semantic"),
         "disentangled": ("tab:blue", "^", "Disentangled (ours)")}


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


def _plot(out: Path, stem: str, rows, schemes, key: str, ylabel: str, title: str, extra=None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.9))
    for scheme in schemes:
        color, marker, label = STYLE[scheme]
        x, m, s = by_level(rows, scheme, key)
        if len(x):
            ax.plot(x, m, marker=marker, color=color, label=label)
            ax.fill_between(x, m - s, m + s, color=color, alpha=0.2)
    if extra is not None:
        extra(ax)
    ax.set_xlabel("Content complexity (nats)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    names = []
    for ext in ("png", "svg"):
        fig.savefig(out / f"{stem}.{ext}", dpi=150)
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def write_figures(out: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Draw Fig. 2, Fig. 3 and the total-bits figure into ``out`` as PNG and SVG.

    Args:
        out: the reproduction folder.
        rows: results.csv rows, one per (level, seed, scheme).

    Returns:
        The file names written.
    """
    def dictionary_free(ax):  # the totals without the one-time dictionary, dashed
        for scheme in ("vanilla", "disentangled"):
            x, m, _ = by_level(rows, scheme, "total_bits_per_item_excluding_dictionary")
            if len(x):
                ax.plot(x, m, ls="--", color=STYLE[scheme][0], label=f"{STYLE[scheme][2]}, without dictionary")

    return (_plot(out, "fig2_representation_length", rows, ("vanilla", "disentangled"), "mean_representation_bits",
                  "Average representation length |Z_i| (bits)", "Fig. 2: |Z_i| of semantically sent items")
            + _plot(out, "fig3_semantic_impact", rows, ("classical", "vanilla", "disentangled"), "semantic_impact",
                    "Semantic impact (packets/(representation·s))", "Fig. 3: semantic impact, all items")
            + _plot(out, "fig2_total_bits_per_item", rows, ("classical", "vanilla", "disentangled"),
                    "total_bits_per_item", "Total bits per item (all items, dictionary amortised)",
                    "The honest total (not in the paper)", dictionary_free))


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


def _fmt(x: float | None, spec: str = ".0f") -> str:
    return "–" if x is None else format(x, spec)


def write_report(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any], figures: list[str]
                 ) -> dict[str, Any]:
    """Write ``out/report.md``: settings, headline table, the paper's shapes checked, per-level table, figures.

    Args:
        out: the reproduction folder.
        rows: results.csv rows, one per (level, seed, scheme).
        summary: the sweep's summary (settings and timings), as :func:`~semready.experiments.reproduce.reproduce`
            builds it.
        figures: the figure file names (:func:`write_figures`).

    Returns:
        ``headline``, ``shapes`` and ``figures``.
    """
    head = headline(rows)
    checks = shapes(rows)
    s = summary["settings"]
    lines = ["# semready reproduce — the paper's Fig. 2, Fig. 3 and headline numbers", "",
             f"Preset `{s['preset']}`, {s['seeds']} seed(s), {s['items']} items per stream at {s['image_size']}×"
             f"{s['image_size']}, teacher budget {s['minutes_per_teacher']} min, content pools "
             f"{', '.join(s['content'])}. Wall time **{summary['wall_seconds_total'] / 60:.1f} min** over all "
             f"invocations ({s['workers']} worker processes, {summary['job_seconds_total'] / 60:.1f} job-minutes); "
             f"this invocation ran {summary['jobs_run']} job(s) and reused {summary['jobs_skipped']} in "
             f"{summary['wall_seconds'] / 60:.1f} min.", "",
             "Definitions: content complexity H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·ln N_m (docs/protocol.md §3); |Z_i|, ι, "
             "fidelity and Γ̂ as in docs/kpis.md (real range-coded bitstreams, PNG classical path, PSNR target "
             "at the receiver). Where the paper is silent we chose, and docs/kpis.md says how.", "",
             "## Headline", "", "| quantity | ours (mean ± std over levels × seeds) | ours, highest level | paper |",
             "|---|---|---|---|"]
    for name, label in (("representation_length_reduction_pct", "representation length reduction vs vanilla"),
                        ("semantic_impact_gain_pct", "semantic impact gain vs vanilla"),
                        ("total_bits_reduction_pct", "total bits per item reduction vs vanilla (not in paper)")):
        h = head[name]
        lines.append(f"| {label} | {_fmt(h['mean'], '.1f')} % ± {_fmt(h['std'], '.1f')} | "
                     f"{_fmt(h['highest_level'], '.1f')} % | {_fmt(h['paper'], '.2f')}{' %' if h['paper'] else ''} |")
    lines += ["", "## Do the paper's shapes hold?", "", *[f"- {c}" for c in checks], "",
              "## Per level (mean ± std over seeds)", "",
              "| level | H_c (nats) | K | ρ | scheme | mean \\|Z_i\\| (bits) | total bits/item | ι | fidelity pass |",
              "|---|---|---|---|---|---|---|---|---|"]
    levels = level_names(rows)
    for lv in levels:
        for scheme in ("classical", "vanilla", "disentangled"):
            sel = [r for r in rows if r["level"] == lv and r["scheme"] == scheme]
            if not sel:
                continue

            def ms(key, spec=".0f", sel=sel):
                vals = [float(r[key]) for r in sel if r.get(key) not in (None, "")]
                return "–" if not vals else f"{np.mean(vals):{spec}} ± {np.std(vals):{spec}}"

            r0 = sel[0]
            lines.append(f"| {lv} | {float(r0['content_complexity_nats']):.2f} | {r0['elements']} | {r0['rho']} | "
                         f"{scheme} | {ms('mean_representation_bits')} | {ms('total_bits_per_item')} | "
                         f"{ms('semantic_impact', '.1f')} | {ms('fidelity_pass_rate', '.3f')} |")
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures if f.endswith(".png")]
    lines += ["", "Data: `results.csv` (one row per level, seed and scheme); per job: `jobs/<level>_s<seed>/`."]
    io.write_text(SweepDir(out).report_md, "\n".join(lines) + "\n")
    return {"headline": head, "shapes": checks, "figures": figures}
