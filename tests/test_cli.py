"""The command line: one-line errors with exit code 2, no traceback, nothing half-written; a real run."""

import subprocess
import sys

import numpy as np
import pytest

from semready.cli import main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.mark.parametrize("args, match", [
    (["train", "--out", "{tmp}/r", "--data", "npz:{tmp}/missing.npz"], "does not exist"),
    (["train", "--out", "{tmp}/r", "--data", "wat:foo"], "unknown data spec"),
    (["train", "--out", "{tmp}/r", "--data", "npz:{tmp}/floats.npz"], "uint8"),
    (["train", "--out", "{tmp}/r", "--data", "npz:{tmp}/nan.npz"], "NaN"),
    (["train", "--out", "{tmp}/r", "--data", "npz:{tmp}/empty.npz"], "empty"),
    (["train", "--out", "{tmp}/r", "--data", "npz:{tmp}/three.npz"], "3 items but 10 clusters"),
    (["train", "--out", "{tmp}/r", "--config", "{tmp}/typo.yaml"], "unknown setting"),
    (["train", "--out", "{tmp}/r", "--preset", "fast"], "unknown preset"),
    (["train", "--out", "{tmp}/afile"], "is a file"),
    (["route", "{tmp}/norun", "--data", "sample", "--out", "{tmp}/x.csv"], "does not exist"),
    (["evaluate", "{tmp}", "--data", "sample"], "not a semready run"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, match):
    np.savez(tmp_path / "floats.npz", x=np.zeros((4, 8, 8, 3), np.float32))
    nan = np.zeros((4, 8, 8, 3), np.float32)
    nan[0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan)
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8, 3), np.uint8))
    np.savez(tmp_path / "three.npz", x=np.zeros((3, 8, 8, 3), np.uint8))
    (tmp_path / "typo.yaml").write_text("train:\n  epocs: 2\n")
    (tmp_path / "afile").write_text("")
    code, out, err = run_cli([a.replace("{tmp}", str(tmp_path)) for a in args], capsys)
    assert code == 2
    assert match in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_cli_trains_routes_and_evaluates(tmp_path, tiny_npz, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                   "train: {epochs: 2, batch_size: 32, warmup_epochs: 1, threads: 1}\n")
    run = tmp_path / "run"
    main_ok(["train", "--out", str(run), "--data", f"npz:{tiny_npz}", "--config", str(cfg), "--quiet"])
    assert "trained 2 epochs" in capsys.readouterr().out
    main_ok(["route", str(run), "--data", f"npz:{tiny_npz}", "--out", str(tmp_path / "r.csv")])
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 121
    main_ok(["evaluate", str(run), "--data", f"npz:{tiny_npz}"])
    assert "cluster_head" in capsys.readouterr().out
    # resume extends the run by one epoch
    main_ok(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"])
    assert "trained 3 epochs" in capsys.readouterr().out


def main_ok(args):
    try:
        main(args)
    except SystemExit as exc:  # typer may exit 0 explicitly
        assert exc.code in (0, None)


def test_installed_entry_point_exit_code_and_debug(tmp_path):
    cmd = [sys.executable, "-m", "semready.cli", "train", "--out", str(tmp_path / "r"), "--data", "nope:x"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unknown data spec" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run([sys.executable, "-m", "semready.cli", "--debug", *cmd[3:]], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode != 0 and "Traceback" in res.stderr
