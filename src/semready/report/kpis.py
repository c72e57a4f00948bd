"""The report's KPI section: the schemes of ``kpis.json`` side by side, one column per scheme, one row per KPI.

The rows are those ``semready simulate`` prints (:data:`semready.comm.simulate.TABLE_COLUMNS`: same keys, labels
and number formats, so the page and the terminal agree), after the item counts; every other scalar field of the
schemes follows in a folded table of the same shape, the settings in one line, and the ``comparison``
(disentangled against vanilla) in a small table of its own.
"""

from __future__ import annotations

from typing import Any

from semready.comm.simulate import TABLE_COLUMNS
from semready.comm.system import SCHEMES
from semready.report.markup import esc, fmt, is_scalar, table

#: (label, kpis.json key, number format): the rows of the side-by-side table, in order.
KPI_ROWS: tuple[tuple[str, str, str], ...] = (
    ("items", "items", "d"), ("semantic items", "semantic_items", "d"), ("classical items", "classical_items", "d"),
    *TABLE_COLUMNS, ("mean PSNR (dB)", "mean_psnr_db", ".2f"))


def kpi_schemes(kpis: dict[str, Any]) -> list[str]:
    """The schemes ``kpis.json`` holds, in the simulator's order (classical, vanilla, disentangled).

    >>> kpi_schemes({"settings": {}, "disentangled": {}, "classical": {}, "comparison": {}})
    ['classical', 'disentangled']
    """
    return [s for s in SCHEMES if isinstance(kpis.get(s), dict)]


def _settings_line(s: dict[str, Any]) -> str:
    parts = []
    if "items_sent" in s:
        parts.append(f"{fmt(s['items_sent'])} items sent")
    if "fidelity_psnr_db" in s:
        parts.append(f"fidelity PSNR ≥ {fmt(s['fidelity_psnr_db'])} dB")
    if "classical_codec" in s:
        parts.append(f"classical {fmt(s['classical_codec'])}")
    if isinstance(s.get("rate_bps"), int | float):
        parts.append(f"R = {s['rate_bps']:.0f} bit/s")
    return ", ".join(parts)


def side_by_side(rows: list[tuple[str, str, str]], schemes: list[str], kpis: dict[str, Any], attrs: str = "",
                 caption: str = "") -> str:
    """A table with one column per scheme and one row per KPI (rows no scheme holds are left out).

    Args:
        rows: (label, key, number format) per row.
        schemes: the columns.
        kpis: ``kpis.json``.
        attrs: attributes of the ``<table>`` element.
        caption: the table's caption (none if empty).

    Returns:
        The table's HTML, empty when no row is left.

    >>> html = side_by_side([("items", "items", "d")], ["classical", "vanilla"],
    ...                     {"classical": {"items": 80}, "vanilla": {"items": 79}})
    >>> html.count("<td>"), '<th scope="col">vanilla</th>' in html
    (2, True)
    """
    head = "".join(f'<th scope="col">{esc(s)}</th>' for s in schemes)
    body = []
    for label, key, spec in rows:
        values = [kpis[s].get(key) for s in schemes]
        if not any(key in kpis[s] for s in schemes):
            continue
        cells = "".join(f"<td>{esc(fmt(v, spec))}</td>" for v in values)
        body.append(f'<tr data-key="{esc(key)}"><th scope="row">{esc(label)}</th>{cells}</tr>')
    if not body:
        return ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="kpi"{attrs}>{cap}<thead><tr><th scope="col">KPI</th>{head}</tr></thead><tbody>\n'
            + "\n".join(body) + "\n</tbody></table>")


def kpi_section(kpis: dict[str, Any]) -> str:
    """The KPI section's HTML from ``kpis.json``.

    Args:
        kpis: the parsed ``kpis.json`` (``settings``, one dict per scheme, ``comparison``).

    Returns:
        HTML: the side-by-side table (``id="kpi-table"``), every other field folded, the comparison.

    Raises:
        ValueError: ``kpis.json`` holds no scheme.
    """
    schemes = kpi_schemes(kpis)
    if not schemes:
        raise ValueError("kpis.json holds no scheme (classical, vanilla, disentangled)")
    settings = kpis.get("settings") if isinstance(kpis.get("settings"), dict) else {}
    main = side_by_side(list(KPI_ROWS), schemes, kpis, ' id="kpi-table"', _settings_line(settings))
    shown = {key for _, key, _ in KPI_ROWS} | {"scheme"}
    rest: list[str] = []
    for s in schemes:
        rest += [k for k, v in kpis[s].items() if is_scalar(v) and k not in shown and k not in rest]
    out = [main]
    if rest:
        out.append("<details><summary>every other field of kpis.json</summary>"
                   + side_by_side([(k, k, "") for k in rest], schemes, kpis) + "</details>")
    comparison = kpis.get("comparison")
    if isinstance(comparison, dict) and comparison:
        out.append("<h4>disentangled against vanilla</h4>"
                   + table(["", "value"], [(k, v) for k, v in comparison.items() if is_scalar(v)]))
    extra = [(k, v) for k, v in settings.items() if is_scalar(v)] + \
        [(k, v) for k, v in kpis.items() if is_scalar(v)]
    if extra:
        out.append("<details><summary>settings</summary>" + table(["", "value"], extra) + "</details>")
    return "\n".join(out)
