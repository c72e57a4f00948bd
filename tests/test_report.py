"""`semready report`: one self-contained report.html (every image embedded, nothing fetched), every section present,
missing pieces noted rather than fatal; and the page loads in headless Chromium without a console error."""

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from semready import api
from semready.cli import main
from semready.errors import SemreadyError
from semready.report import SECTIONS, build_report
from tests.conftest import train_tiny

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
KPIS = {"settings": {"items_sent": 60, "fidelity_psnr_db": 30.0, "classical_codec": "png", "nested": {"x": 1}},
        "classical": {"total_bits_per_item": 18352.5, "fidelity_pass_rate": 1.0, "mean_representation_bits": None},
        "disentangled": {"total_bits_per_item": 5123.25, "semantic_impact": 12.5, "fidelity_pass_rate": 0.95},
        "version": 1}


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory, tiny_npz):
    """A trained, evaluated run that also holds KPIs and a reproduction's figures and results."""
    run = train_tiny(tmp_path_factory.mktemp("report") / "run", tiny_npz, epochs=3)
    api.evaluate(run, f"npz:{tiny_npz}", kmeans=False)
    (run / "kpis.json").write_text(json.dumps(KPIS))
    (run / "fig2_clusters.png").write_bytes(_png("red"))
    (run / "fig3_kpis.png").write_bytes(_png("blue"))
    (run / "results.csv").write_text("scheme,bits\nclassical,18352\ndisentangled,5123\n")
    (run / "report.md").write_text("# Reproduction\n<b>not markup</b> & friends\n")
    build_report(run)
    return run


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([\w-]+)">', page)


def test_report_is_self_contained_with_every_section(full_dir):
    page = (full_dir / "report.html").read_text()
    assert sections(page) == list(SECTIONS)
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", page.replace("data:", "")), "an external URL"
    assert "<script" not in page and "not available" not in page
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(srcs) == 8  # 6 figures of the run + fig2 + fig3
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.format == "PNG" and im.width >= 40
    kpis = page[page.index('<section id="kpis">'):page.index('<section id="figures">')]
    for text in ("<h3>classical</h3>", "<h3>disentangled</h3>", "<h3>settings</h3>", "5123", "0.95", "version"):
        assert text in kpis, text
    assert "nested" not in kpis  # only scalar fields
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; friends" in page  # report.md is shown as text, escaped
    assert "<td>classical</td><td>18352</td>" in page
    metrics = page[page.index('<section id="metrics">'):page.index('<section id="kpis">')]
    assert "cluster_head" in metrics and "ACC" in metrics


def test_missing_pieces_are_noted_not_fatal(full_dir, tmp_path):
    only_log = tmp_path / "partial"
    only_log.mkdir()
    shutil.copy(full_dir / "log.csv", only_log / "log.csv")
    page = build_report(only_log).read_text()
    assert sections(page) == list(SECTIONS)
    assert page.count("data:image/png;base64,") == 2  # training curves and clusters over time
    assert "not available: no samples.csv" in page and "not available: no kpis.json; simulate" in page
    assert "not available: no metrics.json; evaluate the run" in page
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
    assert sections(page) == list(SECTIONS) and page.count("data:image/png;base64,") == 2
    assert page.count(f"report one of its runs for this: `semready report {repro / 'jobs' / 'L1_s0' / 'run'}`") == 7
    assert "<td>gain_pct</td><td>23.4</td>" in page and "<td>jobs_run</td><td>18</td>" in page
    assert "<td>601.9</td>" in page


def test_report_command(full_dir, tmp_path, capsys):
    run = shutil.copytree(full_dir, tmp_path / "run")
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
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


@pytest.mark.slow
def test_report_loads_in_headless_chromium(full_dir, tmp_path):
    driver = _chrome(tmp_path)
    try:
        # Control: a page that does log an error, so that a clean log below means something.
        control = tmp_path / "control.html"
        control.write_text("<!DOCTYPE html><title>c</title><script>console.error('control-error')</script>")
        driver.get(control.as_uri())
        assert any("control-error" in e["message"] for e in driver.get_log("browser"))

        driver.get((full_dir / "report.html").as_uri())
        assert driver.title.startswith("semready report")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == [], errors
        ids = driver.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
        assert ids == list(SECTIONS)
        broken = driver.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)")
        assert broken == [] and driver.execute_script("return document.images.length") == 8
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:'))")
        assert fetched == []  # nothing loaded from anywhere
        visible = driver.execute_script("return document.querySelector('#items img').getBoundingClientRect().width")
        assert visible > 100
    finally:
        driver.quit()

