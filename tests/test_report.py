"""`semready report`: one self-contained report.html (every image embedded, nothing fetched) with the sections
that fit the folder (a run's, a reproduction's), missing pieces noted in one line rather than fatal, the schemes'
KPIs side by side, each cluster's items as captioned thumbnails; and the page loads in headless Chromium without a
console error, its captions not overlapping."""

import base64
import csv
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semready import api
from semready.cli import main
from semready.comm.simulate import TABLE_COLUMNS, kpi_table
from semready.errors import SemreadyError
from semready.report import RUN_SECTIONS, SECTIONS, SWEEP_SECTIONS, build_report
from tests.conftest import train_tiny

CHROMIUM, CHROMEDRIVER = (
    shutil.which("chromium") or "/usr/bin/chromium",
    shutil.which("chromedriver") or "/usr/bin/chromedriver",
)
# The shape `semready simulate` writes (fields of a real kpis.json; the simulation itself takes ~40 s here).
KPIS = {
    "settings": {
        "data": "npz:x.npz",
        "items_sent": 60,
        "learnable_sent": 45,
        "fidelity_psnr_db": 30.0,
        "classical_codec": "png",
        "rate_bps": 1e6,
        "payload_bytes": 1472,
        "nested": {"x": 1},
    },
    "classical": {
        "scheme": "classical",
        "items": 60,
        "semantic_items": 0,
        "classical_items": 60,
        "mean_representation_bits": None,
        "mean_representation_bits_learnable": None,
        "mean_classical_bits": 18352.5,
        "total_bits_per_item": 18352.5,
        "total_bits_per_item_excluding_dictionary": 18352.5,
        "semantic_impact": 84.91,
        "fidelity_pass_rate": 1.0,
        "semantic_cosine_pass_rate": 1.0,
        "semantic_cluster_pass_rate": 1.0,
        "mean_psnr_db": None,
    },
    "vanilla": {
        "scheme": "vanilla",
        "items": 60,
        "semantic_items": 60,
        "classical_items": 0,
        "mean_representation_bits": 5918.8,
        "mean_representation_bits_learnable": 5402.1,
        "total_bits_per_item": 112847.6,
        "total_bits_per_item_excluding_dictionary": 5918.8,
        "semantic_impact": 43.746,
        "fidelity_pass_rate": 0.225,
        "semantic_cosine_pass_rate": 1.0,
        "semantic_cluster_pass_rate": 0.95,
        "gamma_nats_per_item": 4659.7,
        "prequential_nats_per_item": 3071.3,
        "mean_psnr_db": 26.226,
        "dictionary_bits": 8554304,
    },
    "disentangled": {
        "scheme": "disentangled",
        "items": 60,
        "semantic_items": 45,
        "classical_items": 15,
        "mean_representation_bits": 5963.4,
        "mean_representation_bits_learnable": 5963.4,
        "total_bits_per_item": 5123.25,
        "total_bits_per_item_excluding_dictionary": 5940.3,
        "semantic_impact": 57.212,
        "fidelity_pass_rate": 0.95,
        "semantic_cosine_pass_rate": 1.0,
        "semantic_cluster_pass_rate": 0.9667,
        "gamma_nats_per_item": 4898.2,
        "prequential_nats_per_item": 3058.4,
        "mean_psnr_db": 25.978,
        "dictionary_bits": 8541152,
    },
    "comparison": {"semantic_impact_gain_pct": 30.78, "total_bits_reduction_pct": 0.1266},
    "version": 1,
}
SCHEMES = ["classical", "vanilla", "disentangled"]
PER_CLUSTER = 8  # build_report's default


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, format="PNG")
    return buf.getvalue()


class Node:
    def __init__(self, tag, attrs):
        self.tag, self.attrs, self.children, self.text = tag, dict(attrs), [], ""

    def all(self, tag=None, cls=None):
        for c in self.children:
            if (tag is None or c.tag == tag) and (cls is None or cls in c.attrs.get("class", "").split()):
                yield c
            yield from c.all(tag, cls)

    def find(self, tag=None, cls=None, **attrs):
        return next((n for n in self.all(tag, cls) if all(n.attrs.get(k) == v for k, v in attrs.items())), None)

    def content(self):
        return self.text + "".join(c.content() for c in self.children)


class Dom(HTMLParser):
    """A stdlib-only DOM of the page, independent of the report's own code."""

    VOID = {"img", "meta", "link", "br", "hr", "input"}

    def __init__(self, page):
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
            self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(text := Node("#text", {}))
        text.text = data


