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


def test_levels_rise_in_complexity_keep_rare_items_rare_and_streams_match_them():
    levels = default_levels(10, 2000)
    hc = [lv.complexity for lv in levels]
    assert len(levels) == 6 and hc == sorted(hc) and hc[0] <= 2.0 and hc[-1] >= 4.0
    assert [lv.elements + lv.unseen for lv in levels] == [10] * 6  # the rare items come from all other elements
    for lv in levels:  # each unseen element supplies at most half of a structured element's items
        share, per = lv.n_rare / lv.unseen, (lv.items - lv.n_poor) / lv.elements
        assert math.ceil(share) <= 0.5 * math.floor(per), lv
    top = levels[-1]  # K = 6 would leave 4 unseen elements 84 rare items each > half of 166
    assert (top.elements, top.unseen, top.n_rare) == (5, 5, 333)
    pool = pool_content([load_data("sample")])
    stream = build_mixture(pool, Level("L2", 4, 0.1, 400, 6), seed=3)
    assert len(stream.data) == 400 and (stream.family != "clean").sum() == 40
    assert {f: int((stream.family == f).sum()) for f in ("noise", "scrambled", "rare")} == \
        {"noise": 14, "scrambled": 13, "rare": 13}
    assert np.bincount(stream.data.labels[stream.family == "clean"]).tolist() == [90] * 4
    assert stream.complexity == pytest.approx(Level("L2", 4, 0.1, 400, 6).complexity)
    again = build_mixture(pool, Level("L2", 4, 0.1, 400, 6), seed=3)
    assert np.array_equal(again.data.images.numpy(), stream.data.images.numpy())  # reproducible by seed
    assert np.array_equal(again.rare_element, stream.rare_element)
    with pytest.raises(SemreadyError, match="content elements"):
        build_mixture(pool, Level("L9", 11, 0.1, 400, 0), seed=0)


def _entropy(counts):
    p = np.asarray(counts, dtype=float) / sum(counts)
    return float(-(p * np.log(p)).sum())


def test_content_complexity_counts_rare_items_by_their_element():
    # 4 + 4 clean items of 2 elements, 2 noise + 1 scrambled singletons, rare items 3 of one element and 2 of another
    assert content_complexity(np.array([4, 4]), 8, np.array([3, 2])) == pytest.approx(
        _entropy([4, 4, 1, 1, 1, 3, 2]))
    assert content_complexity(np.array([4, 4]), 8, np.array([1, 1])) == pytest.approx(
        content_complexity(np.array([4, 4]), 8))  # one rare item per element: every poor item its own element
    with pytest.raises(SemreadyError, match="rare items"):
        content_complexity(np.array([4, 4]), 2, np.array([3]))
    pool = pool_content([load_data("sample")])
    stream = build_mixture(pool, Level("L6", 5, 0.5, 300, 5), seed=1)
    clean = stream.family == "clean"
    groups = np.unique(stream.rare_element[stream.family == "rare"], return_counts=True)[1]
    singles = int(np.isin(stream.family, ["noise", "scrambled"]).sum())
    expected = _entropy(np.bincount(stream.data.labels[clean]).tolist() + [1] * singles + groups.tolist())
    assert stream.complexity == pytest.approx(expected)
    assert groups.tolist() == [10] * 5  # 50 rare items, balanced over the 5 unseen elements


def test_tiny_sweep_end_to_end_and_resume(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16}\nbank: {size: 96, min_negatives: 8}\n"
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
    controls = {f"disentangled | {c}" for c in ("untrained teacher", "no teacher (pixel)", "random split")}
    assert len(rows) == 2 * 6 and {r["scheme"] for r in rows} == {"classical", "vanilla", "disentangled"} | controls
    assert all(0 <= float(r["fidelity_pass_rate"]) <= 1 for r in rows)
    check_same_items_headline(out, rows)
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
    check_families_and_split(out, rows, report, summary)
    main(args)  # finished jobs are skipped
    assert json.loads((out / "summary.json").read_text())["jobs_skipped"] == 2


