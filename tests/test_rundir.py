"""The run folder and the reproduction folder (semready.rundir): every file's name, the writers and readers round
trip (samples.csv -> cluster / confidence / learnable, clusters.csv -> C_l, split.json -> threshold, log.csv at full
precision, kpis.json + kpis_items.csv with one row per scheme × item), corrupt or missing files are one-line
SemreadyErrors, and prepare() refuses an --out that cannot hold the run."""

import json
import math

import numpy as np
import pytest

from semready.config import build_config, dump_config
from semready.errors import SemreadyError
from semready.rundir import (
    CLUSTER_COLUMNS,
    ITEM_KPI_COLUMNS,
    LOG_COLUMNS,
    SAMPLE_COLUMNS,
    RunDir,
    SweepDir,
    read_rows,
    write_table,
)
from semready.split.ranking import rank_and_split


def test_run_dir_file_names(tmp_path):
    run = RunDir(tmp_path / "r")
    p = tmp_path / "r"
    assert run.path == p
    names = {"config": "config.yaml", "checkpoint": "checkpoint.safetensors", "state": "state.json",
             "log": "log.csv", "tb": "tb", "samples": "samples.csv", "clusters": "clusters.csv",
             "split": "split.json", "regen": "regen.safetensors", "typicality": "typicality.safetensors",
             "plots": "plots", "metrics": "metrics.json",
             "kpis": "kpis.json", "kpi_items": "kpis_items.csv", "languages": "languages",
             "report": "report.html"}
    for attr, name in names.items():
        assert getattr(run, attr) == p / name, attr
    assert run.plot("ranking") == p / "plots" / "ranking.png"
    assert run.language("vanilla") == p / "languages" / "vanilla"
    assert RunDir(str(p)).samples == p / "samples.csv"  # a str path works too
    assert repr(run) == f"RunDir({str(p)!r})"


def test_is_run_needs_one_of_its_own_files(tmp_path):
    run = RunDir(tmp_path)
    assert not run.is_run()
    (tmp_path / "other.txt").write_text("x")
    assert not run.is_run()
    run.log.write_text("epoch\n")
    assert run.is_run()


def _split_tables():
    clusters = np.array([0, 0, 1, 2, 2, 2, 0])
    confidence = np.array([0.9, 0.25, 0.5, 0.125, 0.75, 1.0, 0.333333333])
    learn = np.array([0.8, 0.1, 0.5, 0.2, 0.6, 0.95, 0.4])
    return clusters, confidence, learn, rank_and_split(clusters, confidence, learn, 4, learn >= 0.5)


def test_write_samples_read_samples_round_trip(tmp_path):
    clusters, confidence, learn, (items, _) = _split_tables()
    run = RunDir(tmp_path)
    run.write_samples(items)
    samples = run.read_samples()
    assert set(samples) == {"cluster", "confidence", "learnable"}
    assert samples["cluster"].dtype == np.int64 and samples["cluster"].tolist() == clusters.tolist()
    assert samples["confidence"].dtype == np.float64
    np.testing.assert_allclose(samples["confidence"], confidence, rtol=0, atol=5e-7)  # 6 decimals on disk
    assert samples["learnable"].dtype == bool
    assert samples["learnable"].tolist() == [x >= 0.5 for x in learn]
    rows = run.read_sample_rows()
    assert list(rows[0]) == list(SAMPLE_COLUMNS)
    assert [int(r["rank"]) for r in rows] == items["rank"].tolist()
    assert rows[6]["confidence"] == "0.333333"


def test_write_samples_with_labels_adds_a_column(tmp_path):
    _, _, _, (items, _) = _split_tables()
    items = dict(items, label=np.array([3, 1, 4, 1, 5, 9, 2]))
    run = RunDir(tmp_path)
    run.write_samples(items)
    rows = run.read_sample_rows()
    assert list(rows[0]) == list(SAMPLE_COLUMNS) + ["label"]
    assert [int(r["label"]) for r in rows] == [3, 1, 4, 1, 5, 9, 2]