def dom(path) -> Node:
    return Dom(Path(path).read_text()).root


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([\w-]+)">', page)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_npz):
    """A trained, evaluated run (a budget split: mixed clusters) that also holds KPIs."""
    run = train_tiny(tmp_path_factory.mktemp("report") / "run", tiny_npz, epochs=3)
    api.split(run, policy="budget", value=0.25)
    api.evaluate(run, f"npz:{tiny_npz}", kmeans=False)
    (run / "kpis.json").write_text(json.dumps(KPIS))
    build_report(run)
    return run


@pytest.fixture(scope="module")
def full_dir(run_dir, tmp_path_factory):
    """A run folder that also holds a reproduction's figures and results (both kinds of sections)."""
    both = shutil.copytree(run_dir, tmp_path_factory.mktemp("both") / "run")
    (both / "fig2_clusters.png").write_bytes(_png("red"))
    (both / "fig3_kpis.png").write_bytes(_png("blue"))
    (both / "results.csv").write_text("scheme,bits\nclassical,18352\ndisentangled,5123\n")
    (both / "report.md").write_text("# Reproduction\n<b>not markup</b> & friends\n")
    build_report(both)
    return both


def test_a_run_report_shows_the_run_sections_only(run_dir):
    page = (run_dir / "report.html").read_text()
    assert sections(page) == [
        "overview",
        "training",
        "clusters-over-time",
        "ranked-clusters",
        "learnability",
        "items",
        "embedding",
        "metrics",
        "kpis",
    ]
    assert "not available" not in page and "reproduction" not in page
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", page.replace("data:", "")), "an external URL"
    assert "<script" not in page
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    thumbs = list(dom(run_dir / "report.html").all("figure", "thumb"))
    assert len(srcs) == 5 + len(thumbs)  # training, clusters over time, ranked, histogram, embedding
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.format == "PNG" and im.width >= 32
    samples = rows_of(run_dir / "samples.csv")
    n_l = sum(r["split"] == "learnable" for r in samples)
    assert 0 < n_l < len(samples)
    assert f"{n_l} learnable, {len(samples) - n_l} memorizable of {len(samples)} items (learnability threshold" in page
    metrics = page[page.index('<section id="metrics">') : page.index('<section id="kpis">')]
    assert "cluster_head" in metrics and "ACC" in metrics


def test_kpis_are_one_side_by_side_table_agreeing_with_the_cli(run_dir):
    table = dom(run_dir / "report.html").find("table", id="kpi-table")
    head = [th.content() for th in table.find("thead").all("th")]
    assert head == ["KPI", *SCHEMES]
    body = {tr.attrs["data-key"]: [td.content() for td in tr.all("td")] for tr in table.find("tbody").all("tr")}
    assert body["items"] == ["60", "60", "60"] and body["classical_items"] == ["60", "0", "15"]
    cli = kpi_table(KPIS)  # the terminal's table: one row per scheme, a column per TABLE_COLUMNS entry
    for j, (label, key, _) in enumerate(TABLE_COLUMNS):
        assert key in body, label
        terminal = [cli.columns[j + 1]._cells[i] for i in range(len(SCHEMES))]
        assert [v.replace("–", "-") for v in body[key]] == terminal, key
    assert body["total_bits_per_item"] == ["18352", "112848", "5123"]  # written out independently
    assert body["mean_representation_bits"][0] == "–"
    assert len(list(dom(run_dir / "report.html").find("section", id="kpis").all("table", "kpi"))) == 2
    kpis = (run_dir / "report.html").read_text().split('<section id="kpis">')[1]
    assert "60 items sent, fidelity PSNR ≥ 30 dB, classical png" in kpis and "dictionary_bits" in kpis
    assert "semantic_impact_gain_pct" in kpis and "nested" not in kpis and "version" in kpis


def _expected_thumbs(run, per_cluster=PER_CLUSTER):
    """Per cluster, most confident first: min(size, 2k) items, recomputed from the CSVs."""
    clusters = sorted(rows_of(run / "clusters.csv"), key=lambda r: int(r["rank"]))
    return {int(c["cluster"]): min(int(c["size"]), 2 * per_cluster) for c in clusters}


