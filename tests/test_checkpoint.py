"""Checkpoints on a tiny teacher, without a training run: the round trip is bitwise (teacher and SGD momentum
buffers), the header state wins over state.json, and every broken file is refused with a SemreadyError."""

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from semready.config import build_config
from semready.errors import SemreadyError
from semready.teacher.checkpoint import FORMAT_VERSION, STATE_KEY, load_checkpoint, read_state, save_checkpoint
from semready.teacher.model import Teacher

TINY = {"model": {"width": 4, "embed_dim": 8, "clusters": 3}, "bank": {"size": 64, "min_negatives": 8},
        "train": {"batch_size": 16, "device": "cpu"}}

STATE = {"epoch": 3, "step": 17, "seconds": 1.25, "finished": False, "image_shape": [3, 32, 32], "items": 120,
         "log": [{"epoch": 1, "loss": 4.5, "collapsed": False, "cluster_sizes": [5, 6, 7]},
                 {"epoch": 2, "loss": 4.25, "collapsed": True, "cluster_sizes": [0, 9, 9]}]}


def tiny_cfg(**model):
    over = json.loads(json.dumps(TINY))
    over["model"].update(model)
    return build_config("quick", overrides=over)


def fresh(seed, **model):
    """A tiny teacher and its SGD optimizer (with momentum), as the Trainer builds them."""
    torch.manual_seed(seed)
    teacher = Teacher.from_config(tiny_cfg(**model))
    params = list(teacher.encoder.parameters()) + list(teacher.cluster_head.parameters())
    return teacher, torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


