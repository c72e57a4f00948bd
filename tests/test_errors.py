"""The bad-input catalogue (docs/errors.md): every case goes through the CLI and must answer with exit code 2, one
line that names the problem and the fix, no traceback, and nothing half-written (the folder the case works in is
byte-for-byte unchanged: no output file, no partial run directory, no temporary file)."""

import errno
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semready.cli import main
from semready.rundir import tables as rundir_tables
from tests.conftest import train_tiny

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
RNG = np.random.default_rng(0)


@dataclass
class Case:
    id: str
    args: str  # split on spaces; {tmp}: the case's folder, {run}: a trained run copied there, {tiny}: real npz
    problem: str  # a phrase of the message naming the problem
    fix: str  # a phrase of the message naming the fix
    setup: Callable[[Path], None] | None = None


def npz(name, **arrays):
    return lambda tmp: np.savez(tmp / name, **arrays)


def text(name, content):
    return lambda tmp: (tmp / name).write_text(content)


def raw(name, content: bytes):
    return lambda tmp: (tmp / name).write_bytes(content)


def truncated_npz(tmp):
    np.savez_compressed(tmp / "full.npz", x=RNG.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8))
    data = (tmp / "full.npz").read_bytes()
    (tmp / "full.npz").unlink()
    (tmp / "trunc.npz").write_bytes(data[: len(data) // 2])


def image_folder(tmp, bad: str | None = None, sizes=(16, 16, 16, 16)):
    """folder/a and folder/b with real PNGs; ``bad`` = 'truncated' | 'text' | 'mixed' damages one file."""
    for k, s in enumerate(sizes):
        d = tmp / "folder" / "ab"[k % 2]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 256, (s, s, 3), dtype=np.uint8)).save(d / f"{k}.png")
    target = tmp / "folder" / "b" / "3.png"
    if bad == "truncated":
        target.write_bytes(target.read_bytes()[:60])
    elif bad == "text":
        target.write_text("this is not a picture")


def half_run(tmp):
    """A folder with a run's config.yaml but no checkpoint (a run that never finished an epoch)."""
    (tmp / "half").mkdir()
    shutil.copy(tmp / "run" / "config.yaml", tmp / "half" / "config.yaml")


def existing_csv_and_bad_folder(tmp):
    (tmp / "routed.csv").write_text("index,cluster\nprevious result\n")
    image_folder(tmp, bad="truncated", sizes=(32, 32, 32, 32))


def both(*fns):
    return lambda tmp: [f(tmp) for f in fns]


X = np.zeros((4, 16, 16, 3), np.uint8)
NAN = np.zeros((4, 16, 16, 3), np.float32)
NAN[1, 2, 3, 0] = np.nan
INF = np.full((4, 16, 16, 3), np.inf)
TRAIN = "train --out {tmp}/out --data"

