"""Item identity (id, path), the data's identity in config.yaml, kept splits, and `semready export`."""

import hashlib
import os
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

from semready import api
from semready.cli import main
from semready.data import iter_batches, load_data
from semready.errors import SemreadyError
from semready.rundir import RunDir
from tests.conftest import train_tiny


@pytest.fixture(scope="module")
def data_and_run(tmp_path_factory, tiny_npz):
    """A run trained on its own copy of the tiny npz (so tests may change the data), split budget 0.25."""
    root = tmp_path_factory.mktemp("export")
    npz = root / "data.npz"
    shutil.copy(tiny_npz, npz)
    run = train_tiny(root / "run", npz)
    api.split(run, "budget", 0.25)
    return npz, run


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    return info.value.code, capsys.readouterr()


def ok(args, capsys):
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return capsys.readouterr()


def one_line_error(code, err, phrase):
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and phrase in err, err


def test_samples_and_config_carry_the_items_and_the_data_identity(data_and_run):
    npz, run = data_and_run
    rows = RunDir(run).read_sample_rows()
    assert list(rows[0])[:3] == ["index", "id", "path"]
    assert [r["id"] for r in rows] == [str(i) for i in range(120)]
    assert rows[7]["path"] == f"npz:{npz.resolve()}#7"
    data = yaml.safe_load(RunDir(run).config.read_text())["data"]
    assert data["spec"] == f"npz:{npz.resolve()}"
    assert data["size_bytes"] == npz.stat().st_size
    assert data["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()


def test_ids_of_bytes_and_folder_sources(tmp_path):
    (tmp_path / "s.bin").write_bytes(bytes(range(192)) * 3)  # three 8×8 RGB records
    spec = f"bytes:{tmp_path}/s.bin:192"
    d = load_data(spec)
    assert d.ids == ["0", "192", "384"]
    assert d.paths[2] == f"bytes:{tmp_path}/s.bin:192#384"
    batches = iter_batches(spec, 2, with_ids=True)
    assert batches.n == 3
    assert [b[2] for b in batches] == [["0", "192"], ["384"]]
    for k, cls in enumerate("ab"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), k, np.uint8)).save(tmp_path / "f" / cls / f"{k}.png")
    d = load_data(f"folder:{tmp_path}/f")
    assert d.ids == ["a/0.png", "b/1.png"]
    assert d.paths == [str(tmp_path / "f" / "a" / "0.png"), str(tmp_path / "f" / "b" / "1.png")]
    assert load_data("sample").paths[3] == "sample#3"


def test_route_writes_id_and_path(data_and_run, tmp_path, capsys):
    npz, run = data_and_run
    ok(["route", run, "--data", f"npz:{npz}", "--out", tmp_path / "r.csv", "--batch-size", 50], capsys)
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "index,id,path,cluster,confidence,learnability,split" and len(lines) == 121
    assert lines[119].split(",")[:3] == ["118", "118", f"npz:{npz.resolve()}#118"]


def test_export_npz_folder_and_list_hold_exactly_the_split(data_and_run, tmp_path, capsys):
    npz, run = data_and_run
    rows = RunDir(run).read_sample_rows()
    mem = [int(r["index"]) for r in rows if r["split"] == "memorizable"]
    learn = [int(r["index"]) for r in rows if r["split"] == "learnable"]
    assert len(mem) == 30 and len(learn) == 90  # budget 0.25 of 120
    x = np.load(npz)["x"]
    ok(["export", run, "--split", "memorizable", "--to", "npz", "--out", tmp_path / "m.npz"], capsys)
    with np.load(tmp_path / "m.npz") as z:
        assert z["id"].tolist() == [str(i) for i in mem] and z["index"].tolist() == mem
        np.testing.assert_array_equal(z["x"], x[mem])
        np.testing.assert_array_equal(z["y"], np.load(npz)["y"][mem])
    assert load_data(f"npz:{tmp_path}/m.npz").images.shape == (30, 3, 32, 32)  # an export is a data source
    ok(["export", run, "--split", "memorizable", "--out", tmp_path / "m"], capsys)
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == sorted(f"{i}.png" for i in mem)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "m" / f"{mem[4]}.png")), x[mem[4]])
    ok(["export", run, "--split", "learnable", "--to", "list", "--out", tmp_path / "l.txt"], capsys)
    assert (tmp_path / "l.txt").read_text().splitlines() == [f"{i}\tnpz:{npz.resolve()}#{i}" for i in learn]


