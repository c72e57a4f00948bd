"""Command-line hygiene: choices from their definitions, checked before heavy imports; --version; --set;
--device; warnings; evaluate on the run's own data; progress only on a terminal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from semready import api, cli, overrides
from semready.cli import main
from semready.errors import SemreadyError
from semready.progress import progress_bars, task
from tests.conftest import train_tiny

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}  # this tree, from any cwd


def run_cli(args, capsys):
    """(exit code, captured output); 0 when the command returns without exiting."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code or 0, capsys.readouterr()
    return 0, capsys.readouterr()


def test_choices_are_the_defining_modules_constants():
    from semready import export
    from semready.comm.classical import CODECS
    from semready.comm.system import SCHEMES
    from semready.config import PRESETS
    from semready.split.policies import POLICIES
    from semready.split.scores import SCORES

    assert (api.POLICIES, api.SCORES, api.SCHEMES, api.CODECS, api.PRESETS) == (POLICIES, SCORES, SCHEMES, CODECS,
                                                                                  PRESETS)
    assert [c.value for c in cli.Policy] == list(POLICIES) and [c.value for c in cli.Score] == list(SCORES)
    assert [c.value for c in cli.Scheme] == ["all", *SCHEMES] and [c.value for c in cli.Codec] == list(CODECS)
    assert [c.value for c in cli.Target] == list(export.TARGETS)


def test_constant_reader_reads_source_and_falls_back(tmp_path, monkeypatch):
    (tmp_path / "fake_consts.py").write_text("A = ('x', 'y')\nB = tuple('pq')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert api._constant("fake_consts", "A") == ("x", "y")
    assert "fake_consts" not in sys.modules  # read, not imported
    assert api._constant("fake_consts", "B") == ("p", "q")  # not a literal: imported


@pytest.mark.parametrize("args, message", [
    (["split", "RUN", "--policy", "vibes"], "unknown split policy 'vibes': choose one of confidence, budget"),
    (["split", "RUN", "--score", "magic"], "unknown learnability score 'magic': choose one of teacher, regen, paper"),
    (["train", "--out", "R", "--preset", "fast"], "unknown preset 'fast': choose one of auto, quick, paper"),
    (["simulate", "RUN", "--scheme", "x"], "unknown scheme 'x': choose one of all, classical, vanilla"),
    (["simulate", "RUN", "--codec", "gif"], "unknown classical codec 'gif': choose one of png, jpeg"),
    (["export", "RUN", "--split", "both", "--out", "o"], "unknown split 'both': choose one of learnable, memor"),
    (["export", "RUN", "--split", "learnable", "--to", "zip", "--out", "o"], "unknown export target 'zip'"),
    (["train", "--out", "R", "--device", "gpu"], "device 'gpu' is not known: use cuda (or cuda:N) for an NVIDIA"),
])
def test_a_bad_choice_is_answered_before_torch_is_imported(args, message, tmp_path):
    code = ("import sys\nfrom semready.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('torch' in sys.modules, e.code)\n")
    res = subprocess.run([sys.executable, "-c", code, *[a.replace("RUN", str(tmp_path)) for a in args]],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=ENV)
    assert res.stdout.split() == ["False", "2"], res
    err = " ".join(res.stderr.split())
    assert err.startswith("error: ") and message in err and "Traceback" not in err, err
    assert "preset quick" not in err and "^(" not in err  # --device gpu blames no preset, shows no regex


def test_help_and_version_do_not_import_torch():
    code = ("import sys\nfrom semready.cli import main\nfor a in (['--help'], ['--version'], ['split', '--help']):\n"
            "    try:\n        main(a)\n    except SystemExit:\n        pass\nprint('torch' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert res.stdout.strip().endswith("False"), res
    assert f"semready {api.__version__}" in res.stdout and "confidence" in res.stdout


def test_version(capsys):
    code, cap = run_cli(["--version"], capsys)
    assert code == 0 and cap.out.strip() == "semready 0.2.0"


def test_parse_sets_and_its_errors():
    assert overrides.parse_sets(["train.lr=0.1", "train.amp=true", "rank.score=paper", "preset=paper"]) == {
        "train": {"lr": 0.1, "amp": True}, "rank": {"score": "paper"}, "preset": "paper"}
    for pair, phrase in [("train.lrr=0.1", "unknown setting train.lrr"), ("trian.lr=0.1", "unknown setting 'trian'"),
                         ("train.lr", "is not key=value"), ("train=3", "is a section"),
                         ("train.lr=-1", "greater than 0"), ("train.epochs=many", "valid integer"),
                         ("train.device=gpu", "use cuda"), ("rank.score=magic", "'regen' or 'paper'")]:
        with pytest.raises(SemreadyError, match="--set") as info:
            overrides.parse_sets([pair])
        assert phrase in str(info.value), (pair, info.value)


def test_set_reaches_the_config_and_named_options_win(tmp_path, tiny_npz, capsys):
    from tests.conftest import tiny_overrides

    run = tmp_path / "run"
    o = tiny_overrides(tiny_npz)
    sets = [f"{s}.{k}={v}" for s in ("model", "bank", "train") for k, v in o[s].items()]
    code, cap = run_cli(["train", "--out", run, "--data", f"npz:{tiny_npz}", *sum((["--set", s] for s in sets), []),
                         "--set", "train.lr=0.07", "--set", "rank.score=paper", "--set", "train.epochs=5",
                         "--epochs", "1", "--quiet"], capsys)
    assert code == 0, cap.err
    cfg = api.RunDir(run).read_config()
    assert cfg.train.lr == 0.07 and cfg.train.epochs == 1 and cfg.model.clusters == 3
    assert "warning: train.epochs (1) <= train.warmup_epochs (1)" in " ".join(cap.err.split())


def test_config_warnings_edges():
    cfg = api.build_config("quick", overrides={"train": {"epochs": 3, "warmup_epochs": 2}})
    assert overrides.config_warnings(cfg) == []
    cfg = api.build_config("quick", overrides={"train": {"epochs": 2, "warmup_epochs": 2}})
    assert len(overrides.config_warnings(cfg)) == 1


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_npz):
    return train_tiny(tmp_path_factory.mktemp("hygiene") / "run", tiny_npz, epochs=1)


def test_evaluate_defaults_to_the_runs_own_data(run, capsys):
    try:
        main(["evaluate", str(run)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    metrics = api.RunDir(run).read_json(api.RunDir(run).metrics, "evaluate")
    assert metrics["data"] == api.RunDir(run).read_config().data.spec and metrics["items"] == 120


def test_empty_memorizable_split_warns(run, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(run, tmp_path / "run")
    try:
        main(["split", str(copy), "--policy", "confidence", "--value", "0"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the memorizable split X_m is empty" in err
    try:
        main(["split", str(copy), "--policy", "budget", "--value", "0.5"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "warning" not in capsys.readouterr().err


def test_progress_is_off_without_a_terminal():
    with progress_bars(True) as p:  # pytest captures stderr: not a terminal
        assert p is None
    with task("x", 4, enabled=True) as t:
        t.advance(2)
        t.describe("y")
        assert t.done == 2
