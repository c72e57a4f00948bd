"""Safe loading: a crafted pickle put in place of any file semready reads is refused with one clear line (exit 2)
and never executed. The pickle's payload would create a marker file; the marker must never appear."""

import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from semready import api
from semready.cli import main
from semready.errors import SemreadyError
from semready.rundir import RunDir
from semready.teacher.checkpoint import read_tensors
from tests.conftest import train_tiny


class Payload:
    """Unpickling this runs code that writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_npz):
    return train_tiny(tmp_path_factory.mktemp("pickle") / "run", tiny_npz, score="regen")  # route reads regen


@pytest.fixture
def run(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def refused(args, capsys, match, marker):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert match in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists(), "the pickle was executed"


def pickled(marker) -> bytes:
    return pickle.dumps({"teacher.w": Payload(marker)})


def torch_saved(marker, path) -> bytes:
    torch.save({"teacher.w": Payload(marker)}, path)  # torch's zip format: a pickle inside
    return path.read_bytes()


@pytest.mark.parametrize("make", [pickled, torch_saved], ids=["raw-pickle", "torch-save"])
def test_pickle_in_place_of_the_checkpoint(run, tmp_path, capsys, tiny_npz, make):
    marker = tmp_path / "MARKER"
    ckpt = run / "checkpoint.safetensors"
    data = make(marker) if make is pickled else make(marker, tmp_path / "evil.pt")
    ckpt.write_bytes(data)
    msg = "not a valid safetensors checkpoint"
    refused(["evaluate", run, "--data", f"npz:{tiny_npz}"], capsys, msg, marker)
    refused(["route", run, "--data", f"npz:{tiny_npz}", "--out", tmp_path / "r.csv"], capsys, msg, marker)
    assert not (tmp_path / "r.csv").exists()
    log = (run / "log.csv").read_text()
    refused(["train", "--out", run, "--resume", "--quiet"], capsys, msg, marker)
    assert ckpt.read_bytes() == data and (run / "log.csv").read_text() == log  # nothing overwritten


def test_pickle_in_place_of_the_state(run, tmp_path, capsys, tiny_npz):
    marker = tmp_path / "MARKER"
    (run / "state.json").write_bytes(pickled(marker))
    # state.json is only a readable copy: the checkpoint carries its own state, and the run still loads ...
    api.evaluate(run, f"npz:{tiny_npz}", kmeans=False)
    assert not marker.exists()
    # ... while a checkpoint without that header (an older run) falls back to state.json, refused as not JSON.
    ckpt = run / "checkpoint.safetensors"
    save_file(load_file(str(ckpt)), str(ckpt))
    refused(["evaluate", run, "--data", f"npz:{tiny_npz}"], capsys, "is corrupt (not JSON)", marker)


@pytest.mark.parametrize("name, match", [
    ("regen.safetensors", "not a valid safetensors checkpoint"),
    ("split.json", "is corrupt (not JSON)"),
    ("clusters.csv", "is corrupt"),
])
def test_pickle_in_place_of_route_inputs(run, tmp_path, capsys, tiny_npz, name, match):
    marker = tmp_path / "MARKER"
    if name == "clusters.csv":  # read for C_l by the paper score only, of a split.json without its exact copy
        files = RunDir(run)
        split = {k: v for k, v in files.read_split().items() if k != "cluster_confidence"}
        files.write_split({**split, "score": "paper"})
    (run / name).write_bytes(pickled(marker))
    refused(["route", run, "--data", f"npz:{tiny_npz}", "--out", tmp_path / "r.csv"], capsys, match, marker)
    assert not (tmp_path / "r.csv").exists()


def test_yaml_python_tags_are_not_constructed(run, tmp_path, capsys, tiny_npz):
    marker = tmp_path / "MARKER"
    evil = f"!!python/object/apply:os.system ['touch {marker}']\n"
    (tmp_path / "evil.yaml").write_text(evil)
    refused(["train", "--out", tmp_path / "new", "--data", f"npz:{tiny_npz}", "--config", tmp_path / "evil.yaml"],
            capsys, "not valid YAML", marker)
    assert not (tmp_path / "new").exists()
    (run / "config.yaml").write_text(f"train: {evil}")
    refused(["evaluate", run, "--data", f"npz:{tiny_npz}"], capsys, "not valid YAML", marker)


def test_pickled_data_is_refused(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    np.savez(tmp_path / "obj.npz", x=np.array([Payload(marker)], dtype=object))  # x.npy holds a pickle
    refused(["train", "--out", tmp_path / "r", "--data", f"npz:{tmp_path}/obj.npz"], capsys, "pickled", marker)
    (tmp_path / "raw.npz").write_bytes(pickled(marker))
    refused(["train", "--out", tmp_path / "r", "--data", f"npz:{tmp_path}/raw.npz"], capsys, "not an .npz", marker)
    # torchvision's CIFAR reader unpickles its batches, but only after their official md5 sums match
    base = tmp_path / "c" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (base / name).write_bytes(pickled(marker))
    refused(["train", "--out", tmp_path / "r", "--data", f"cifar10:{tmp_path}/c"], capsys, "not found or corrupt",
            marker)
    assert not (tmp_path / "r").exists()


def test_read_tensors_never_unpickles(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "x.safetensors"
    for blob in (pickled(marker), torch_saved(marker, tmp_path / "t.pt"), b"", b"\x00" * 7):
        path.write_bytes(blob)
        with pytest.raises(SemreadyError, match="not a valid safetensors"):
            read_tensors(path)
    assert not marker.exists()


def test_the_payload_is_live(tmp_path):
    """Control: the payload does run when unpickled, so the marker checks above can fail."""
    marker = tmp_path / "MARKER"
    pickle.loads(pickled(marker))
    assert marker.read_text() == "pwned"