def test_read_samples_errors(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(SemreadyError, match="samples.csv"):
        run.read_samples()  # missing
    run.samples.write_text(",".join(SAMPLE_COLUMNS) + "\n")
    with pytest.raises(SemreadyError, match="empty"):
        run.read_samples()
    run.samples.write_text(",".join(SAMPLE_COLUMNS) + "\n0,zero,0.5,0.5,1,learnable\n")
    with pytest.raises(SemreadyError, match="corrupt"):
        run.read_samples()
    run.samples.write_text("index,split\n0,learnable\n")  # no cluster column
    with pytest.raises(SemreadyError, match="corrupt"):
        run.read_samples()


def test_read_cluster_confidence_from_write_clusters(tmp_path):
    _, _, _, (_, table) = _split_tables()
    run = RunDir(tmp_path)
    run.write_clusters(table)
    rows = run.read_cluster_rows()
    assert list(rows[0]) == list(CLUSTER_COLUMNS)
    assert [r["split"] for r in rows] == table["split"].tolist()
    # C_0 = (0.9 + 0.25 + 0.333333333)/3, C_1 = 0.5, C_2 = (0.125 + 0.75 + 1)/3, C_3 empty = 0
    expected = [(0.9 + 0.25 + 0.333333333) / 3, 0.5, 1.875 / 3, 0.0]
    np.testing.assert_allclose(run.read_cluster_confidence(4), expected, rtol=0, atol=5e-7)
    # more clusters than in the file: the rest are 0
    np.testing.assert_allclose(run.read_cluster_confidence(6)[4:], [0.0, 0.0])
    # fewer: an index out of range is a corrupt file, not an IndexError
    with pytest.raises(SemreadyError, match="corrupt"):
        run.read_cluster_confidence(2)


def test_read_cluster_confidence_errors(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(SemreadyError, match="clusters.csv"):
        run.read_cluster_confidence(3)
    run.clusters.write_text("cluster,size,confidence,rank,split\n0,3,high,1,learnable\n")
    with pytest.raises(SemreadyError, match="corrupt"):
        run.read_cluster_confidence(3)


def test_write_split_and_split_threshold(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_split() is None
    assert run.split_threshold(0.5) == 0.5  # missing file -> default
    summary = {"score": "paper", "policy": "budget", "value": 0.2, "threshold": 0.4375}
    run.write_split(summary)
    assert run.read_split() == summary
    assert json.loads(run.split.read_text()) == summary
    assert run.split_threshold(0.5) == 0.4375
    run.write_split({"threshold": 1})
    assert run.split_threshold(0.5) == 1.0 and isinstance(run.split_threshold(0.5), float)
    run.write_split({"threshold": float("inf")})  # a budget that memorizes every item
    assert run.split_threshold(0.5) == math.inf


@pytest.mark.parametrize("split", [{"threshold": "0.5"}, {"threshold": None}, {"threshold": True}, {"policy": "x"},
                                   {"threshold": [0.5]}])
def test_split_threshold_refuses_a_non_numeric_threshold(tmp_path, split):
    run = RunDir(tmp_path)
    run.write_split(split)
    with pytest.raises(SemreadyError, match="threshold"):
        run.split_threshold(0.5)


def test_read_split_refuses_corrupt_or_non_object(tmp_path):
    run = RunDir(tmp_path)
    run.split.write_text("[0.5]")
    with pytest.raises(SemreadyError, match="JSON object"):
        run.read_split()
    run.split.write_text("{not json")
    with pytest.raises(SemreadyError, match="corrupt"):
        run.split_threshold(0.5)


def _log_row(epoch):
    return {"epoch": epoch, "steps": 3 * epoch, "loss": 1 / 3 + epoch, "l_i": 0.1 + 0.2, "l_d": 0.0,
            "anti_collapse": 1e-17, "marginal_entropy": 0.987654321012345, "empty_clusters": 0, "revived": 1,
            "collapsed": False, "lr": 0.05, "images_per_s": 1234.5, "seconds": 2.25, "processes": 1,
            "cluster_sizes": [10, 0, 22]}


def test_write_log_round_trips_through_read_log(tmp_path):
    run = RunDir(tmp_path)
    rows = [_log_row(1), _log_row(2)]
    run.write_log(rows)
    back = run.read_log()
    assert len(back) == 2
    assert list(back[0]) == list(LOG_COLUMNS)
    for row, got in zip(rows, back, strict=True):
        for c in LOG_COLUMNS:
            if c == "cluster_sizes":
                assert got[c] == " ".join(map(str, row[c]))
                assert [int(s) for s in got[c].split()] == row[c]
            elif isinstance(row[c], float):
                assert float(got[c]) == row[c], c  # full precision, not 6 decimals
            else:
                assert got[c] == str(row[c]), c


def test_write_log_with_no_rows_writes_the_header(tmp_path):
    run = RunDir(tmp_path)
    run.write_log([])
    assert run.read_log() == []
    assert run.log.read_text().strip() == ",".join(LOG_COLUMNS)


def test_read_log_missing_is_an_error(tmp_path):
    with pytest.raises(SemreadyError, match="log.csv"):
        RunDir(tmp_path).read_log()


def test_write_kpis_writes_json_and_one_item_row_per_scheme_and_item(tmp_path):
    run = RunDir(tmp_path)
    tables = {
        "vanilla": {"index": np.array([0, 1, 2]), "path": np.array(["semantic", "semantic", "classical"]),
                    "bits": np.array([10.0, 20.125, 30.5]), "psnr": np.array([35.0, 36.1234, 40.0]),
                    "passed": np.array([True, False, True]), "impact": np.array([0.0, 0.5, 1.0])},
        "semready": {"index": np.array([2, 0]), "path": ["classical", "memorized"],
                     "bits": [8.0, 4.0], "psnr": [50.0, 60.0], "passed": [1, 1], "impact": [0.25, 0.125]},
    }
    kpis = {"schemes": {"vanilla": {"gamma": 12.5}, "semready": {"gamma": 3.0}}, "items": 3}
    run.write_kpis(kpis, tables)
    assert json.loads(run.kpis.read_text()) == kpis
    rows = run.read_kpi_item_rows()
    assert len(rows) == 3 + 2
    assert list(rows[0]) == list(ITEM_KPI_COLUMNS)
    assert [(r["scheme"], int(r["index"])) for r in rows] == [("vanilla", 0), ("vanilla", 1), ("vanilla", 2),
                                                              ("semready", 2), ("semready", 0)]
    assert rows[1] == {"scheme": "vanilla", "index": "1", "path": "semantic", "bits": "20.12", "psnr_db": "36.123",
                       "passed": "0", "impact": "0.5000"}
    assert rows[4] == {"scheme": "semready", "index": "0", "path": "memorized", "bits": "4.00", "psnr_db": "60.000",
                       "passed": "1", "impact": "0.1250"}


def test_write_kpis_with_no_schemes(tmp_path):
    run = RunDir(tmp_path)
    run.write_kpis({}, {})
    assert run.read_kpi_item_rows() == []
    assert json.loads(run.kpis.read_text()) == {}


def test_read_rows_errors_on_missing_and_binary_files(tmp_path):
    path = tmp_path / "table.csv"
    with pytest.raises(SemreadyError, match="no table.csv: fix it"):
        read_rows(path, "fix it")
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00binary")
    with pytest.raises(SemreadyError, match="corrupt: fix it"):
        read_rows(path, "fix it")
    path.write_text("a,b\n1,2\n")
    assert read_rows(path, "fix it") == [{"a": "1", "b": "2"}]


def test_write_table_formats_floats_and_refuses_ragged_columns(tmp_path):
    path = tmp_path / "t.csv"
    write_table(path, ("a", "b", "c"), {"a": [1, 2], "b": [0.5, np.float32(1 / 3)], "c": ["x", "y"], "d": [9]})
    assert path.read_text().splitlines() == ["a,b,c", "1,0.500000,x", "2,0.333333,y"]
    with pytest.raises(ValueError):
        write_table(tmp_path / "u.csv", ("a", "b"), {"a": [1, 2], "b": [1]})


def test_read_config_errors(tmp_path):
    with pytest.raises(SemreadyError, match="does not exist"):
        RunDir(tmp_path / "none").read_config()
    with pytest.raises(SemreadyError, match="no config.yaml"):
        RunDir(tmp_path).read_config()


def test_write_config_read_config_round_trip(tmp_path):
    cfg = build_config("quick", overrides={"model": {"clusters": 5}})
    run = RunDir(tmp_path)
    run.write_config(cfg)
    assert dump_config(run.read_config()) == dump_config(cfg)
    assert run.read_config().model.clusters == 5


# -- prepare ---------------------------------------------------------------------------------------------------


def test_prepare_accepts_a_new_or_empty_folder(tmp_path):
    RunDir(tmp_path / "new").prepare(resume=False)  # need not exist
    assert not (tmp_path / "new").exists()
    RunDir(tmp_path / "a" / "b" / "c").prepare(resume=False)  # nor its parents
    empty = tmp_path / "empty"
    empty.mkdir()
    RunDir(empty).prepare(resume=False)


def test_prepare_refuses_a_file_path(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SemreadyError, match="is a file"):
        RunDir(f).prepare(resume=False)
    with pytest.raises(SemreadyError, match="is a file"):
        RunDir(f).prepare(resume=True)


def test_prepare_refuses_a_non_empty_folder_without_resume(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SemreadyError, match="already holds files"):
        RunDir(tmp_path).prepare(resume=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"  # nothing deleted


def test_prepare_refuses_resume_without_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    run.config.write_text("x: 1\n")
    run.log.write_text("epoch\n")
    with pytest.raises(SemreadyError, match="no checkpoint"):
        run.prepare(resume=True)
    with pytest.raises(SemreadyError, match="no checkpoint"):
        RunDir(tmp_path / "missing").prepare(resume=True)


def test_prepare_resume_with_checkpoint_clears_stale_temps_only(tmp_path):
    run = RunDir(tmp_path)
    run.checkpoint.write_bytes(b"ckpt")
    run.log.write_text("epoch\n")
    stale = tmp_path / ".log.csv.abc123.tmp"
    stale.write_text("half")
    run.prepare(resume=True)
    assert not stale.exists()
    assert run.checkpoint.read_bytes() == b"ckpt" and run.log.is_file()


def test_prepare_ignores_and_clears_stale_temps_of_a_killed_write(tmp_path):
    stale = tmp_path / ".config.yaml.x1.tmp"
    stale.write_text("half")
    RunDir(tmp_path).prepare(resume=False)
    assert not stale.exists()


def test_prepare_restarts_a_run_killed_before_its_first_checkpoint(tmp_path):
    cfg = build_config("quick")
    run = RunDir(tmp_path)
    run.write_config(cfg)
    run.prepare(resume=False, cfg=cfg)  # only the same config.yaml: allowed
    with pytest.raises(SemreadyError, match="already holds files"):
        run.prepare(resume=False)  # without the config to compare: refused
    other = build_config("quick", overrides={"model": {"clusters": 7}})
    with pytest.raises(SemreadyError, match="already holds files"):
        run.prepare(resume=False, cfg=other)  # a different config
    run.log.write_text("epoch\n")
    with pytest.raises(SemreadyError, match="already holds files"):
        run.prepare(resume=False, cfg=cfg)  # more than the config


# -- the reproduction folder -----------------------------------------------------------------------------------------


def test_sweep_dir_names(tmp_path):
    sweep = SweepDir(tmp_path)
    assert sweep.job("high", 3) == tmp_path / "jobs" / "high_s3"
    assert sweep.job("none", 0).name == "none_s0"
    job = sweep.job("low", 12)
    assert SweepDir.job_result(job) == job / "job.json"
    assert SweepDir.job_stream(job) == job / "stream.npz"
    assert SweepDir.job_families(job) == job / "family.npy"
    assert SweepDir.job_run(job).path == job / "run"
    assert (sweep.results, sweep.summary, sweep.report_md, sweep.report) == (
        tmp_path / "results.csv", tmp_path / "summary.json", tmp_path / "report.md", tmp_path / "report.html")


def test_sweep_dir_lists_job_runs_and_figures(tmp_path):
    sweep = SweepDir(tmp_path)
    assert not sweep.is_sweep() and sweep.job_runs() == [] and sweep.figures() == []
    for level, seed in [("low", 1), ("high", 0), ("low", 0)]:
        (sweep.job(level, seed) / "run").mkdir(parents=True)
    sweep.job("mid", 0).mkdir()  # no run folder yet
    assert [p.parent.name for p in sweep.job_runs()] == ["high_s0", "low_s0", "low_s1"]
    for name in ["fig3_b.png", "fig2_z.png", "fig2_a.png", "other.png"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in sweep.figures()] == ["fig2_a.png", "fig2_z.png", "fig3_b.png"]
    assert sweep.is_sweep()