CASES = [
    # missing paths
    Case("missing-npz", f"{TRAIN} npz:{{tmp}}/missing.npz", "does not exist", "check the PATH"),
    Case("missing-folder", f"{TRAIN} folder:{{tmp}}/nope", "does not exist", "point folder:PATH at a directory"),
    Case("missing-list", f"{TRAIN} list:{{tmp}}/nope.txt", "does not exist", "check the PATH"),
    Case("missing-bytes", f"{TRAIN} bytes:{{tmp}}/nope.bin:3072", "does not exist", "check the PATH"),
    Case("missing-config", "train --out {tmp}/out --config {tmp}/nope.yaml", "does not exist", "check the path"),
    Case("missing-run", "evaluate {tmp}/norun --data {tiny}", "does not exist", "train one with"),
    Case("npz-is-a-directory", f"{TRAIN} npz:{{tmp}}", "is a directory", "check the PATH"),
    # corrupt or truncated files
    Case("truncated-npz", f"{TRAIN} npz:{{tmp}}/trunc.npz", "corrupt or truncated", "write it again",
         truncated_npz),
    Case("not-an-npz", f"{TRAIN} npz:{{tmp}}/t.npz", "not an .npz (zip) archive", "write it with np.savez",
         text("t.npz", "hello")),
    Case("npy-not-npz", f"{TRAIN} npz:{{tmp}}/one.npy", "single .npy array", "save it with np.savez",
         lambda tmp: np.save(tmp / "one.npy", X)),
    Case("empty-file", f"{TRAIN} npz:{{tmp}}/e.npz", "it is empty", "write it with np.savez", raw("e.npz", b"")),
    Case("truncated-image", f"{TRAIN} folder:{{tmp}}/folder", "cannot read image", "fix or remove that file",
         lambda tmp: image_folder(tmp, "truncated")),
    Case("not-an-image", f"{TRAIN} folder:{{tmp}}/folder", "cannot read image", "fix or remove that file",
         lambda tmp: image_folder(tmp, "text")),
    Case("mixed-image-sizes", f"{TRAIN} folder:{{tmp}}/folder", "but earlier images are",
         "pass image_size (--image-size)", lambda tmp: image_folder(tmp, sizes=(16, 16, 16, 24))),
    Case("folder-without-images", f"{TRAIN} folder:{{tmp}}/folder", "holds no images (searched recursively",
         "put image files in it", lambda tmp: [(tmp / "folder" / "a").mkdir(parents=True),
                                               (tmp / "folder" / "a" / "notes.txt").write_text("no image")]),
    Case("list-names-missing-files", f"{TRAIN} list:{{tmp}}/l.txt", "names 2 missing file(s) of 3, the first",
         "fix or remove those lines", both(image_folder, text("l.txt", "folder/a/0.png\nx.png\ny.png\n"))),
    Case("empty-file-list", f"{TRAIN} list:{{tmp}}/l.txt", "names no images", "write one image path per line",
         text("l.txt", "# nothing yet\n")),
    Case("no-wds-shard", f"{TRAIN} wds:{{tmp}}/shard-{{{{000..009}}}}.tar", "no webdataset shard matches",
         "check wds:PATTERN"),
    Case("bytes-size-not-multiple", f"{TRAIN} bytes:{{tmp}}/b.bin:3072", "not a multiple of RECORD_SIZE",
         "use a RECORD_SIZE that divides", raw("b.bin", bytes(5000))),
    Case("bytes-bad-record-size", f"{TRAIN} bytes:{{tmp}}/b.bin:abc", "is not a positive integer",
         "use bytes:", raw("b.bin", bytes(3072))),
    # wrong dtype, shape, values
    Case("float-images", f"{TRAIN} npz:{{tmp}}/f.npz", "float32, not uint8", "convert them to uint8 0-255",
         npz("f.npz", x=np.full((4, 16, 16, 3), 0.5, np.float32))),
    Case("int64-images", f"{TRAIN} npz:{{tmp}}/i.npz", "int64, not uint8", "convert them to uint8 0-255",
         npz("i.npz", x=np.zeros((4, 16, 16, 3), np.int64))),
    Case("channels-first", f"{TRAIN} npz:{{tmp}}/c.npz", "with 16 channels", "x.transpose(0, 2, 3, 1)",
         npz("c.npz", x=np.zeros((4, 3, 16, 16), np.uint8))),
    Case("flat-2d-array", f"{TRAIN} npz:{{tmp}}/f.npz", "(2-D)", "store uint8 N×H×W×C",
         npz("f.npz", x=np.zeros((4, 768), np.uint8))),
    Case("nan-images", f"{TRAIN} npz:{{tmp}}/n.npz", "contain NaN or Inf", "clean them", npz("n.npz", x=NAN)),
    Case("inf-images", f"{TRAIN} npz:{{tmp}}/n.npz", "contain NaN or Inf", "clean them", npz("n.npz", x=INF)),
    Case("tiny-images", f"{TRAIN} npz:{{tmp}}/t.npz", "smaller than the 8×8 minimum", "--image-size",
         npz("t.npz", x=np.zeros((4, 4, 4, 3), np.uint8))),
    Case("labels-mismatch", f"{TRAIN} npz:{{tmp}}/l.npz", "'y' has shape (3,)", "one integer label per image",
         npz("l.npz", x=X, y=np.zeros(3, np.int64))),
    Case("pickled-array", f"{TRAIN} npz:{{tmp}}/p.npz", "object (pickled) array", "plain numeric",
         npz("p.npz", x=np.array([{"a": 1}], dtype=object))),
    # how much data
    Case("empty-data", f"{TRAIN} npz:{{tmp}}/e.npz", "no pixels", "save at least one non-empty image",
         npz("e.npz", x=np.zeros((0, 16, 16, 3), np.uint8))),
    Case("single-item", f"{TRAIN} npz:{{tmp}}/one.npz --clusters 2", "holds a single item", "add items",
         npz("one.npz", x=np.zeros((1, 16, 16, 3), np.uint8))),
    Case("fewer-items-than-clusters", f"{TRAIN} npz:{{tmp}}/three.npz", "3 items but 10 clusters",
         "fewer --clusters", npz("three.npz", x=np.zeros((3, 16, 16, 3), np.uint8))),
    Case("missing-array-x", f"{TRAIN} npz:{{tmp}}/y.npz", "has no array 'x'", "save images under key 'x'",
         npz("y.npz", y=np.zeros(3, np.int64))),
    # route: data that does not fit the run
    Case("route-wrong-channels", "route {run} --data npz:{tmp}/two.npz --out {tmp}/r.csv", "with 2 channels",
         "C in 1, 3, 4", npz("two.npz", x=np.zeros((4, 32, 32, 2), np.uint8))),
    Case("evaluate-unlabelled-data", "evaluate {run} --data bytes:{tmp}/b.bin:3072", "has no labels",
         "evaluate needs labelled data", raw("b.bin", bytes(3072 * 4))),
    # configuration
    Case("broken-yaml", "train --out {tmp}/out --config {tmp}/c.yaml", "is not valid YAML at line",
         "fix its syntax", text("c.yaml", "train: [epochs: 2\n")),
    Case("unknown-config-key", "train --out {tmp}/out --config {tmp}/c.yaml", "train.epocs: unknown setting",
         "remove or rename it", text("c.yaml", "train:\n  epocs: 2\n")),
    Case("out-of-range-config", "train --out {tmp}/out --config {tmp}/c.yaml", "train.lr: Input should be "
         "greater than 0", "fix the value", text("c.yaml", "train:\n  lr: -1\n")),
    Case("wrong-type-config", "train --out {tmp}/out --config {tmp}/c.yaml", "train.epochs: Input should be a "
         "valid integer", "fix the value", text("c.yaml", "train:\n  epochs: many\n")),
    Case("config-not-a-mapping", "train --out {tmp}/out --config {tmp}/c.yaml",
         "is a YAML list but must be a YAML mapping", "write it as sections", text("c.yaml", "- train\n- data\n")),
    Case("binary-config", "train --out {tmp}/out --config {tmp}/c.yaml", "is not text",
         "save it as UTF-8 YAML text", raw("c.yaml", b"\xff\xfe\x00\x81binary")),
    Case("inconsistent-config", "train --out {tmp}/out --config {tmp}/c.yaml", "bank.size (64) must be at least "
         "train.batch_size (256)", "fix the value", text("c.yaml", "bank:\n  size: 64\n")),
    Case("unknown-preset", "train --out {tmp}/out --preset fast", "unknown preset 'fast'", "choose one of"),
    Case("bad-option-value", "train --out {tmp}/out --epochs 0", "Invalid value for '--epochs'",
         "see `semready train --help`"),
    Case("unknown-command", "frobnicate", "No such command 'frobnicate'", "see `semready --help`"),
    # outputs
    Case("out-is-a-file", "train --out {tmp}/afile", "is a file", "choose a directory path",
         text("afile", "keep me")),
    Case("out-holds-files", "train --out {tmp}/full", "already holds files", "choose a new directory",
         lambda tmp: (tmp / "full").mkdir() or (tmp / "full" / "mine.txt").write_text("keep me")),
    Case("route-out-is-a-directory", "route {run} --data {tiny} --out {tmp}/adir", "is a directory",
         "give a .csv file path", lambda tmp: (tmp / "adir").mkdir()),
    Case("route-out-folder-missing", "route {run} --data {tiny} --out {tmp}/no/such/r.csv", "does not exist",
         "create the folder"),
    Case("route-fails-mid-stream", "route {run} --data folder:{tmp}/folder --out {tmp}/routed.csv --batch-size 1",
         "cannot read image", "fix or remove that file", existing_csv_and_bad_folder),
    # data specs
    Case("unknown-data-spec", f"{TRAIN} imagenet:/x", "unknown data spec 'imagenet:/x'", "use one of"),
    Case("bare-path-missing", f"{TRAIN} {{tmp}}/d.npz", "no file or folder of that name exists",
         "check the path, or use one of"),
    Case("bare-path-other-file", f"{TRAIN} {{tmp}}/d.bin", "only .npz files and .txt file lists are read without",
         "name its format", raw("d.bin", bytes(3072))),
    Case("hf-not-installed", f"{TRAIN} hf:cifar10", "'datasets' package, which is not installed",
         "pip install 'semready[hf]'"),
    Case("spec-without-path", f"{TRAIN} npz:", "has no path", "use npz:PATH"),
    # runs
    Case("run-without-checkpoint", "evaluate {tmp}/half --data {tiny}", "holds no trained teacher",
         "run `semready train", half_run),
    Case("not-a-run", "route {tmp} --data {tiny} --out {tmp}/r.csv", "has no config.yaml",
         "pass a folder made by `semready train --out`"),
    Case("split-without-samples", "split {tmp}/half", "has no samples.csv", "train it first", half_run),
    Case("unknown-split-policy", "split {run} --policy vibes", "unknown split policy 'vibes'", "choose one of"),
    Case("split-value-out-of-range", "split {run} --policy budget --value 1.5", "not a memorizable fraction",
         "strictly between 0 and 1"),
    Case("split-budget-zero", "split {run} --policy cluster-budget --value 0", "not a memorizable fraction",
         "strictly between 0 and 1"),
    Case("split-value-nan", "split {run} --policy confidence --value nan", "out of range", "use a number in [0, 1]"),
    Case("split-floor-nothing-meets", "split {run} --policy confidence --value 1", "no item reaches the "
         "learnability floor 1", "lower --value"),
    Case("split-cluster-floor-nothing-meets", "split {run} --policy cluster-floor --value 1", "no cluster reaches "
         "the confidence floor 1", "lower --value"),
    Case("unknown-score", "split {run} --score magic", "unknown learnability score 'magic'", "choose one of"),
    Case("resume-without-checkpoint", "train --out {tmp}/empty --resume", "holds no checkpoint to resume from",
         "drop --resume", lambda tmp: (tmp / "empty").mkdir()),
    Case("resume-missing-dir", "train --out {tmp}/nothing --resume", "holds no checkpoint to resume from",
         "drop --resume"),
    Case("corrupt-samples-csv", "split {run}", "samples.csv is corrupt", "retrain the run",
         text("run/samples.csv", "index,cluster\n0,zero\n")),
    Case("data-changed", "split {run}", "changed since the run was trained", "restore the data",
         lambda tmp: (tmp / "run" / "config.yaml").write_text(re.sub(
             r"sha256: \w+", "sha256: " + "f" * 64, (tmp / "run" / "config.yaml").read_text()))),
    Case("export-target-exists", "export {run} --split learnable --to npz --out {tmp}/taken.npz", "already exists",
         "choose a new path", text("taken.npz", "keep me")),
    Case("export-without-split", "export {run} --out {tmp}/x", "export needs --split", "pass one"),
    Case("unknown-export-target", "export {run} --split learnable --to zip --out {tmp}/x",
         "unknown export target 'zip'", "choose one of"),
    Case("set-typo", "train --out {tmp}/out --set train.lrr=0.1", "unknown setting train.lrr", "train has"),
    Case("set-bad-value", "train --out {tmp}/out --set train.lr=-1", "--set train.lr=-1: Input should be greater",
         "fix the value"),
    Case("device-gpu", "train --out {tmp}/out --device gpu", "device 'gpu' is not known", "use cuda"),
    Case("rd-one-target", "rd {run} --targets 30", "needs at least 2 distinct PSNR targets", "--targets 26,30"),
    Case("rd-unknown-codec", "rd {run} --codec gif", "unknown classical codec 'gif'", "choose one of"),
    Case("unknown-language", "simulate {run} --language neural", "unknown language 'neural'", "choose one of"),
    Case("snr-sweep-one-point", "simulate {run} --channel awgn --snr-sweep 10", "at least two different SNRs",
         "give e.g."),
    Case("snr-out-of-range", "simulate {run} --channel awgn --snr-db 90", "snr_db", "fix the value"),
    Case("unknown-modulation", "simulate {run} --modulation 64qam", "unknown modulation '64qam'", "choose one of"),
    Case("stream-an-array", "train --out {tmp}/out --data {tiny} --set data.stream=true",
         "data.stream needs a source of image files", "set data.stream to false"),
    Case("corrupt-split-json", "route {run} --data {tiny} --out {tmp}/r.csv", "split.json is corrupt",
         "re-split the run", text("run/split.json", "{threshold: ")),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_npz):
    return train_tiny(tmp_path_factory.mktemp("errors") / "run", tiny_npz)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root, with a hash of each file's bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return info.value.code, capsys.readouterr().err


