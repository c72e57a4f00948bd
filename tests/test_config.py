import pytest

from semready.config import build_config, dump_config, load_config_file
from semready.errors import SemreadyError


def test_presets_hold_the_paper_settings():
    paper = build_config("paper")
    assert (paper.train.lr, paper.train.batch_size, paper.train.epochs, paper.train.ema) == (0.02, 32, 200, 0.9)
    assert (paper.loss.tau, paper.loss.eta, paper.loss.epsilon) == (0.1, 1.0, 1.0)
    assert paper.model.encoder == "resnet18"
    quick = build_config("quick")
    assert quick.model.encoder == "small_cnn" and quick.preset == "quick"


def test_yaml_file_and_overrides_layer_on_the_preset(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  clusters: 7\ntrain:\n  epochs: 3\n")
    cfg = build_config("quick", f, {"train": {"seed": 5}})
    assert (cfg.model.clusters, cfg.train.epochs, cfg.train.seed) == (7, 3, 5)
    assert cfg.train.batch_size == 256  # from the preset


def test_resolved_config_round_trips(tmp_path):
    cfg = build_config("paper", overrides={"model": {"clusters": 4}})
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    assert load_config_file(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("text, match", [
    ("train:\n  epoks: 3\n", "train.epoks: unknown setting"),
    ("train:\n  lr: -1\n", "train.lr"),
    ("model:\n  clusters: 1\n", "model.clusters"),
    ("loss:\n  tau: zero\n", "loss.tau"),
    ("train: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("bank:\n  size: 16\n", "bank.size"),
    ("train:\n  device: gpu\n", "train.device"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SemreadyError, match=match) as info:
        build_config("quick", f)
    assert "\n" not in str(info.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(SemreadyError, match="unknown preset"):
        build_config("fast")
    with pytest.raises(SemreadyError, match="does not exist"):
        build_config("quick", "/nonexistent/config.yaml")