def test_export_embeddings(data_and_run, tmp_path, capsys):
    _, run = data_and_run
    ok(["export", run, "--embeddings", "--out", tmp_path / "z.npy"], capsys)
    ok(["export", run, "--embeddings", "--split", "memorizable", "--out", tmp_path / "zm.npy"], capsys)
    z, zm = np.load(tmp_path / "z.npy"), np.load(tmp_path / "zm.npy")
    assert z.shape == (120, 16) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    mem = RunDir(run).read_samples()["learnable"] == 0
    np.testing.assert_allclose(zm, z[mem], atol=1e-5)  # the same items, in order, whatever the batching
    assert len(np.unique(z.round(4), axis=0)) > 1  # not one constant vector


@pytest.mark.parametrize("target", ["file", "folder"])
def test_export_target_that_exists_is_refused_and_untouched(data_and_run, tmp_path, capsys, target):
    _, run = data_and_run
    out = tmp_path / "out"
    out.mkdir() if target == "folder" else out.write_text("mine")
    before = sorted(os.listdir(tmp_path))
    code, cap = run_cli(["export", run, "--split", "learnable", "--to", "npz", "--out", out], capsys)
    one_line_error(code, cap.err, "already exists")
    assert sorted(os.listdir(tmp_path)) == before and (target == "folder" or out.read_text() == "mine")


def test_export_failing_half_way_leaves_nothing(data_and_run, tmp_path, capsys, monkeypatch):
    _, run = data_and_run
    calls = []

    def dies(self, fp, *a, **k):
        calls.append(fp)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        Image.Image.__dict__["_real_save"](self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "_real_save", Image.Image.save, raising=False)
    monkeypatch.setattr(Image.Image, "save", dies)
    code, cap = run_cli(["export", run, "--split", "learnable", "--out", tmp_path / "m"], capsys)
    assert code == 2 and "No space left" in cap.err
    assert os.listdir(tmp_path) == []


def test_export_of_an_empty_split_is_refused(data_and_run, tmp_path, capsys):
    _, run = data_and_run
    copy = shutil.copytree(run, tmp_path / "run")
    api.split(copy, "confidence", 0.0)  # everything learnable
    code, cap = run_cli(["export", copy, "--split", "memorizable", "--out", tmp_path / "m"], capsys)
    one_line_error(code, cap.err, "memorizable split")
    assert "--policy budget" in cap.err and not (tmp_path / "m").exists()


def test_resplit_keeps_each_previous_split(data_and_run, tmp_path):
    _, run = data_and_run
    copy = RunDir(shutil.copytree(run, tmp_path / "run"))
    first = copy.samples.read_bytes()
    r = api.split(copy.path, "budget", 0.5)
    assert r["archived"] == str(copy.splits / "2")  # the fixture's split already kept the training's in 1
    assert (copy.splits / "2" / "samples.csv").read_bytes() == first
    assert copy.samples.read_bytes() != first
    api.split(copy.path, "budget", 0.1)
    assert sorted(p.name for p in copy.splits.iterdir()) == ["1", "2", "3"]
    assert (copy.splits / "1" / "split.json").is_file()


def test_split_works_from_another_directory_and_refuses_changed_data(tmp_path, tiny_npz, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(tiny_npz, work / "d.npz")
    monkeypatch.chdir(work)
    from tests.conftest import tiny_overrides
    over = tiny_overrides("d.npz", epochs=1)  # a relative path
    over["rank"] = {"score": "paper"}
    api.train("run", api.build_config("quick", overrides=over), progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ok(["split", work / "run", "--policy", "budget", "--value", "0.5"], capsys)
    with np.load(work / "d.npz") as z:
        arrays = dict(z)
    arrays["x"][0, 0, 0, 0] ^= 1  # one bit of one pixel
    np.savez(work / "d.npz", **arrays)
    before = sorted(p.name for p in (work / "run").rglob("*"))
    code, cap = run_cli(["split", work / "run"], capsys)
    one_line_error(code, cap.err, "changed since the run was trained")
    assert "retrain the run" in cap.err and sorted(p.name for p in (work / "run").rglob("*")) == before
    code, cap = run_cli(["evaluate", work / "run"], capsys)
    one_line_error(code, cap.err, "changed since the run was trained")
    (work / "d.npz").unlink()
    with pytest.raises(SemreadyError, match="is gone"):
        api.export_split(work / "run", "learnable", tmp_path / "x.npz", to="npz")