def check_same_items_headline(out, rows):
    """The same-items reduction of each job, recomputed from its kpis_items.csv and samples.csv; controls present."""
    for job_dir in sorted((out / "jobs").iterdir()):
        job = json.loads((job_dir / "job.json").read_text())
        with open(job_dir / "run" / "samples.csv") as fh:
            learnable = {int(s["index"]) for s in csv.DictReader(fh) if s["split"] == "learnable"}
        with open(job_dir / "run" / "kpis_items.csv") as fh:
            items = list(csv.DictReader(fh))
        mean = {}
        for scheme in ("vanilla", "disentangled"):  # |Z_i| over the learnable items both send semantically
            bits = [float(it["bits"]) for it in items if it["scheme"] == scheme and int(it["index"]) in learnable]
            mean[scheme] = sum(bits) / len(bits)
        expected = 100 * (1 - mean["disentangled"] / mean["vanilla"])
        row = next(r for r in rows if r["level"] == job["level"]["name"] and r["scheme"] == "disentangled")
        assert float(row["same_items_reduction_pct"]) == pytest.approx(expected, rel=1e-6)
        assert job["kpis"]["comparison"]["same_items_reduction_pct"] == pytest.approx(expected, rel=1e-6)
        for name, control in job["controls"].items():  # each control: the same item count split, its own vanilla
            r = next(r for r in rows if r["level"] == job["level"]["name"] and r["scheme"] == f"disentangled | {name}")
            bits = control["disentangled"]["mean_representation_bits"]
            assert float(r["mean_representation_bits"]) == pytest.approx(bits)
            assert float(r["same_items_reduction_pct"]) == pytest.approx(control["same_items_reduction_pct"])
    report = (out / "report.md").read_text()
    assert "## Beside its controls" in report and "| random split |" in report
    shares = [float(r["multi_packet_share"]) for r in rows if r["multi_packet_share"] != ""]
    assert shares and ("is just 1/τ_i" in report) == (max(shares) == 0)  # 16×16: every regeneration fits a packet


def check_families_and_split(out, rows, report, summary):
    """job.json, results.csv and report.md against each job's own files, recomputed here by loops."""
    import yaml

    fams = ("clean", "noise", "scrambled", "rare")
    for job_dir in sorted((out / "jobs").iterdir()):
        job = json.loads((job_dir / "job.json").read_text())
        level, run = job["level"], job_dir / "run"
        family = np.load(job_dir / "family.npy")
        # L1: ρ 0.05 of 200 = 10 poor items (4 noise, 3 scrambled, 3 rare); L2: ρ 0.5 = 100 (34, 33, 33)
        counts = dict(zip(fams, {"L1": (190, 4, 3, 3), "L2": (100, 34, 33, 33)}[level["name"]], strict=True))
        assert {f: int((family == f).sum()) for f in fams} == counts == job["family_items"]
        # M = K: the config file sets no model.clusters
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert job["clusters"] == cfg["model"]["clusters"] == level["elements"]
        split = json.loads((run / "split.json").read_text())
        assert job["split"] == {k: split[k] for k in ("score", "policy", "value", "threshold")}
        with open(run / "samples.csv") as fh:
            samples = list(csv.DictReader(fh))
        memorizable = {}
        for s in samples:  # samples.csv: one row per stream item, split learnable / memorizable
            memorizable.setdefault(family[int(s["index"])], []).append(s["split"] == "memorizable")
        every_row = [r for r in rows if r["level"] == level["name"]]
        my_rows = [r for r in every_row if not r["scheme"].startswith("disentangled | ")]  # the teacher's split
        controls = [r for r in every_row if r["scheme"].startswith("disentangled | ")]
        assert len(controls) == 3 and all(r["split_policy"] == r["memorizable_share_noise"] == "" for r in controls)
        for f in fams:
            share = sum(memorizable[f]) / len(memorizable[f])
            assert job["memorizable_share"][f] == pytest.approx(share)
            assert all(float(r[f"memorizable_share_{f}"]) == pytest.approx(share) for r in my_rows)
        with open(run / "kpis_items.csv") as fh:
            items = list(csv.DictReader(fh))
        for r in my_rows:
            for f in fams:
                sel = [it for it in items if it["scheme"] == r["scheme"] and family[int(it["index"])] == f]
                if not sel:
                    assert r[f"mean_bits_{f}"] == "", (r["scheme"], f)
                    continue
                assert float(r[f"mean_bits_{f}"]) == pytest.approx(sum(float(it["bits"]) for it in sel) / len(sel))
                assert float(r[f"fidelity_pass_rate_{f}"]) == pytest.approx(
                    sum(int(it["passed"]) for it in sel) / len(sel))
            assert (r["split_score"], r["split_policy"]) == (split["score"], split["policy"])
            assert int(r["clusters"]) == level["elements"]
    assert f"score `{split['score']}`, policy `{split['policy']}`" in report
    assert "## The split" in report and "## Per family" in report
    l2 = next(line for line in report.splitlines() if line.startswith("| L2 | 5 | 5 | 5 |"))  # K, U, M
    assert split["policy"] in l2
    assert [s["clusters"] for s in summary["splits"]] == [3, 5]