def assert_one_line(code: int, err: str, problem: str, fix: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert problem in err, f"problem {problem!r} not named: {err}"
    assert fix in err, f"fix {fix!r} not named: {err}"
    assert err.index(problem) < err.rindex(fix), err  # the problem, then the fix


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, capsys, trained, tiny_npz, monkeypatch):
    if case.id == "hf-not-installed":
        monkeypatch.setitem(sys.modules, "datasets", None)  # not installed, whatever this machine has
    if "{run}" in case.args or "half" in case.args or case.args.startswith("split"):
        shutil.copytree(trained, tmp_path / "run")
    if case.setup:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    args = case.args.format(tmp=tmp_path, run=tmp_path / "run", tiny=f"npz:{tiny_npz}").split(" ")
    code, err = run_cli(args, capsys)
    assert_one_line(code, err, case.problem, case.fix)
    assert snapshot(tmp_path) == before  # nothing written, nothing half-written, no temporary file left


def test_every_case_is_in_the_catalogue():
    doc = DOC.read_text()
    listed = set(re.findall(r"`test_bad_input\[([\w-]+)\]`", doc))
    ids = {c.id for c in CASES}
    assert ids - listed == set(), f"cases missing from docs/errors.md: {sorted(ids - listed)}"
    assert listed - ids == set(), f"docs/errors.md lists cases that do not exist: {sorted(listed - ids)}"
    for name in ("test_read_only_output_dir", "test_no_permission_to_write", "test_interrupted_write_keeps_the_"
                 "original", "test_disk_full_while_writing_a_checkpoint"):
        assert f"`{name}`" in doc, name


