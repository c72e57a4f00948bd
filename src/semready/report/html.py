"""``semready report RUN|DIR``: one self-contained ``report.html`` that tells a run's (or a reproduction's) story.

Every picture is embedded as a base64 PNG and the page loads nothing from anywhere (no script, no external
URL), so it can be mailed or archived as one file. Sections (``<section id=...>``), in order:

``overview`` · ``training`` (losses from log.csv) · ``clusters-over-time`` (cluster sizes and normalised
marginal entropy per epoch) · ``ranked-clusters`` · ``learnability`` (histogram) · ``items`` (most learnable
and most memorizable items per cluster) · ``embedding`` (PCA of the teacher's features) · ``metrics``
(metrics.json) · ``kpis`` (kpis.json, any dict: one table per top-level key of its scalar fields) ·
``figures`` (``fig2_*.png`` / ``fig3_*.png``) · ``results`` (results.csv, report.md).

A missing piece gets a one-line "not available: run ..." note instead of its content.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.errors import SemreadyError
from semready.report import plots
from semready.rundir import RunDir, SweepDir, read_rows

SECTIONS = ("overview", "training", "clusters-over-time", "ranked-clusters", "learnability", "items", "embedding",
            "metrics", "kpis", "figures", "results")
LOSSES = ("loss", "l_i", "l_d", "anti_collapse")


class Missing(Exception):
    """A piece the report cannot show; the message says how to get it."""


def build_report(path: Path, *, max_items: int = 2000, per_cluster: int = 8, max_clusters: int = 12) -> Path:
    """Write ``path/report.html`` for a run directory or a reproduction folder.

    Args:
        path: a run directory or a reproduction folder.
        max_items: most items in the embedding map (a seeded sample beyond that).
        per_cluster: items shown per side in the items-per-cluster section.
        max_clusters: clusters shown there, most confident first.

    Returns:
        The report's path.

    >>> build_report(Path("runs/demo"))  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
    """
    path = Path(path)
    if not path.is_dir():
        raise SemreadyError(f"{path} is not a directory: pass a run directory (`semready train --out RUN`) or a "
                            "reproduction folder")
    run_files, sweep = RunDir(path), SweepDir(path)
    if not (run_files.is_run() or run_files.kpis.is_file() or run_files.metrics.is_file() or sweep.is_sweep()):
        raise SemreadyError(f"{path} holds neither a run (config.yaml, log.csv, ...) nor reproduction results "
                            "(fig2_*.png, results.csv): pass the folder `semready train --out` wrote")
    r = _Run(path, max_items, per_cluster, max_clusters)
    builders: dict[str, tuple[str, Callable[[], str]]] = {
        "overview": ("Overview", r.overview), "training": ("Training curves", r.training),
        "clusters-over-time": ("Cluster sizes and marginal entropy over training", r.clusters_over_time),
        "ranked-clusters": ("Clusters ranked by confidence", r.ranked_clusters),
        "learnability": ("Learnability", r.learnability), "items": ("Items per cluster", r.items),
        "embedding": ("Embedding map", r.embedding), "metrics": ("Clustering metrics", r.metrics),
        "kpis": ("KPIs", r.kpis), "figures": ("Figures", r.figures), "results": ("Results", r.results),
    }
    run_only = ("training", "clusters-over-time", "ranked-clusters", "learnability", "items", "embedding", "metrics")
    is_run = run_files.is_run()
    jobs = sweep.job_runs()
    parts = []
    for sid in SECTIONS:
        title, build = builders[sid]
        try:
            if sid in run_only and not is_run:
                raise Missing(f"this is a reproduction folder, not a run; report one of its runs for this: "
                              f"`semready report {jobs[0] if jobs else 'RUN'}`")
            body = build()
        except (Missing, SemreadyError) as exc:
            body = f'<p class="na">not available: {_e(str(exc))}</p>'
        except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:  # a damaged file: say so, go on
            body = f'<p class="na">not available: a file is unreadable ({_e(type(exc).__name__)}: ' \
                   f'{_e(str(exc)[:200])}); rerun the command that writes it</p>'
        parts.append(f'<section id="{sid}"><h2>{_e(title)}</h2>\n{body}\n</section>')
    out = run_files.report
    io.write_text(out, _page(f"semready report: {path.resolve().name}", parts))
    return out


class _Run:
    """Lazily read pieces of a run directory."""

    def __init__(self, path: Path, max_items: int, per_cluster: int, max_clusters: int) -> None:
        self.path, self.max_items, self.k, self.max_clusters = path, max_items, per_cluster, max_clusters
        self.run, self.sweep = RunDir(path), SweepDir(path)
        self._cache: dict[str, Any] = {}

    # -- readers -----------------------------------------------------------------------------------------
    def csv(self, p: Path, how: str) -> list[dict[str, str]]:
        if p not in self._cache:
            if not p.is_file():
                raise Missing(f"no {p.name}; {how}")
            rows = read_rows(p, how)
            if not rows:
                raise Missing(f"{p.name} is empty; {how}")
            self._cache[p] = rows
        return self._cache[p]

    def json(self, p: Path, how: str) -> Any:
        if not p.is_file():
            raise Missing(f"no {p.name}; {how}")
        return io.read_json(p, how)

    def log(self) -> list[dict[str, str]]:
        return self.csv(self.run.log, f"train a run: `semready train --out {self.path}`")

    def samples(self) -> list[dict[str, str]]:
        return self.csv(self.run.samples, f"finish training: `semready train --out {self.path} --resume`")

    def cfg(self):
        if "cfg" not in self._cache:
            from semready.config import load_config_file

            if not self.run.config.is_file():
                raise Missing(f"no config.yaml; train a run: `semready train --out {self.path}`")
            self._cache["cfg"] = load_config_file(self.run.config)
        return self._cache["cfg"]

    def data(self):
        if "data" not in self._cache:
            from semready.data import load_data

            cfg = self.cfg()
            try:
                self._cache["data"] = load_data(cfg.data.spec, image_size=cfg.data.image_size)
            except SemreadyError as exc:
                raise Missing(f"the training data {cfg.data.spec} cannot be loaded ({exc})") from None
            if len(self._cache["data"]) != len(self.samples()):
                raise Missing(f"{cfg.data.spec} no longer matches the run's samples.csv; restore the data")
        return self._cache["data"]

    # -- sections ----------------------------------------------------------------------------------------
    def overview(self) -> str:
        rows: list[tuple[str, Any]] = [("folder", str(self.path.resolve()))]
        try:
            cfg = self.cfg()
            rows += [("preset", cfg.preset), ("data", cfg.data.spec), ("encoder", cfg.model.encoder),
                     ("clusters M", cfg.model.clusters), ("epochs planned", cfg.train.epochs),
                     ("learnability score", cfg.rank.score)]
        except Missing:
            pass
        try:
            rows.append(("epochs done", len(self.log())))
        except Missing:
            pass
        try:
            split = self.json(self.run.split, "")
            rows += [(f"split.{k}", v) for k, v in split.items() if _is_scalar(v)]
        except (Missing, SemreadyError, AttributeError):
            pass
        links = " · ".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS[1:])
        return f"<p>{links}</p>\n" + _table(["", "value"], rows)

    def training(self) -> str:
        log = self.log()
        epochs = _col(log, "epoch")
        curves = {k: _col(log, k) for k in LOSSES if k in log[0]}
        lr = _col(log, "lr") if "lr" in log[0] else None
        return _img(plots.training_curves_figure(epochs, curves, lr), "training losses per epoch")

    def clusters_over_time(self) -> str:
        log = self.log()
        sizes = np.array([[int(v) for v in r["cluster_sizes"].split()] for r in log])
        entropy = _col(log, "marginal_entropy")
        threshold = self.cfg().train.collapse_threshold if self.run.config.is_file() else 0.5
        collapsed = [r["epoch"] for r in log if r.get("collapsed") == "True"]
        note = f"<p>Collapse flagged at epoch(s) {', '.join(collapsed)}.</p>" if collapsed else \
            f"<p>No collapse: the marginal entropy stayed above {threshold} after warm-up.</p>"
        fig = plots.cluster_evolution_figure(_col(log, "epoch"), sizes, entropy, threshold)
        return _img(fig, "cluster sizes and marginal entropy per epoch") + note

    def _cluster_table(self) -> dict[str, np.ndarray]:
        rows = self.csv(self.run.clusters, f"finish training: `semready train --out {self.path} --resume`")
        return {"cluster": _col(rows, "cluster").astype(int), "size": _col(rows, "size").astype(int),
                "confidence": _col(rows, "confidence"), "rank": _col(rows, "rank").astype(int),
                "split": np.array([r["split"] for r in rows])}

    def ranked_clusters(self) -> str:
        t = self._cluster_table()
        order = np.argsort(t["rank"])
        rows = [(int(t["rank"][i]), int(t["cluster"][i]), int(t["size"][i]), f"{t['confidence'][i]:.4f}",
                 t["split"][i]) for i in order]
        return _img(plots.ranked_clusters_figure(t), "clusters ranked by confidence") + \
            _table(["rank", "cluster", "size", "confidence", "split"], rows)

    def learnability(self) -> str:
        s = self.samples()
        learn = _col(s, "learnability")
        try:
            threshold = float(self.json(self.run.split, "")["threshold"])
        except (Missing, SemreadyError, KeyError, TypeError, ValueError):
            threshold = float("nan")
        labels = _col(s, "label").astype(int) if "label" in s[0] else None
        names = None
        if labels is not None:
            try:
                names = dict(enumerate(self.data().classes or [])) or None
            except (Missing, SemreadyError):
                pass
        n_mem = sum(r["split"] == "memorizable" for r in s)
        rule = f"threshold {threshold:.4f}" if np.isfinite(threshold) else \
            "whole clusters cut from the bottom of the confidence ranking"
        text = f"<p>{len(s) - n_mem} learnable, {n_mem} memorizable of {len(s)} items ({rule}).</p>"
        fig = plots.learnability_histogram_figure(learn, threshold, labels, names)
        return _img(fig, "learnability histogram") + text

    def items(self) -> str:
        s, t = self.samples(), self._cluster_table()
        images = self.data().images
        clusters, learn = _col(s, "cluster").astype(int), _col(s, "learnability")
        rows = []
        for c in t["cluster"][np.argsort(t["rank"])][: self.max_clusters]:
            members = np.flatnonzero(clusters == c)
            if len(members) == 0:
                continue
            ranked = members[np.argsort(-learn[members], kind="stable")]
            label = f"cluster {c} ({len(members)} items, confidence {t['confidence'][c]:.2f})"
            rows.append((label, ranked[: self.k], ranked[::-1][: self.k]))
        if not rows:
            raise Missing("every cluster is empty")
        more = f"<p>The {self.max_clusters} most confident of {len(t['cluster'])} clusters.</p>" \
            if len(t["cluster"]) > self.max_clusters else ""
        return _img(plots.cluster_items_figure(images, rows, self.k), "items per cluster") + more

    def embedding(self) -> str:
        from sklearn.decomposition import PCA

        from semready.teacher.infer import load_run

        s = self.samples()
        images = self.data().images
        n = len(images)
        pick = np.sort(np.random.default_rng(0).choice(n, self.max_items, replace=False)) if n > self.max_items \
            else np.arange(n)
        run = load_run(self.path, "cpu")
        feats = run.assign_all(images[pick], with_features=True).features
        if len(pick) < 3:
            raise Missing("fewer than 3 items to map")
        xy = PCA(n_components=2, random_state=0).fit_transform(feats)
        clusters = _col(s, "cluster").astype(int)[pick]
        mem = np.array([s[i]["split"] == "memorizable" for i in pick])
        shown = f"{len(pick)} of {n} items" if len(pick) < n else f"all {n} items"
        return _img(plots.embedding_figure(xy, clusters, mem, "PCA"), "embedding map") + \
            f"<p>{shown}; the teacher's backbone features, first two principal components.</p>"

    def metrics(self) -> str:
        m = self.json(self.run.metrics, f"evaluate the run: `semready evaluate {self.path} --data SPEC`")
        if not isinstance(m, dict):
            raise Missing("metrics.json is not a JSON object; rerun `semready evaluate`")
        head = [(k, v) for k, v in m.items() if _is_scalar(v)]
        scores = [(k, *(_fmt(v.get(x)) for x in ("acc", "nmi", "ari"))) for k, v in m.items() if isinstance(v, dict)]
        return _table(["", "value"], head) + _table(["method", "ACC", "NMI", "ARI"], scores)

    def kpis(self) -> str:
        k = self.json(self.run.kpis, f"simulate the link: `semready simulate {self.path}`")
        if not isinstance(k, dict):
            raise Missing("kpis.json is not a JSON object; rerun `semready simulate`")
        return _json_tables(k) or '<p class="na">kpis.json holds no values</p>'

    def figures(self) -> str:
        figs = self.sweep.figures()
        if not figs:
            raise Missing("no fig2_*.png / fig3_*.png here; they come with a paper reproduction folder")
        out = []
        for f in figs:
            data = f.read_bytes()
            if not data.startswith(b"\x89PNG\r\n\x1a\n"):
                out.append(f'<p class="na">{_e(f.name)} is not a PNG image</p>')
                continue
            out.append(f'<figure><img alt="{_e(f.name)}" src="data:image/png;base64,'
                       f'{base64.b64encode(data).decode()}"><figcaption>{_e(f.name)}</figcaption></figure>')
        return "\n".join(out)

    def results(self) -> str:
        out = []
        if self.sweep.results.is_file():
            rows = self.csv(self.sweep.results, "")
            out.append(_table(list(rows[0]), [tuple(r.values()) for r in rows[:500]]))
        if self.sweep.summary.is_file():
            summary = self.json(self.sweep.summary, "rerun `semready reproduce`")
            if isinstance(summary, dict):
                out.append(f"<h3>{self.sweep.summary.name}</h3>" + _json_tables(summary, level=4))
        if self.sweep.report_md.is_file():
            out.append(f"<pre>{_e(self.sweep.report_md.read_text(encoding='utf-8', errors='replace'))}</pre>")
        if not out:
            raise Missing("no results.csv or report.md here; they come with a paper reproduction folder")
        return "\n".join(out)


# ---------------------------------------------------------------- HTML


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return "–" if v is None else str(v)


def _col(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def _json_tables(obj: dict[str, Any], level: int = 3) -> str:
    """Any JSON object as tables: its scalar fields, then one table per dict field of that field's scalars."""
    out = []
    top = [(key, v) for key, v in obj.items() if _is_scalar(v)]
    if top:
        out.append(_table(["", "value"], top))
    for key, v in obj.items():
        if isinstance(v, dict):
            rows = [(f, x) for f, x in v.items() if _is_scalar(x)]
            out.append(f"<h{level}>{_e(key)}</h{level}>" + _table(["", "value"], rows))
    return "\n".join(out)


def _table(head: list[str], rows: list[tuple]) -> str:
    if not rows:
        return ""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _img(fig, alt: str) -> str:
    data = base64.b64encode(plots.png_bytes(fig)).decode()
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%}figure{margin:.6em 0}.na{color:#888;font-style:italic}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}"""


def _page(title: str, sections: list[str]) -> str:
    body = "\n".join(sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{_CSS}</style></head>\n'
            f"<body><h1>{_e(title)}</h1>\n{body}\n</body></html>\n")


__all__ = ["SECTIONS", "build_report"]
