"""The report's HTML pieces: escaping, number formatting, tables, embedded images and the page itself.

Everything here returns a string of HTML; nothing is fetched from anywhere (images are base64 ``data:`` URLs, the
style sheet is inline, there is no script).
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from semready.report import plots


def esc(text: Any) -> str:
    """``text`` escaped for HTML text and attribute values.

    >>> esc('<b a="1">&')
    '&lt;b a=&quot;1&quot;&gt;&amp;'
    """
    return html.escape(str(text), quote=True)


def is_scalar(v: Any) -> bool:
    """Whether a JSON value is shown as one table cell (None, a string, a number or a boolean)."""
    return v is None or isinstance(v, str | int | float | bool)


def fmt(v: Any, spec: str | None = None) -> str:
    """A value for a table cell: ``spec`` applied to a number when given, 4 significant digits for other floats,
    ``–`` for None.

    >>> fmt(0.123456), fmt(None), fmt(5918.8, ".0f"), fmt("png", ".0f"), fmt(float("nan")), fmt(80.5, "d")
    ('0.1235', '–', '5919', 'png', 'nan', '80.5')
    """
    if v is None:
        return "–"
    if spec and isinstance(v, int | float) and not isinstance(v, bool):
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        try:
            return format(v, spec)
        except ValueError:  # e.g. "d" for a float
            pass
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def table(head: list[str], rows: list[tuple], attrs: str = "") -> str:
    """A table of formatted cells (:func:`fmt`); empty when there are no rows.

    >>> table(["", "value"], [("epochs", 3)])
    '<table><thead><tr><th></th><th>value</th></tr></thead><tbody>\\n<tr><td>epochs</td><td>3</td></tr>\\n</tbody></table>'
    """
    if not rows:
        return ""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(f"<td>{esc(fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table{attrs}><thead><tr>{th}</tr></thead><tbody>\n{body}\n</tbody></table>"


def json_tables(obj: dict[str, Any], level: int = 3) -> str:
    """Any JSON object as tables: its scalar fields, then one table per dict field of that field's scalars."""
    out = []
    top = [(key, v) for key, v in obj.items() if is_scalar(v)]
    if top:
        out.append(table(["", "value"], top))
    for key, v in obj.items():
        if isinstance(v, dict):
            rows = [(f, x) for f, x in v.items() if is_scalar(x)]
            out.append(f"<h{level}>{esc(key)}</h{level}>" + table(["", "value"], rows))
    return "\n".join(out)


def png_data_url(png: bytes) -> str:
    """PNG bytes as a ``data:`` URL."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure(fig, alt: str) -> str:
    """A matplotlib figure as an embedded ``<figure>`` (the figure is closed)."""
    return f'<figure><img alt="{esc(alt)}" src="{png_data_url(plots.png_bytes(fig))}"></figure>'


def na(text: str) -> str:
    """The one-line note of a piece the report cannot show."""
    return f'<p class="na">not available: {esc(text)}</p>'


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h4{margin:.8em 0 .2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%}figure{margin:.6em 0}.na{color:#888;font-style:italic}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}caption{text-align:left;color:#555;
padding:.2em 0}table.kpi td{text-align:right;font-variant-numeric:tabular-nums}table.kpi th[scope=row]{
font-weight:normal}details{margin:.4em 0}summary{cursor:pointer;color:#555}
.side{font-size:.8em;color:#555;margin:.2em 0}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(86px,1fr));gap:6px;margin:.2em 0 .8em}
figure.thumb{margin:0;padding:3px;border:1px solid #ddd;border-top:4px solid #bdbdbd;min-width:0;
background:#fafafa}figure.thumb.learnable{border-top-color:#2b8cbe}figure.thumb.memorizable{
border-top-color:#e34a33}figure.thumb img{display:block;width:64px;height:64px;margin:0 auto;
image-rendering:pixelated;object-fit:contain}figure.thumb figcaption{font-size:.68em;line-height:1.3;
text-align:center;overflow-wrap:anywhere;margin-top:2px}figure.thumb figcaption span{display:block}"""


def page(title: str, sections: list[str]) -> str:
    """The whole HTML document: the title, the inline style sheet, the sections in order."""
    body = "\n".join(sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}</style></head>\n'
            f"<body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n")