def test_read_only_output_dir(tmp_path, capsys, tiny_npz):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("this user (root) may write into a read-only folder; see test_no_permission_to_write")
        before = snapshot(tmp_path)
        code, err = run_cli(["train", "--out", str(ro / "run"), "--data", f"npz:{tiny_npz}"], capsys)
        assert_one_line(code, err, "is not a writable folder", "choose a location you can write to")
        code, err = run_cli(["evaluate", str(ro), "--data", f"npz:{tiny_npz}"], capsys)
        assert code == 2 and "Traceback" not in err
        assert snapshot(tmp_path) == before
    finally:
        ro.chmod(0o755)


def test_no_permission_to_write(tmp_path, capsys, trained, tiny_npz, monkeypatch):
    """The OS refuses the write (as for a read-only folder, simulated so that it also runs as root)."""
    run = shutil.copytree(trained, tmp_path / "run")
    before = snapshot(tmp_path)

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    code, err = run_cli(["route", str(run), "--data", f"npz:{tiny_npz}", "--out", str(tmp_path / "r.csv")], capsys)
    assert_one_line(code, err, "is not writable", "fix its permissions or choose another output path")
    monkeypatch.setattr("os.mkdir", refuse)
    code, err = run_cli(["train", "--out", str(tmp_path / "new" / "run"), "--data", f"npz:{tiny_npz}",
                         "--clusters", "3", "--epochs", "1"], capsys)
    assert_one_line(code, err, "Permission denied", "check the path, its permissions and free disk space")
    assert snapshot(tmp_path) == before