def test_thumbnails_are_captioned_with_id_score_and_cluster(run_dir, tiny_npz):
    root = dom(run_dir / "report.html")
    samples = rows_of(run_dir / "samples.csv")
    assert {"id", "path"} <= set(samples[0])
    expected = _expected_thumbs(run_dir)
    blocks = list(root.find("section", id="items").all("div", "cluster"))
    assert {int(b.attrs["data-cluster"]): len(list(b.all("figure", "thumb"))) for b in blocks} == {
        c: n for c, n in expected.items() if n
    }
    pixels = np.load(tiny_npz)["x"]
    for block in blocks:
        c = int(block.attrs["data-cluster"])
        members = [r for r in samples if int(r["cluster"]) == c]
        figs = list(block.all("figure", "thumb"))
        shown = [int(f.attrs["data-index"]) for f in figs]
        assert len(set(shown)) == len(shown)  # no item twice
        top = shown[: min(PER_CLUSTER, len(members))]
        rest = [float(r["learnability"]) for r in members if int(r["index"]) not in top]
        assert all(float(samples[i]["learnability"]) >= max(rest, default=0) for i in top)
        for f in figs:
            row = samples[int(f.attrs["data-index"])]
            caps = list(f.all("figcaption"))
            assert len(caps) == 1 and len(list(f.all("img"))) == 1
            text = caps[0].content()
            assert row["id"] in text and f"L = {float(row['learnability']):.3f}" in text
            assert f"cluster {c}" in text and row["split"] in text and row["split"] in f.attrs["class"]
            assert caps[0].find("span", "id").attrs["title"] == row["path"]
            src = f.find("img").attrs["src"]
            with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
                assert np.array_equal(np.asarray(im.convert("RGB")), pixels[int(row["index"])])


def _rewrite(path, rows, columns):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def test_an_older_run_without_ids_or_learnable_share(run_dir, tmp_path):
    old = shutil.copytree(run_dir, tmp_path / "old")
    samples = rows_of(old / "samples.csv")
    _rewrite(old / "samples.csv", samples, [c for c in samples[0] if c not in ("id", "path")])
    clusters = rows_of(old / "clusters.csv")
    _rewrite(old / "clusters.csv", clusters, [c for c in clusters[0] if c != "learnable_share"])
    page = build_report(old).read_text()
    assert "not available" not in page and "unreadable" not in page
    figs = list(Dom(page).root.find("section", id="items").all("figure", "thumb"))
    assert len(figs) == sum(_expected_thumbs(old).values())
    for f in figs:
        assert f.find("span", "id").content() == f"#{f.attrs['data-index']}"
    ranked = Dom(page).root.find("section", id="ranked-clusters").find("table")
    assert [th.content() for th in ranked.all("th")] == ["rank", "cluster", "size", "confidence", "split"]


def test_mixed_clusters_and_their_learnable_share(run_dir, tmp_path):
    mixed = shutil.copytree(run_dir, tmp_path / "mixed")
    clusters = rows_of(mixed / "clusters.csv")
    biggest = max(clusters, key=lambda r: int(r["size"]))
    biggest["split"], biggest["learnable_share"] = "mixed", "0.250000"
    others = [r for r in clusters if r is not biggest]
    for r in others:
        r["split"], r["learnable_share"] = "learnable", "1.000000"
    _rewrite(mixed / "clusters.csv", clusters, list(clusters[0]))
    page = build_report(mixed).read_text()
    ranked = Dom(page).root.find("section", id="ranked-clusters").find("table")
    assert [th.content() for th in ranked.all("th")][4] == "learnable share"
    cells = {
        int(tr.find("td").content()): [td.content() for td in tr.all("td")] for tr in ranked.all("tr") if tr.find("td")
    }
    assert cells[int(biggest["rank"])][4:] == ["0.250", "mixed"]
    assert "1 mixed cluster(s)" in page
    head = Dom(page).root.find("div", "cluster", **{"data-cluster": biggest["cluster"]}).find("h4").content()
    assert "mixed (learnable share 0.25)" in head
    assert "not available" not in page


