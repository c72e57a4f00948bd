"""TensorBoard event files beside log.csv when tensorboard is installed (extra `tb`; in `dev` so CI runs this)."""

import pytest

from semready import api
from semready.config import build_config
from semready.teacher import tb
from tests.conftest import tiny_overrides


def test_training_writes_tensorboard_events(tmp_path, tiny_npz):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    api.train(run, build_config("quick", overrides=tiny_overrides(tiny_npz, epochs=2)), progress=False)
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "log.csv").is_file()  # the plain log stays
    events = EventAccumulator(str(run / "tb"), size_guidance={"histograms": 0}).Reload()
    for key in ("loss", "l_i", "l_d", "marginal_entropy", "lr"):
        assert [e.step for e in events.Scalars(f"train/{key}")] == [1, 2], key
    sizes = events.Histograms("train/cluster_sizes")
    assert len(sizes) == 2 and sizes[-1].histogram_value.num == 96  # 3 steps x 32 keys, each counted once


def test_no_tensorboard_no_event_files(tmp_path, tiny_npz, monkeypatch):
    monkeypatch.setattr(tb, "available", lambda: False)
    run = tmp_path / "run"
    api.train(run, build_config("quick", overrides=tiny_overrides(tiny_npz, epochs=1, warmup_epochs=0)),
                   progress=False)
    assert not (run / "tb").exists() and (run / "log.csv").is_file()


def test_no_tb_folder_until_the_first_epoch_is_written(tmp_path):
    """A run killed in its first epoch must be restartable: tb/ appears only with the first epoch's events (which
    follow its checkpoint), not when training starts."""
    from semready.teacher.tb import SCALARS, EpochWriter, available

    writer = EpochWriter(tmp_path, first_epoch=0)
    assert not (tmp_path / "tb").exists()
    writer.write({"epoch": 1, **{k: 0.5 for k in SCALARS}, "cluster_sizes": [3, 1]})
    writer.close()
    assert (tmp_path / "tb").is_dir() == available()