def views(seed, n=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randn(n, 3, 32, 32, generator=g)


def sgd_step(teacher, opt, seed, clusters_active):
    out = teacher(*views(seed), clusters_active=clusters_active)
    opt.zero_grad(set_to_none=True)
    out.losses["loss"].backward()
    opt.step()


@pytest.fixture
def trained():
    """A teacher after two real SGD steps (warm-up, then clusters on): every parameter has a momentum buffer."""
    teacher, opt = fresh(0)
    sgd_step(teacher, opt, 1, clusters_active=False)
    sgd_step(teacher, opt, 2, clusters_active=True)
    return teacher, opt


def buffers(opt):
    return {i: s["momentum_buffer"] for i, s in opt.state_dict()["state"].items()}


def test_round_trip_restores_every_tensor_and_momentum_buffer_bitwise(tmp_path, trained):
    teacher, opt = trained
    saved = buffers(opt)
    n_params = len(opt.param_groups[0]["params"])
    assert sorted(saved) == list(range(n_params))  # both steps ran: every parameter has a buffer
    assert all(b.abs().sum() > 0 for b in saved.values())
    save_checkpoint(tmp_path, teacher, opt, STATE)

    other, other_opt = fresh(123)
    assert buffers(other_opt) == {}
    want = teacher.state_dict()
    differs = [k for k, v in other.state_dict().items() if not torch.equal(v, want[k])]
    assert "bank.keys" in differs and "cluster_head.prototypes" in differs  # the load has something to do

    load_checkpoint(tmp_path, other, other_opt)
    got = other.state_dict()
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert torch.equal(got[k], want[k]), k
    restored = buffers(other_opt)
    assert sorted(restored) == sorted(saved)
    for i in saved:  # buffer i belongs to parameter i: an index shift puts a buffer on the wrong parameter
        assert torch.equal(restored[i], saved[i]), i
        assert restored[i].shape == other_opt.param_groups[0]["params"][i].shape
    assert other_opt.param_groups[0]["momentum"] == 0.9  # hyperparameters are the optimizer's own


def test_restored_run_takes_the_same_next_step(tmp_path, trained):
    """The consequence of restoring momentum: the next SGD step is the one the original would have taken."""
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    other, other_opt = fresh(123)
    load_checkpoint(tmp_path, other, other_opt)
    sgd_step(teacher, opt, 3, clusters_active=True)
    sgd_step(other, other_opt, 3, clusters_active=True)
    want, got = teacher.state_dict(), other.state_dict()
    for k in want:
        assert torch.equal(got[k], want[k]), k


def test_load_without_optimizer_leaves_the_optimizer_alone(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    other, other_opt = fresh(123)
    load_checkpoint(tmp_path, other)
    assert buffers(other_opt) == {}
    assert torch.equal(other.bank.keys, teacher.bank.keys)


def test_save_without_optimizer_writes_no_buffers(tmp_path, trained):
    teacher, _ = trained
    save_checkpoint(tmp_path, teacher, None, STATE)
    names = load_file(str(tmp_path / "checkpoint.safetensors"))
    assert names and all(k.startswith("teacher.") for k in names)
    assert len(names) == len(teacher.state_dict())


def test_returned_state_is_the_state_saved_plus_format_version(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    expected = {"format_version": FORMAT_VERSION, **STATE}
    assert load_checkpoint(tmp_path, fresh(1)[0]) == expected
    assert read_state(tmp_path) == expected
    assert json.loads((tmp_path / "state.json").read_text()) == expected
    assert FORMAT_VERSION == 1


def test_header_state_wins_over_a_stale_state_json(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    stale = {"format_version": FORMAT_VERSION, **STATE, "epoch": 2, "step": 11, "log": STATE["log"][:1]}
    (tmp_path / "state.json").write_text(json.dumps(stale))
    assert read_state(tmp_path) == stale  # the file really holds the stale state ...
    state = load_checkpoint(tmp_path, fresh(1)[0])
    assert state["epoch"] == 3 and state["step"] == 17 and len(state["log"]) == 2  # ... the checkpoint wins


def strip_header(run_dir):
    path = run_dir / "checkpoint.safetensors"
    save_file(load_file(str(path)), str(path))  # same tensors, no metadata


def test_checkpoint_without_header_falls_back_to_state_json(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    strip_header(tmp_path)
    json_state = {"format_version": FORMAT_VERSION, **STATE, "epoch": 9, "step": 99}
    (tmp_path / "state.json").write_text(json.dumps(json_state))
    other, other_opt = fresh(123)
    assert load_checkpoint(tmp_path, other, other_opt) == json_state
    assert torch.equal(other.bank.keys, teacher.bank.keys)  # the tensors still load
    assert sorted(buffers(other_opt)) == sorted(buffers(opt))


def test_checkpoint_without_header_and_without_state_json_is_refused(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    strip_header(tmp_path)
    (tmp_path / "state.json").unlink()
    with pytest.raises(SemreadyError, match="state.json missing"):
        load_checkpoint(tmp_path, fresh(1)[0])


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_wrong_format_version_in_the_header_is_refused(tmp_path, trained, version):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    path = tmp_path / "checkpoint.safetensors"
    header = {STATE_KEY: json.dumps({**STATE, "format_version": version})}
    save_file(load_file(str(path)), str(path), metadata=header)  # as another version would have written it
    with pytest.raises(SemreadyError, match="unsupported format"):
        load_checkpoint(tmp_path, fresh(1)[0])


def test_header_without_format_version_is_refused(tmp_path, trained):
    teacher, _ = trained
    path = tmp_path / "checkpoint.safetensors"
    tensors = {f"teacher.{k}": v.contiguous() for k, v in teacher.state_dict().items()}
    save_file(tensors, str(path), metadata={STATE_KEY: json.dumps(STATE)})
    with pytest.raises(SemreadyError, match="unsupported format"):
        load_checkpoint(tmp_path, fresh(1)[0])
    save_file(tensors, str(path), metadata={STATE_KEY: "{not json"})
    with pytest.raises(SemreadyError, match="corrupt state header"):
        load_checkpoint(tmp_path, fresh(1)[0])


def test_wrong_format_version_in_state_json_is_refused(tmp_path, trained):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    strip_header(tmp_path)
    (tmp_path / "state.json").write_text(json.dumps({**STATE, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(SemreadyError, match="unsupported format"):
        load_checkpoint(tmp_path, fresh(1)[0])
    with pytest.raises(SemreadyError, match="unsupported format"):
        read_state(tmp_path)
    (tmp_path / "state.json").write_text(json.dumps([1, 2]))  # JSON, but not a state
    with pytest.raises(SemreadyError, match="unsupported format"):
        read_state(tmp_path)


def load_header(run_dir):
    from safetensors import safe_open

    with safe_open(str(run_dir / "checkpoint.safetensors"), framework="pt") as f:
        return f.metadata()


@pytest.mark.parametrize("model", [{"clusters": 4}, {"embed_dim": 16}, {"width": 8}])
def test_config_of_another_model_shape_is_refused_naming_the_config(tmp_path, trained, model):
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    other, other_opt = fresh(1, **model)
    with pytest.raises(SemreadyError, match=r"config\.yaml \(different model shape\)"):
        load_checkpoint(tmp_path, other, other_opt)
    assert buffers(other_opt) == {}


def test_checkpoint_missing_a_tensor_is_refused(tmp_path, trained):
    """strict loading: a checkpoint lacking the bank (e.g. of another version) is not silently half-loaded."""
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    path = tmp_path / "checkpoint.safetensors"
    tensors = load_file(str(path))
    del tensors["teacher.bank.keys"]
    save_file(tensors, str(path), metadata=load_header(tmp_path))
    with pytest.raises(SemreadyError, match="different model shape"):
        load_checkpoint(tmp_path, fresh(1)[0])


class Payload:
    """Unpickling this writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",))


@pytest.mark.parametrize("kind", ["truncated", "half-header", "pickle", "torch-save", "empty", "text"])
def test_broken_or_foreign_checkpoint_is_refused_and_never_unpickled(tmp_path, trained, kind):
    teacher, opt = trained
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run, teacher, opt, STATE)
    path = run / "checkpoint.safetensors"
    good = path.read_bytes()
    marker = tmp_path / "MARKER"
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "half-header":
        path.write_bytes(good[:20])
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"teacher.bank.keys": Payload(marker)}))
    elif kind == "torch-save":
        torch.save({"teacher.bank.keys": Payload(marker)}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("checkpoint")
    other, other_opt = fresh(123)
    keys = other.bank.keys.clone()
    with pytest.raises(SemreadyError, match="not a valid safetensors checkpoint"):
        load_checkpoint(run, other, other_opt)
    assert not marker.exists(), "the pickle was executed"
    assert torch.equal(other.bank.keys, keys) and buffers(other_opt) == {}  # nothing half-loaded


def test_missing_files_are_refused(tmp_path, trained):
    with pytest.raises(SemreadyError, match="holds no trained teacher"):
        read_state(tmp_path)
    with pytest.raises(SemreadyError, match="holds no trained teacher"):
        load_checkpoint(tmp_path, fresh(1)[0])
    teacher, opt = trained
    save_checkpoint(tmp_path, teacher, opt, STATE)
    (tmp_path / "state.json").unlink()
    with pytest.raises(SemreadyError, match=r"state\.json missing"):
        read_state(tmp_path)
    assert load_checkpoint(tmp_path, fresh(1)[0])["epoch"] == 3  # the checkpoint alone still loads
    (tmp_path / "checkpoint.safetensors").unlink()
    (tmp_path / "state.json").write_text(json.dumps({"format_version": FORMAT_VERSION, **STATE}))
    with pytest.raises(SemreadyError, match="never finished an epoch"):
        load_checkpoint(tmp_path, fresh(1)[0])