def test_a_cluster_level_split_has_no_threshold(run_dir, tmp_path):
    whole = shutil.copytree(run_dir, tmp_path / "whole")
    api.split(whole, policy="cluster-budget", value=0.3)
    split = json.loads((whole / "split.json").read_text())
    assert split["threshold"] is None and isinstance(split["learnable_clusters"], list)
    page = build_report(whole).read_text()
    assert "not available" not in page and "unreadable" not in page
    keep = ", ".join(map(str, split["learnable_clusters"])) or "none"
    samples = rows_of(whole / "samples.csv")
    n_l = sum(r["split"] == "learnable" for r in samples)
    assert n_l == sum(int(r["cluster"]) in split["learnable_clusters"] for r in samples)
    learn = page.split('<section id="learnability">')[1].split("</section>")[0]
    assert (
        f"{n_l} learnable, {len(samples) - n_l} memorizable of {len(samples)} items (policy cluster-budget: "
        f"whole clusters by confidence, learnable clusters {keep})" in learn
    )
    overview = Dom(page).root.find("section", id="overview").find("table")
    values = {
        tr.find("td").content(): [td.content() for td in tr.all("td")][1] for tr in overview.all("tr") if tr.find("td")
    }
    assert values["split.threshold"] == "–" and values["split.learnable_clusters"] == keep


def test_a_folder_holding_both_shows_both(full_dir):
    page = (full_dir / "report.html").read_text()
    assert sections(page) == list(SECTIONS) and "not available" not in page
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; friends" in page  # report.md is shown as text, escaped
    assert "<td>classical</td><td>18352</td>" in page


def test_missing_pieces_of_a_run_are_one_line_each(run_dir, tmp_path):
    only_log = tmp_path / "partial"
    only_log.mkdir()
    shutil.copy(run_dir / "log.csv", only_log / "log.csv")
    page = build_report(only_log).read_text()
    assert sections(page) == list(RUN_SECTIONS)
    assert page.count("data:image/png;base64,") == 2  # training curves and clusters over time
    notes = re.findall(r'<p class="na">([^<]*)</p>', page)
    assert len(notes) == 6 and all("\n" not in n for n in notes)  # ranked .. kpis: one line each
    assert "not available: no samples.csv" in page and "not available: no kpis.json; simulate" in page
    assert "not available: no metrics.json; evaluate the run" in page and "reproduction" not in page
    (only_log / "kpis.json").write_text(json.dumps({"settings": {"items_sent": 3}}))
    assert "not available: kpis.json holds no scheme" in build_report(only_log).read_text()
    (only_log / "kpis.json").write_text("[1, 2]")  # any JSON, even not a dict, is survived
    (only_log / "log.csv").write_text("epoch,loss\n1,oops\n")
    page = build_report(only_log).read_text()
    assert "not available: kpis.json is not a JSON object" in page and "a file is unreadable" in page
    with pytest.raises(SemreadyError, match="holds neither a run"):
        build_report(tmp_path)
    with pytest.raises(SemreadyError, match="is not a directory"):
        build_report(tmp_path / "nope")


def test_report_of_a_reproduction_folder(tmp_path):
    repro = tmp_path / "repro"
    (repro / "jobs" / "L1_s0" / "run").mkdir(parents=True)
    (repro / "fig2_representation_length.png").write_bytes(_png("green"))
    (repro / "fig3_semantic_impact.png").write_bytes(_png("gray"))
    (repro / "results.csv").write_text("level,seed,scheme,semantic_impact\n1,0,disentangled,601.9\n")
    (repro / "summary.json").write_text(json.dumps({"jobs_run": 18, "headline": {"gain_pct": 23.4}, "shapes": []}))
    page = build_report(repro).read_text()
    assert sections(page) == list(SWEEP_SECTIONS) == ["overview", "figures", "results"]
    assert page.count("data:image/png;base64,") == 2 and "not available" not in page
    assert page.count(f"semready report {repro / 'jobs' / 'L1_s0' / 'run'}") == 1
    assert "<td>gain_pct</td><td>23.4</td>" in page and "<td>jobs_run</td><td>18</td>" in page
    assert "<td>601.9</td>" in page and 'href="#training"' not in page
    for f in repro.glob("results.csv"):
        f.unlink()
    (repro / "summary.json").unlink()
    page = build_report(repro).read_text()
    assert sections(page) == list(SWEEP_SECTIONS) and page.count('<p class="na">') == 1  # results: one line


def test_the_committed_reproduction_reports_are_current(tmp_path):
    """docs/reproduce_*/report.html were rebuilt from the folder's own files by this report code: rebuilding a copy
    gives the same bytes."""
    folders = sorted((Path(__file__).resolve().parents[1] / "docs").glob("reproduce_*"))
    assert folders
    for folder in folders:
        copy = shutil.copytree(folder, tmp_path / folder.name)
        assert build_report(copy).read_bytes() == (folder / "report.html").read_bytes(), folder
        page = (folder / "report.html").read_text()
        assert sections(page) == list(SWEEP_SECTIONS), folder
        assert page.count("data:image/png;base64,") == len(list(folder.glob("fig[23]_*.png"))), folder
        results = rows_of(folder / "results.csv")
        assert page.count("<tr><td>") >= len(results) and "not available" not in page