def test_interrupted_write_keeps_the_original(tmp_path, capsys, trained, monkeypatch):
    """`split` dies (disk full) half-way through rewriting samples.csv: the run's files are as they were."""
    run = shutil.copytree(trained, tmp_path / "run")
    before = snapshot(tmp_path)
    real_writer = rundir_tables.csv.writer

    class DiesAfterTenRows:
        def __init__(self, fh):
            self.inner, self.rows = real_writer(fh), 0

        def writerow(self, row):
            self.rows += 1
            if self.rows > 10:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.inner.writerow(row)

    monkeypatch.setattr(rundir_tables.csv, "writer", DiesAfterTenRows)
    code, err = run_cli(["split", str(run), "--policy", "budget", "--value", "0.3"], capsys)
    assert_one_line(code, err, "No space left on device", "free disk space")
    assert snapshot(tmp_path) == before  # samples.csv intact, no .samples.csv.*.tmp left


def test_disk_full_while_writing_a_checkpoint(tmp_path, capsys, tiny_npz, monkeypatch):
    """The checkpoint write fails half-way at the end of epoch 2: epoch 1's checkpoint survives and resumes."""
    import safetensors.torch

    from semready.teacher import checkpoint

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                   "train: {epochs: 2, batch_size: 32, warmup_epochs: 1, threads: 1}\nrank: {score: paper}\n")
    real_save = safetensors.torch.save_file
    calls = []

    def dies_on_second(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", dies_on_second)
    run = tmp_path / "run"
    code, err = run_cli(["train", "--out", str(run), "--data", f"npz:{tiny_npz}", "--config", str(cfg),
                         "--quiet"], capsys)
    assert_one_line(code, err, "No space left on device", "free disk space")
    assert not list(run.glob(".*.tmp"))
    monkeypatch.setattr(checkpoint, "save_file", real_save)
    from semready.config import load_config_file
    from semready.teacher.checkpoint import load_checkpoint
    from semready.teacher.model import Teacher

    assert load_checkpoint(run, Teacher.from_config(load_config_file(run / "config.yaml")))["epoch"] == 1
    try:
        main(["train", "--out", str(run), "--resume", "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert (run / "samples.csv").is_file()
