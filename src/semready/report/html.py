"""``semready report RUN|DIR``: one self-contained ``report.html`` that tells a run's (or a reproduction's) story.

Every picture is embedded as a base64 PNG and the page loads nothing from anywhere (no script, no external
URL), so it can be mailed or archived as one file. The page holds the sections that fit the folder
(``<section id=...>``), in order:

- a run folder (:data:`RUN_SECTIONS`): ``overview`` · ``training`` (losses from log.csv) · ``clusters-over-time``
  (cluster sizes and normalised marginal entropy per epoch) · ``ranked-clusters`` · ``learnability``
  (histogram, the split's rule) · ``items`` (each cluster's most learnable and most memorizable items as
  captioned thumbnails: id, learnability, cluster) · ``embedding`` (PCA of the teacher's features) · ``metrics``
  (metrics.json) · ``kpis`` (kpis.json: the schemes side by side, :mod:`semready.report.kpis`) · ``rd`` (rd.json,
  only where ``semready rd`` wrote it: RD curves and BD-rates, :mod:`semready.report.rd`);
- a reproduction folder (:data:`SWEEP_SECTIONS`): ``overview`` · ``figures`` (``fig2_*.png`` / ``fig3_*.png``) ·
  ``results`` (results.csv, summary.json, report.md).

A piece missing from a folder of the right kind gets a one-line "not available: ..." note instead of its content.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semready import io
from semready.errors import SemreadyError
from semready.report import plots
from semready.report.kpis import kpi_section
from semready.report.markup import esc as _e
from semready.report.markup import figure as _img
from semready.report.markup import is_scalar as _is_scalar
from semready.report.markup import json_tables as _json_tables
from semready.report.markup import na, page, png_data_url
from semready.report.markup import table as _table
from semready.report.rd import rd_section
from semready.report.thumbs import items_html, pick_items
from semready.rundir import RunDir, SweepDir, read_rows

RUN_SECTIONS = ("overview", "training", "clusters-over-time", "ranked-clusters", "learnability", "items",
                "embedding", "metrics", "kpis")
RD_SECTION = "rd"  # a run's section only where rd.json exists (``semready rd``), after its KPIs
SWEEP_SECTIONS = ("overview", "figures", "results")
SECTIONS = RUN_SECTIONS + SWEEP_SECTIONS[1:]  # every section a page always shows, in page order
_ORDER = RUN_SECTIONS + (RD_SECTION,) + SWEEP_SECTIONS[1:]
TITLES = {"overview": "Overview", "training": "Training curves",
          "clusters-over-time": "Cluster sizes and marginal entropy over training",
          "ranked-clusters": "Clusters ranked by confidence", "learnability": "Learnability",
          "items": "Items per cluster", "embedding": "Embedding map", "metrics": "Clustering metrics",
          "kpis": "KPIs: the schemes side by side", "rd": "Rate–distortion", "figures": "Figures",
          "results": "Results"}
LOSSES = ("loss", "l_i", "l_d", "anti_collapse")


class Missing(Exception):
    """A piece the report cannot show; the message says how to get it."""


def report_sections(path: Path) -> tuple[str, ...]:
    """The sections of ``path``'s report: a run's, a reproduction's, or both for a folder that holds both.

    Args:
        path: a folder.

    Returns:
        Section ids in page order (empty: neither a run nor a reproduction).
    """
    run, sweep = RunDir(path), SweepDir(path)
    is_run = run.is_run() or run.kpis.is_file() or run.metrics.is_file()
    wanted = (set(RUN_SECTIONS) if is_run else set()) | (set(SWEEP_SECTIONS) if sweep.is_sweep() else set())
    if is_run and run.rd.is_file():  # a section of its own only where the sweep ran
        wanted.add(RD_SECTION)
    return tuple(s for s in _ORDER if s in wanted)


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
    ids = report_sections(path)
    if not ids:
        raise SemreadyError(f"{path} holds neither a run (config.yaml, log.csv, ...) nor reproduction results "
                            "(fig2_*.png, results.csv): pass the folder `semready train --out` wrote")
    r = _Run(path, max_items, per_cluster, max_clusters, ids)
    builders: dict[str, Callable[[], str]] = {
        "overview": r.overview, "training": r.training, "clusters-over-time": r.clusters_over_time,
        "ranked-clusters": r.ranked_clusters, "learnability": r.learnability, "items": r.items,
        "embedding": r.embedding, "metrics": r.metrics, "kpis": r.kpis, "rd": r.rd, "figures": r.figures,
        "results": r.results}
    parts = []
    for sid in ids:
        try:
            body = builders[sid]()
        except (Missing, SemreadyError) as exc:
            body = na(str(exc))
        except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:  # a damaged file: say so, go on
            body = na(f"a file is unreadable ({type(exc).__name__}: {str(exc)[:200]}); rerun the command that "
                      "writes it")
        parts.append(f'<section id="{sid}"><h2>{_e(TITLES[sid])}</h2>\n{body}\n</section>')
    out = RunDir(path).report
    io.write_text(out, page(f"semready report: {path.resolve().name}", parts))
    return out


class _Run:
    """Lazily read pieces of a run directory."""

    def __init__(self, path: Path, max_items: int, per_cluster: int, max_clusters: int, ids: tuple[str, ...]
                 ) -> None:
        self.path, self.max_items, self.k, self.max_clusters = path, max_items, per_cluster, max_clusters
        self.ids = ids
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
            from semready.data import check_data_identity, load_run_data

            cfg = self.cfg()
            try:  # the thumbnails must show the pixels the scores were computed on
                check_data_identity(cfg.data, self.path)
                self._cache["data"] = load_run_data(cfg.data.spec, cfg.data.image_size, len(self.samples()),
                                                    cfg.data.stream, cfg.data.workers)
            except SemreadyError as exc:
                raise Missing(f"the training data {cfg.data.spec} cannot be loaded ({exc})") from None
        return self._cache["data"]

    # -- sections ----------------------------------------------------------------------------------------
    def split_json(self) -> dict[str, Any]:
        """split.json, or {} where there is none or it is not an object (read once per page)."""
        if "split" not in self._cache:
            try:
                split = self.json(self.run.split, "")
            except (Missing, SemreadyError):
                split = {}
            self._cache["split"] = split if isinstance(split, dict) else {}
        return self._cache["split"]

    def overview(self) -> str:
        rows: list[tuple[str, Any]] = [("folder", self.path.resolve().name)]
        note = ""
        if "training" in self.ids:
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
            for k, v in self.split_json().items():
                if _is_scalar(v):
                    rows.append((f"split.{k}", v))
                elif k == "learnable_clusters" and isinstance(v, list):
                    rows.append((f"split.{k}", ", ".join(map(str, v)) or "none"))
        if "figures" in self.ids:
            jobs = self.sweep.job_runs()
            if jobs:
                rows.append(("reproduction jobs", len(jobs)))
                note = f"<p>Each job's teacher is a run with a report of its own: <code>semready report " \
                       f"{_e(jobs[0])}</code>.</p>"
        links = " · ".join(f'<a href="#{s}">{s}</a>' for s in self.ids[1:])
        return f"<p>{links}</p>\n" + _table(["", "value"], rows) + note

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

    def cluster_rows(self) -> list[dict[str, str]]:
        return self.csv(self.run.clusters, f"finish training: `semready train --out {self.path} --resume`")

    def _cluster_table(self) -> dict[str, np.ndarray]:
        rows = self.cluster_rows()
        return {"cluster": _col(rows, "cluster").astype(int), "size": _col(rows, "size").astype(int),
                "confidence": _col(rows, "confidence"), "rank": _col(rows, "rank").astype(int),
                "split": np.array([r["split"] for r in rows])}

    def ranked_clusters(self) -> str:
        rows = sorted(self.cluster_rows(), key=lambda r: int(r["rank"]))
        share = "learnable_share" in rows[0]  # runs split before it was written lack it
        head = ["rank", "cluster", "size", "confidence"] + (["learnable share"] if share else []) + ["split"]
        table = [(int(r["rank"]), int(r["cluster"]), int(r["size"]), f"{float(r['confidence']):.4f}",
                  *([f"{float(r['learnable_share']):.3f}"] if share else []), r["split"]) for r in rows]
        mixed = sum(r["split"] == "mixed" for r in rows)
        note = f"<p>{mixed} mixed cluster(s): an item-level policy split their members between X_l and X_m.</p>" \
            if mixed else ""
        return _img(plots.ranked_clusters_figure(self._cluster_table()), "clusters ranked by confidence") + \
            _table(head, table) + note

    def rule(self) -> str:
        """The split's rule in words, from split.json."""
        split = self.split_json()
        threshold, keep = split.get("threshold"), split.get("learnable_clusters")
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            return f"learnability threshold {threshold:.4f}"
        if isinstance(keep, list):
            return f"policy {split.get('policy', '?')}: whole clusters by confidence, learnable clusters " + \
                (", ".join(map(str, keep)) or "none")
        return "no split rule recorded (split.json)"

    def learnability(self) -> str:
        s = self.samples()
        learn = _col(s, "learnability")
        threshold = self.split_json().get("threshold")
        threshold = float(threshold) if isinstance(threshold, int | float) else float("nan")
        labels = _col(s, "label").astype(int) if "label" in s[0] else None
        names = None
        if labels is not None:
            try:
                names = dict(enumerate(self.data().classes or [])) or None
            except (Missing, SemreadyError):
                pass
        n_learn, n_mem = (sum(r["split"] == x for r in s) for x in ("learnable", "memorizable"))
        text = f"<p>{n_learn} learnable, {n_mem} memorizable of {len(s)} items ({_e(self.rule())}).</p>"
        fig = plots.learnability_histogram_figure(learn, threshold, labels, names)
        return _img(fig, "learnability histogram") + text

    def items(self) -> str:
        s, rows = self.samples(), self.cluster_rows()
        images = self.data().images
        order = [int(r["cluster"]) for r in sorted(rows, key=lambda r: int(r["rank"]))]
        picks = pick_items(_col(s, "cluster").astype(int), _col(s, "learnability"),
                           np.array(order[: self.max_clusters]), self.k)
        if not picks:
            raise Missing("every cluster is empty")
        more = f"<p>The {self.max_clusters} most confident of {len(order)} clusters.</p>" \
            if len(order) > self.max_clusters else ""
        intro = f"<p>Per cluster (most confident first): its {self.k} most learnable items, then its {self.k} " \
            "least learnable; each caption gives the item's id (the path on hover), learnability L and cluster.</p>"
        return intro + items_html(images, s, picks, {int(r["cluster"]): r for r in rows}) + more

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
        scores = [(k, *(v.get(x) for x in ("acc", "nmi", "ari"))) for k, v in m.items() if isinstance(v, dict)]
        return _table(["", "value"], head) + _table(["method", "ACC", "NMI", "ARI"], scores)

    def kpis(self) -> str:
        k = self.json(self.run.kpis, f"simulate the link: `semready simulate {self.path}`")
        if not isinstance(k, dict):
            raise Missing("kpis.json is not a JSON object; rerun `semready simulate`")
        try:
            return kpi_section(k)
        except ValueError as exc:
            raise Missing(f"{exc}; rerun `semready simulate {self.path}`") from None

    def rd(self) -> str:
        rd = self.json(self.run.rd, f"sweep the run: `semready rd {self.path}`")
        if not isinstance(rd, dict):
            raise Missing(f"rd.json is not a JSON object; rerun `semready rd {self.path}`")
        try:
            return rd_section(rd)
        except ValueError as exc:
            raise Missing(f"{exc}; rerun `semready rd {self.path}`") from None

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
            out.append(f'<figure><img alt="{_e(f.name)}" src="{png_data_url(data)}"><figcaption>{_e(f.name)}'
                       "</figcaption></figure>")
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


def _col(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


__all__ = ["RUN_SECTIONS", "SECTIONS", "SWEEP_SECTIONS", "build_report", "report_sections"]
