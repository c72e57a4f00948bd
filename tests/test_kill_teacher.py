"""Pins behaviour the mutation run found unchecked in ``semready.teacher``: the exact one-line messages of the
checkpoint refusals (they name the file and the fix), the marginal entropy of labels that leave clusters empty,
and the engine swap of :meth:`Teacher.use_engines` / :meth:`Teacher.compile_encoders`."""

import json
import math

import pytest
import torch
from torch import nn

from semready.config import build_config
from semready.errors import SemreadyError
from semready.teacher.checkpoint import FORMAT_VERSION, load_checkpoint, read_state, save_checkpoint
from semready.teacher.losses import normalized_marginal_entropy
from semready.teacher.model import Teacher

TINY = {"model": {"width": 4, "embed_dim": 8, "clusters": 3}, "bank": {"size": 64, "min_negatives": 8},
        "train": {"batch_size": 16, "device": "cpu"}}
STATE = {"epoch": 1, "step": 4, "finished": False, "image_shape": [3, 32, 32], "items": 16, "log": []}


def tiny_teacher(seed=0) -> Teacher:
    torch.manual_seed(seed)
    return Teacher.from_config(build_config("quick", overrides=json.loads(json.dumps(TINY))))


def views(seed=1, n=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randn(n, 3, 32, 32, generator=g)


def one_line_error(fn, *args) -> str:
    with pytest.raises(SemreadyError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# -- checkpoint messages ----------------------------------------------------------------------------------


def test_wrong_version_in_state_json_names_state_json_and_says_retrain_with_this_one(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({**STATE, "format_version": FORMAT_VERSION + 1}))
    msg = one_line_error(read_state, tmp_path)
    expected = (f"{tmp_path / 'state.json'} has an unsupported format: it was written by another semready "
                "version; retrain with this one")
    assert msg == expected


def test_corrupt_state_json_names_the_file_and_says_retrain_or_restore(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    msg = one_line_error(read_state, tmp_path)
    assert msg == f"{path} is corrupt (not JSON): retrain or restore it from a backup"


def test_wrong_version_in_the_checkpoint_header_names_the_checkpoint(tmp_path):
    # the caller's state overrides format_version, exactly as a file of another version would carry it
    save_checkpoint(tmp_path, tiny_teacher(), None, {**STATE, "format_version": FORMAT_VERSION + 1})
    msg = one_line_error(load_checkpoint, tmp_path, tiny_teacher(1))
    assert msg.startswith(f"{tmp_path / 'checkpoint.safetensors'} has an unsupported format: ")
    assert msg.endswith("retrain with this one")
    assert "None" not in msg


# -- normalized_marginal_entropy with empty clusters ----------------------------------------------------------


@pytest.mark.parametrize(("labels", "clusters", "expected"), [
    ([0, 0, 1, 1], 4, math.log(2) / math.log(4)),  # two of four clusters used evenly: 0.5, not 1
    ([0, 1, 2, 0, 1, 2], 6, math.log(3) / math.log(6)),
    ([0, 0, 0], 3, 0.0),
])
def test_normalized_marginal_entropy_counts_the_empty_clusters(labels, clusters, expected):
    # sizes by a plain loop over the M clusters, entropy by hand
    sizes = [labels.count(c) for c in range(clusters)]
    h = -sum(s / len(labels) * math.log(s / len(labels)) for s in sizes if s)
    assert h / math.log(clusters) == pytest.approx(expected)
    assert normalized_marginal_entropy(torch.tensor(labels), clusters) == pytest.approx(expected, abs=1e-6)


# -- engines ------------------------------------------------------------------------------------------------------


class Spy(nn.Module):
    """Delegates to ``inner`` and counts its calls."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_use_engines_runs_the_step_through_the_given_modules_and_none_restores_the_plain_encoders():
    t = tiny_teacher()
    q, m = Spy(t.encoder), Spy(t.momentum_encoder)
    t.use_engines(q, m)
    out = t(*views(), clusters_active=False)
    assert (q.calls, m.calls) == (1, 1)
    assert out.query.shape == out.key.shape == (16, 8)
    t.keys_of(views(2)[0])  # the bank's priming keys also come from the momentum engine
    assert (q.calls, m.calls) == (1, 2)
    t.use_engines()
    t(*views(3), clusters_active=True)
    t.keys_of(views(4)[0])
    assert (q.calls, m.calls) == (1, 2)


@pytest.mark.parametrize("which", ["query", "momentum"])
def test_use_engines_replaces_only_the_encoder_given(which):
    t = tiny_teacher()
    spy = Spy(t.encoder if which == "query" else t.momentum_encoder)
    t.use_engines(**{which: spy})  # the other slot is None: its plain encoder runs
    out = t(*views(), clusters_active=False)
    assert spy.calls == 1
    assert torch.isfinite(out.losses["loss"]) and out.query.shape == out.key.shape == (16, 8)


def test_compile_encoders_compiles_both_encoders_in_order_and_the_step_runs_through_them(monkeypatch):
    t = tiny_teacher()
    real_compile = torch.compile
    compiled: list = []
    engines: list = []

    def fake_compile(module, *args, **kwargs):
        compiled.append(module)
        engines.append(Spy(real_compile(module, backend="eager")))
        return engines[-1]

    monkeypatch.setattr(torch, "compile", fake_compile)
    t.compile_encoders()
    assert len(compiled) == 2
    assert compiled[0] is t.encoder and compiled[1] is t.momentum_encoder
    q, m = engines
    out = t(*views(), clusters_active=False)
    assert (q.calls, m.calls) == (1, 1)
    assert torch.isfinite(out.losses["loss"]) and out.query.shape == (16, 8)
