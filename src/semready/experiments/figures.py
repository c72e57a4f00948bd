"""Fig. 2, Fig. 3 (styled like the paper's, with mean ± std bands over seeds), the honest totals, and report.md;
the numbers they show come from :mod:`semready.experiments.headline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.experiments.headline import by_level, headline, level_names, shapes
from semready.experiments.reproduce import FAMILY_ORDER as FAMILIES
from semready.experiments.reproduce import control_scheme, is_control
from semready.rundir import SweepDir

STYLE = {"classical": ("tab:gray", "s", "Classical"), "vanilla": ("tab:red", "o", "Vanilla semantic"),
         "disentangled": ("tab:blue", "^", "Disentangled (ours)")}
CONTROL_STYLE = {"untrained teacher": "tab:orange", "no teacher (pixel)": "tab:green", "random split": "tab:purple"}


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
        io.write_with(out / f"{stem}.{ext}", lambda p, ext=ext: fig.savefig(p, format=ext, dpi=150))
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
    def controls(key):  # the disentangled scheme under each control split, thin dotted lines
        def draw(ax):
            for name, color in CONTROL_STYLE.items():
                x, m, _ = by_level(rows, control_scheme(name), key)
                if len(x):
                    ax.plot(x, m, ls=":", lw=1.2, marker=".", color=color, label=f"control: {name}")
        return draw

    def dictionary_free(ax):  # the totals without the one-time dictionary, dashed
        for scheme in ("vanilla", "disentangled"):
            x, m, _ = by_level(rows, scheme, "total_bits_per_item_excluding_dictionary")
            if len(x):
                ax.plot(x, m, ls="--", color=STYLE[scheme][0], label=f"{STYLE[scheme][2]}, without dictionary")

    return (_plot(out, "fig2_representation_length", rows, ("vanilla", "disentangled"), "mean_representation_bits",
                  "Average representation length |Z_i| (bits)", "Fig. 2: |Z_i| of semantically sent items",
                  controls("mean_representation_bits"))
            + _plot(out, "fig3_semantic_impact", rows, ("classical", "vanilla", "disentangled"), "semantic_impact",
                    "Semantic impact (packets/(representation·s))", "Fig. 3: semantic impact, all items",
                    controls("semantic_impact"))
            + _plot(out, "fig2_total_bits_per_item", rows, ("classical", "vanilla", "disentangled"),
                    "total_bits_per_item", "Total bits per item (all items, dictionary amortised)",
                    "The honest total (not in the paper)", dictionary_free))


SCHEME_ORDER = ("classical", "vanilla", "disentangled")


def _fmt(x: float | None, spec: str = ".0f") -> str:
    return "–" if x is None else format(x, spec)


def _ms(sel: list[dict[str, Any]], key: str, spec: str = ".0f") -> str:
    """mean ± std of ``key`` over the rows that have it, or – when none does."""
    vals = [float(r[key]) for r in sel if r.get(key) not in (None, "")]
    return "–" if not vals else f"{np.mean(vals):{spec}} ± {np.std(vals):{spec}}"


def _one_per_job(rows: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """One row per seed of a level (job-level columns are the same in every scheme's own row; a control's row
    leaves the teacher's split blank)."""
    return list({str(r["seed"]): r for r in rows if r["level"] == level and not is_control(r["scheme"])}.values())


def _distinct(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> str:
    combos = dict.fromkeys(tuple(str(r.get(k, "")) for k in keys) for r in rows)
    return "; ".join(f"score `{c[0] or '?'}`, policy `{c[1] or '?'}` at {c[2] or '?'}" for c in combos)


def split_lines(rows: list[dict[str, Any]]) -> list[str]:
    """report.md's split section: the score and policy behind each job's split, M, X_m share per family.

    Args:
        rows: results.csv rows, one per (level, seed, scheme).

    Returns:
        Markdown lines.
    """
    own = [r for r in rows if not is_control(r["scheme"])]
    made_by = _distinct(own, ("split_score", "split_policy", "split_value"))
    lines = ["## The split: score, policy and X_m share per family (mean ± std over seeds)", "",
             f"Each job's teacher split its stream with {made_by} (the run's default after `semready train`; per "
             "job in `results.csv`, `split_*`). "
             "M is the teacher's cluster count: the level's K structured elements unless the config file sets "
             "`model.clusters`. A family's share is the part of its items the split put in X_m (sent classically); "
             "the semantic-poor items are a third each of noise, scrambled and rare (K structured elements, U "
             "others supplying the rare items).", "",
             "| level | K | U | M | score | policy | value | threshold | X_m: clean | noise | scrambled | rare |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in level_names(rows):
        sel = _one_per_job(rows, lv)
        r0 = sel[0]
        same = [" / ".join(sorted({str(r.get(k, "")) for r in sel}))  # one value unless the seeds disagree
                for k in ("clusters", "split_score", "split_policy", "split_value")]
        lines.append(f"| {lv} | {r0['elements']} | {r0.get('unseen', '–')} | {' | '.join(same)} | "
                     f"{_ms(sel, 'split_threshold', '.3f')} | "
                     + " | ".join(_ms(sel, f"memorizable_share_{f}", ".3f") for f in FAMILIES) + " |")
    return lines


def family_lines(rows: list[dict[str, Any]]) -> list[str]:
    """report.md's per-family table: each scheme's mean bits per item and fidelity pass rate per family.

    Args:
        rows: results.csv rows, one per (level, seed, scheme).

    Returns:
        Markdown lines.
    """
    head = " | ".join(f"bits: {s}" for s in SCHEME_ORDER) + " | " + " | ".join(f"pass: {s}" for s in SCHEME_ORDER)
    lines = ["## Per family (mean ± std over seeds, items sent)", "",
             "Bits per item each scheme spent on a family's items (the representation for a semantically sent item, "
             "the codec's bytes for a classical one, no dictionary) and the share that met the fidelity target.", "",
             f"| level | family | {head} |", "|---|---|" + "---|" * 2 * len(SCHEME_ORDER)]
    for lv in level_names(rows):
        for fam in FAMILIES:
            by = {s: [r for r in rows if r["level"] == lv and r["scheme"] == s] for s in SCHEME_ORDER}
            cells = [_ms(by[s], f"mean_bits_{fam}") for s in SCHEME_ORDER] + \
                [_ms(by[s], f"fidelity_pass_rate_{fam}", ".3f") for s in SCHEME_ORDER]
            if any(c != "–" for c in cells):
                lines.append(f"| {lv} | {fam} | " + " | ".join(cells) + " |")
    return lines


def same_items_line(rows: list[dict[str, Any]]) -> str:
    """The headline's first row: |Z_i| on the learnable items both schemes send (no item selection in it).

    Args:
        rows: results.csv rows.

    Returns:
        One markdown table row.
    """
    sel = [r for r in rows if r["scheme"] == "disentangled"]
    top = [r for r in sel if r["level"] == (level_names(rows) or [None])[-1]]
    return (f"| **same-items \\|Z_i\\| reduction vs vanilla** (X_l, both schemes; controls below) | "
            f"{_ms(sel, 'same_items_reduction_pct', '.1f')} % | {_ms(top, 'same_items_reduction_pct', '.1f')} % | "
            "– (the paper compares own items) |")


def impact_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Whether ι measured anything beyond 1/τ: the share of semantic items whose regeneration needs > 1 packet.

    Args:
        rows: results.csv rows.

    Returns:
        report.md lines (none when no row has the share).
    """
    shares = [float(r["multi_packet_share"]) for r in rows if r.get("multi_packet_share") not in (None, "")]
    if not shares:
        return []
    if max(shares) == 0:
        return ["Semantic impact: every regenerated item fits one packet here (P_i = 1), so a semantic item's ι is "
                "just 1/τ_i — Fig. 3 re-plots |Z_i| and the generation time; it measures nothing of its own at this "
                "item size (docs/kpis.md)."]
    return [f"Semantic impact: {100 * max(shares):.1f} % of semantic items (at most, over jobs) regenerate into more "
            "than one packet, so ι is not just 1/τ here."]


def control_lines(rows: list[dict[str, Any]]) -> list[str]:
    """report.md's controls table: the same-items and all-items reductions of the teacher's split beside the
    untrained-teacher, no-teacher and random-split controls (mean ± std over levels × seeds, and at the top level).

    Args:
        rows: results.csv rows, control rows included (:func:`~semready.experiments.reproduce.control_scheme`).

    Returns:
        report.md lines.
    """
    levels = level_names(rows)
    lines = ["## Beside its controls (same language items, same sent items)", "",
             "Same-items: mean |Z_i| over X_l, which vanilla and disentangled both send semantically — only the "
             "language differs. All-items: payload bits per item over every item, no dictionary. Each control "
             "splits at the teacher's X_l size and is compared with its own vanilla (docs/kpis.md).", "",
             "| split | same-items \\|Z\\| reduction | at the highest level | all-items reduction | "
             "at the highest level |", "|---|---|---|---|---|"]
    for name, label in (("disentangled", "teacher (ours)"), *((control_scheme(c), c) for c in CONTROL_STYLE)):
        sel = [r for r in rows if r["scheme"] == name]
        if not sel:
            continue
        top = [r for r in sel if r["level"] == levels[-1]] if levels else []
        cells = [_ms(part, key, ".1f") for key in ("same_items_reduction_pct", "all_items_reduction_pct")
                 for part in (sel, top)]
        lines.append(f"| {label} | " + " | ".join(f"{c} %" for c in cells) + " |")
    return lines


def write_report(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any], figures: list[str]
                 ) -> dict[str, Any]:
    """Write ``out/report.md``: settings, headline table, the paper's shapes checked, per-level table, the split
    (score, policy, X_m share per family), per-family KPIs, figures.

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
             "Definitions: content complexity H_c = h_b(ρ) + (1 − ρ)·H(p) + ρ·H(q), q the semantic-poor items' "
             "content elements (a noise or scrambled item its own, the rare items of one unseen element together; "
             "H(q) = ln N_m without rare groups; docs/protocol.md §3); |Z_i|, ι, fidelity and Γ̂ as in docs/kpis.md "
             "(real range-coded bitstreams, the classical codec of comm.classical_codec — by default `best`, the "
             "smallest of PNG/JPEG/WebP meeting the target —, PSNR target at the receiver). Where the paper is "
             "silent we chose, and docs/kpis.md says how.", "",
             "## Headline", "", "| quantity | ours (mean ± std over levels × seeds) | ours, highest level | paper |",
             "|---|---|---|---|", same_items_line(rows)]
    for name, label in (("representation_length_reduction_pct", "representation length reduction vs vanilla"),
                        ("semantic_impact_gain_pct", "semantic impact gain vs vanilla"),
                        ("total_bits_reduction_pct", "total bits per item reduction vs vanilla (not in paper)")):
        h = head[name]
        lines.append(f"| {label} | {_fmt(h['mean'], '.1f')} % ± {_fmt(h['std'], '.1f')} | "
                     f"{_fmt(h['highest_level'], '.1f')} % | {_fmt(h['paper'], '.2f')}{' %' if h['paper'] else ''} |")
    lines += ["", "## Do the paper's shapes hold?", "", *[f"- {c}" for c in checks], "",
              "## Per level (mean ± std over seeds)", "",
              "| level | H_c (nats) | K | M | ρ | scheme | mean \\|Z_i\\| (bits) | total bits/item | ι "
              "| fidelity pass |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for lv in level_names(rows):
        clusters = " / ".join(sorted({str(r.get("clusters", "–")) for r in rows if r["level"] == lv}))
        for scheme in SCHEME_ORDER:
            sel = [r for r in rows if r["level"] == lv and r["scheme"] == scheme]
            if not sel:
                continue
            r0 = sel[0]
            lines.append(f"| {lv} | {float(r0['content_complexity_nats']):.2f} | {r0['elements']} | {clusters} | "
                         f"{r0['rho']} | {scheme} | {_ms(sel, 'mean_representation_bits')} | "
                         f"{_ms(sel, 'total_bits_per_item')} | {_ms(sel, 'semantic_impact', '.1f')} | "
                         f"{_ms(sel, 'fidelity_pass_rate', '.3f')} |")
    lines += ["", *control_lines(rows), "", *impact_lines(rows), "", *split_lines(rows), "", *family_lines(rows)]
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures if f.endswith(".png")]
    lines += ["", "Data: `results.csv` (one row per level, seed and scheme); per job: `jobs/<level>_s<seed>/`."]
    io.write_text(SweepDir(out).report_md, "\n".join(lines) + "\n")
    return {"headline": head, "shapes": checks, "figures": figures}