def test_report_command(run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / "report.html").unlink()
    try:
        main(["report", str(run)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "report ->" in capsys.readouterr().out and (run / "report.html").is_file()
    assert not list(run.glob(".*.tmp"))
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1 and "is not a directory" in err


def _chrome(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        why = "Debian chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("SEMREADY_REQUIRE_BROWSER") == "1":  # CI: the browser test must run, not skip
            pytest.fail(why)
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


OVERLAPS = """
const rects = q => [...document.querySelectorAll(q)].map(e => e.getBoundingClientRect());
const captions = rects('#items figcaption'), figures = rects('#items figure.thumb');
let bad = 0;
for (const set of [captions, figures]) for (let i = 0; i < set.length; i++) for (let j = i + 1; j < set.length; j++) {
  const a = set[i], b = set[j];
  if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) bad++;
}
const outside = [...document.querySelectorAll('#items figure.thumb')].filter(f => {
  const r = f.getBoundingClientRect(), c = f.querySelector('figcaption').getBoundingClientRect(),
        i = f.querySelector('img').getBoundingClientRect();
  return c.left < r.left - 0.5 || c.right > r.right + 0.5 || c.bottom > r.bottom + 0.5 || c.top < i.bottom - 0.5
         || c.height === 0;
}).length;
return [captions.length, bad, outside];
"""


@pytest.mark.slow
def test_report_loads_in_headless_chromium(run_dir, tmp_path):
    driver = _chrome(tmp_path)
    try:
        # Control: a page that does log an error, so that a clean log below means something.
        control = tmp_path / "control.html"
        control.write_text("<!DOCTYPE html><title>c</title><script>console.error('control-error')</script>")
        driver.get(control.as_uri())
        assert any("control-error" in e["message"] for e in driver.get_log("browser"))
        # Control for the overlap check: two captions drawn on top of each other are seen as such.
        clash = tmp_path / "clash.html"
        clash.write_text(
            '<!DOCTYPE html><title>c</title><section id="items"><figure class="thumb" style="margin:0">'
            '<img src="data:," width=4 height=4><figcaption>one</figcaption></figure><figure '
            'class="thumb" style="margin:-1.2em 0 0"><img src="data:," width=4 height=4><figcaption>'
            "two</figcaption></figure></section>"
        )
        driver.get(clash.as_uri())
        assert driver.execute_script(OVERLAPS)[:2] == [2, 2]  # the captions and the figures

        driver.get((run_dir / "report.html").as_uri())
        assert driver.title.startswith("semready report")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == [], errors
        ids = driver.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
        assert ids == list(RUN_SECTIONS)
        broken = driver.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)"
        )
        thumbs = sum(_expected_thumbs(run_dir).values())
        assert broken == [] and driver.execute_script("return document.images.length") == 5 + thumbs
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:'))"
        )
        assert fetched == []  # nothing loaded from anywhere
        counts = driver.execute_script(
            "return ['#items figure.thumb', '#items figure.thumb > img', "
            "'#items figcaption'].map(q => document.querySelectorAll(q).length)"
        )
        assert counts == [thumbs] * 3 and thumbs > 0
        for width in (1200, 420):  # wide and phone-narrow: captions wrap in their own cell
            driver.set_window_size(width, 1000)
            n, overlapping, outside = driver.execute_script(OVERLAPS)
            assert (n, overlapping, outside) == (thumbs, 0, 0), width
        shown = driver.execute_script(
            "return document.querySelector('#items figure.thumb img').getBoundingClientRect().width"
        )
        assert shown >= 48
        head = driver.execute_script(
            "return [...document.querySelectorAll('#kpi-table thead th')].map(th => th.textContent)"
        )
        assert head == ["KPI", *SCHEMES]
        cells = driver.execute_script(
            "return [...document.querySelectorAll('#kpi-table tbody tr')].map(tr => tr.querySelectorAll('td').length)"
        )
        assert len(cells) >= len(TABLE_COLUMNS) and set(cells) == {len(SCHEMES)}
    finally:
        driver.quit()
