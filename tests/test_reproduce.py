"""Mixture streams, content complexity, and a tiny end-to-end `semready reproduce` sweep."""

import csv
import json
import math

import numpy as np
import pytest

from semready.cli import main
from semready.data import load_data
from semready.data.mixtures import Level, build_mixture, content_complexity, default_levels, pool_content
from semready.errors import SemreadyError


def test_content_complexity_by_hand():
    assert content_complexity(np.array([50, 50]), 0) == pytest.approx(math.log(2))
    # ρ = 0.2 of 100 items, 4 balanced elements: h_b(0.2) + 0.8·ln 4 + 0.2·ln 20
    hb = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert content_complexity(np.array([20, 20, 20, 20]), 20) == pytest.approx(hb + 0.8 * math.log(4)
                                                                              + 0.2 * math.log(20))


def test_levels_span_two_to_five_nats_and_streams_match_them():
    levels = default_levels(10, 2000)
    hc = [lv.complexity for lv in levels]
    assert len(levels) == 6 and hc == sorted(hc) and hc[0] <= 2.0 and hc[-1] >= 5.0
    pool = pool_content([load_data("sample")])
    stream = build_mixture(pool, Level("L2", 4, 0.1, 400), seed=3)
    assert len(stream.data) == 400 and (stream.family != "clean").sum() == 40
    assert np.bincount(stream.data.labels[stream.family == "clean"]).tolist() == [90] * 4
    assert stream.complexity == pytest.approx(Level("L2", 4, 0.1, 400).complexity)
    again = build_mixture(pool, Level("L2", 4, 0.1, 400), seed=3)
    assert np.array_equal(again.data.images.numpy(), stream.data.images.numpy())  # reproducible by seed
    with pytest.raises(SemreadyError, match="content elements"):
        build_mixture(pool, Level("L9", 11, 0.1, 400), seed=0)


def test_tiny_sweep_end_to_end_and_resume(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                   "train: {epochs: 2, batch_size: 32, warmup_epochs: 1}\n"
                   "comm: {prequential_chunks: 2, gamma_samples: 2}\n")
    out = tmp_path / "sweep"
    args = ["reproduce", "--out", str(out), "--seeds", "1", "--levels", "2", "--items", "200", "--image-size", "16",
            "--config", str(cfg), "--workers", "2"]
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 3 and {r["scheme"] for r in rows} == {"classical", "vanilla", "disentangled"}
    assert all(0 <= float(r["fidelity_pass_rate"]) <= 1 for r in rows)
    assert all(float(r["fidelity_pass_rate"]) == 1.0 for r in rows if r["scheme"] == "classical")  # best: PNG at worst
    assert len({r["content_complexity_nats"] for r in rows}) == 2
    for stem in ("fig2_representation_length", "fig3_semantic_impact", "fig2_total_bits_per_item"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").is_file()
    report = (out / "report.md").read_text()
    assert "Do the paper's shapes hold?" in report
    assert (out / "report.html").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    # the headline printed in report.md and stored in summary.json is OUR numbers, recomputed here from results.csv
    for key, label, ratio in (
            ("mean_representation_bits", "representation length reduction vs vanilla", lambda v, d: 1 - d / v),
            ("semantic_impact", "semantic impact gain vs vanilla", lambda v, d: d / v - 1),
            ("total_bits_per_item", "total bits per item reduction vs vanilla", lambda v, d: 1 - d / v)):
        name = {"mean_representation_bits": "representation_length_reduction_pct",
                "semantic_impact": "semantic_impact_gain_pct",
                "total_bits_per_item": "total_bits_reduction_pct"}[key]
        pairs = {}
        for r in rows:
            if r["scheme"] in ("vanilla", "disentangled") and r[key] != "":
                pairs.setdefault((r["level"], r["seed"]), {})[r["scheme"]] = float(r[key])
        assert len(pairs) == 2 and all(len(p) == 2 and p["vanilla"] > 0 for p in pairs.values())
        per_pair = {lv: 100 * ratio(p["vanilla"], p["disentangled"]) for (lv, _), p in pairs.items()}
        mean = sum(per_pair.values()) / 2
        std = abs(per_pair["L1"] - per_pair["L2"]) / 2  # the population std of two values
        top = per_pair["L2"]  # one seed: the highest level's only pair
        got = summary["headline"][name]
        assert got["mean"] == pytest.approx(mean, rel=1e-9, abs=1e-9), name
        assert got["std"] == pytest.approx(std, rel=1e-9, abs=1e-9), name
        assert got["highest_level"] == pytest.approx(top, rel=1e-9, abs=1e-9), name
        line = next(row for row in report.splitlines() if row.startswith(f"| {label}"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == f"{mean:.1f} % ± {std:.1f}", (line, mean, std)
        assert cells[2] == f"{top:.1f} %", (line, top)
    assert summary["jobs_run"] == 2
    main(args)  # finished jobs are skipped
    assert json.loads((out / "summary.json").read_text())["jobs_skipped"] == 2
