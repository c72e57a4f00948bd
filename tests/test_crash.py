"""Crash safety: a training process SIGKILLed mid-epoch resumes to the bitwise result of an uninterrupted run,
and a crash between the checkpoint's files never leaves a run that resumes to something else."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import semready
from semready import api, io
from semready.cli import main
from semready.config import build_config, dump_config
from semready.data import load_data
from semready.errors import SemreadyError
from tests.conftest import tiny_overrides

EPOCHS = 3
# 320 real images in batches of 16: 20 steps (about a third of a second) per epoch, so a kill lands mid-epoch.
CONFIG = f"""model: {{width: 8, embed_dim: 16, clusters: 3}}
bank: {{size: 96, min_negatives: 8}}
train: {{epochs: {EPOCHS}, batch_size: 16, warmup_epochs: 1, threads: 1}}
rank: {{score: paper}}
"""


def _train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "semready.cli", "train", "--out", str(out), "--quiet", *extra]


def _log_rows(run: Path) -> int:
    try:
        with open(run / "log.csv", newline="") as fh:
            return len(list(csv.DictReader(fh)))
    except FileNotFoundError:
        return 0


def _same_tensors(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a / "checkpoint.safetensors")), load_file(str(b / "checkpoint.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k  # bitwise on the CPU


def _cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    sample = load_data("sample")
    data = tmp_path / "d.npz"
    np.savez(data, x=sample.images[:320].permute(0, 2, 3, 1).numpy())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    args = ["--data", f"npz:{data}", "--config", str(cfg)]
    env = {**os.environ, "PYTHONPATH": str(Path(semready.__file__).resolve().parents[1])}  # this semready
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    victim = subprocess.Popen(_train_cmd(killed, *args), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _log_rows(killed) < 1:  # the first epoch is checkpointed; the second has just begun
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        time.sleep(0.1)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    done = _log_rows(killed)
    assert 1 <= done < EPOCHS, done  # killed part-way, not after the end
    assert not (killed / "samples.csv").exists()  # an interrupted run does not look complete
    _cli(["train", "--out", str(killed), "--resume", "--quiet"])  # resumed from what the killed process left
    _cli(["train", "--out", str(straight), "--quiet", *args])  # the same run, never interrupted
    _same_tensors(straight, killed)
    assert (straight / "samples.csv").read_text() == (killed / "samples.csv").read_text()
    assert _log_rows(killed) == EPOCHS
    assert not list(killed.glob(".*.tmp"))  # temporary files of a killed write are cleared on resume


def test_crash_between_checkpoint_and_state_resumes_to_the_same_run(tmp_path, tiny_npz, monkeypatch):
    """The tensors of epoch k+1 are in place but state.json still says epoch k (a kill between the two
    renames): resume must continue from what the tensors hold, not replay epoch k+1 on top of them."""
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz))
    straight = tmp_path / "straight"
    api.train(straight, cfg, progress=False)

    real_write_json = io.write_json

    def dies_writing_state_of_epoch_2(path, obj):
        if Path(path).name == "state.json" and obj.get("epoch") == 2:
            raise KeyboardInterrupt  # the process dies right after the checkpoint's rename
        real_write_json(path, obj)

    torn = tmp_path / "torn"
    monkeypatch.setattr(io, "write_json", dies_writing_state_of_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        api.train(torn, cfg, progress=False)
    monkeypatch.setattr(io, "write_json", real_write_json)
    api.train(torn, resume=True, progress=False)
    _same_tensors(straight, torn)
    assert (straight / "samples.csv").read_text() == (torn / "samples.csv").read_text()


def test_run_killed_before_its_first_checkpoint_can_be_started_again(tmp_path, tiny_npz):
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz, epochs=1))
    run = tmp_path / "run"
    run.mkdir()
    from semready.data import data_identity

    # what a kill in the first epoch's save leaves: the config train resolved (with the data's identity)
    (run / "config.yaml").write_text(dump_config(cfg.model_copy(update={"data": data_identity(cfg.data)})))
    (run / ".checkpoint.safetensors.x1y2.tmp").write_bytes(b"half")
    with pytest.raises(SemreadyError, match="no checkpoint to resume from"):
        api.train(run, resume=True, progress=False)
    other = build_config("quick", overrides=tiny_overrides(tiny_npz, epochs=2))
    with pytest.raises(SemreadyError, match="already holds files"):  # another run's leftovers: not ours
        api.train(run, other, progress=False)
    api.train(run, cfg, progress=False)
    assert (run / "samples.csv").is_file() and not list(run.glob(".*.tmp"))
