"""The report's rate–distortion section, from ``rd.json`` (``semready rd``; docs/rd.md): the RD figure over all
sent items and over X_l, the BD-rate table (``id="bd-table"``), and every point in a folded table."""

from __future__ import annotations

from typing import Any

from semready.report import plots
from semready.report.markup import esc, figure, fmt, table


def _curves(curves: dict[str, list[dict]], part: str, key: str) -> tuple[dict, dict]:
    """(lossy curves: name -> (bits, PSNR), lossless points: name -> bits) of one view."""
    lossy, lossless = {}, {}
    for name, points in curves.items():
        pts = [p if part == "all" else p.get("learnable") for p in points]
        if any(p is None for p in pts):
            continue
        if all(p["psnr_db"] is None for p in pts):
            lossless[name] = pts[0][key]
        else:
            lossy[name] = ([p[key] for p in pts], [float("nan") if p["psnr_db"] is None else p["psnr_db"] for p in pts])
    return lossy, lossless


def rd_section(rd: dict[str, Any]) -> str:
    """The section's HTML.

    Args:
        rd: the parsed ``rd.json`` (``settings``, ``curves``, ``bd``).

    Returns:
        HTML: a settings line, two figures, the BD table, the points folded.

    Raises:
        ValueError: ``rd.json`` holds no curve.
    """
    curves = rd.get("curves")
    if not isinstance(curves, dict) or not curves:
        raise ValueError("rd.json holds no curve")
    s = rd.get("settings") if isinstance(rd.get("settings"), dict) else {}
    targets = ", ".join(fmt(t) for t in s.get("targets_db", []))
    out = [f"<p>{esc(fmt(s.get('items_sent')))} items sent ({esc(fmt(s.get('learnable_sent')))} learnable) at PSNR "
           f"targets {esc(targets)} dB; structural similarity: {esc(fmt(s.get('structural_measure')))}. Semantic "
           "schemes' bits include their dictionary shared over the items sent; on X_l they do not.</p>"]
    for part, key, title in (("all", "bits_per_item", "all sent items (dictionary included)"),
                             ("learnable", "bits_per_item", "learnable items X_l (payload only)")):
        lossy, lossless = _curves(curves, part, key)
        if lossy:
            out.append(figure(plots.rd_figure(lossy, lossless, f"Rate–distortion, {title}"), f"RD curves, {title}"))
    rows = rd.get("bd") if isinstance(rd.get("bd"), list) else []
    body = "\n".join(
        f'<tr><td>{esc(r.get("test"))}</td><td>{esc(r.get("anchor"))}</td><td>{esc(r.get("view"))}</td>'
        f'<td>{esc(fmt(r.get("method")))}</td><td>{esc(fmt(r.get("bd_rate_pct"), "+.1f"))}</td>'
        f'<td>{esc(fmt(r.get("bd_psnr_db"), "+.2f"))}</td><td>{esc(r.get("note") or "")}</td></tr>'
        for r in rows if isinstance(r, dict))
    if body:
        out.append('<h4>BD-rate of test against anchor (negative: test needs fewer bits at equal PSNR)</h4>'
                   '<table class="kpi" id="bd-table"><thead><tr><th>test</th><th>anchor</th><th>view</th>'
                   "<th>method</th><th>BD-rate %</th><th>BD-PSNR dB</th><th>note</th></tr></thead><tbody>\n"
                   f"{body}\n</tbody></table>")
    points = [(name, p.get("target_db"), fmt(p.get("bits_per_item"), ".0f"), fmt(p.get("psnr_db"), ".2f"),
               fmt(p.get("ssim"), ".4f"), fmt(p.get("fidelity_pass_rate"), ".3f"),
               fmt(p.get("semantic_cosine_pass_rate"), ".3f"), fmt(xl.get("bits_per_item"), ".0f"),
               fmt(xl.get("psnr_db"), ".2f"))
              for name, pts in curves.items() for p in pts for xl in [p.get("learnable") or {}]]
    out.append("<details><summary>every point of rd.json</summary>" + table(
        ["curve", "target dB", "bits/item", "PSNR dB", "SSIM", "PSNR pass", "semantic cos pass", "X_l bits/item",
         "X_l PSNR dB"], points) + "</details>")
    return "\n".join(out)


__all__ = ["rd_section"]