def test_the_sweep_sets_m_and_the_budget_unless_the_config_file_does(tmp_path):
    from semready.experiments.reproduce import sweep_defaults

    assert sweep_defaults(None, 2.0) == ({"max_minutes": 2.0, "epochs": 10_000}, True)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {clusters: 7}\ntrain: {epochs: 3}\n")
    assert sweep_defaults(cfg, 2.0) == ({"max_minutes": 2.0}, False)
    cfg.write_text("model: {width: 8}\n")
    assert sweep_defaults(cfg, 1.5) == ({"max_minutes": 1.5, "epochs": 10_000}, True)


def test_a_teacher_config_that_cannot_seed_m_clusters_fails_before_any_job(tmp_path):
    from semready.experiments.reproduce import reproduce

    cfg = tmp_path / "c.yaml"
    out = tmp_path / "sweep"
    cfg.write_text("model: {clusters: 40}\nbank: {size: 32}\ntrain: {batch_size: 32}\n")
    with pytest.raises(SemreadyError, match="level L1's teacher has model.clusters 40, more than bank.size 32"):
        reproduce(out, seeds=1, levels=2, items=200, config_file=cfg)
    cfg.write_text("model: {clusters: 300}\nbank: {size: 512}\n")
    with pytest.raises(SemreadyError, match="level L1's stream has 200 items, fewer than model.clusters 300"):
        reproduce(out, seeds=1, levels=2, items=200, config_file=cfg)
    assert not out.exists()


def test_a_finished_job_is_reused_only_under_the_same_plan(tmp_path):
    from semready.experiments.reproduce import finished_job

    plan = {"level": {"name": "L1", "elements": 3, "rho": 0.05, "items": 200, "unseen": 7}, "seed": 0,
            "content": ["sample"], "image_size": 16, "preset": "quick", "config_file": None,
            "train": {"max_minutes": 2.0, "epochs": 10_000}, "clusters": 3}
    job = tmp_path / "L1_s0"
    assert finished_job(job, plan) is None  # nothing there
    job.mkdir()
    (job / "job.json").write_text(json.dumps({"plan": plan, "seed": 0}))
    assert finished_job(job, json.loads(json.dumps(plan))) == {"plan": plan, "seed": 0}
    for key, value in (("clusters", None), ("seed", 1), ("train", {"max_minutes": 3.0, "epochs": 10_000})):
        assert finished_job(job, {**plan, key: value}) is None, key
    (job / "job.json").write_text(json.dumps({"seed": 0}))  # an older sweep's job.json: no plan
    assert finished_job(job, plan) is None
