"""The demo end to end on a tiny stream: the stream and its families on disk, a trained and split run, every item
in exactly one split, each family's memorizable count matching samples.csv, the three schemes simulated, the
report written; a folder that holds files is refused."""

import numpy as np
import pytest

from semready.errors import SemreadyError
from semready.experiments.demo import run_demo
from semready.rundir import RunDir
from tests.conftest import tiny_overrides


def test_demo_end_to_end_on_a_tiny_stream(tmp_path, tiny_npz):
    lines = []
    over = tiny_overrides(tiny_npz, epochs=2)
    del over["data"]
    result = run_demo(tmp_path / "demo", seed=1, progress=False, say=lines.append, source=f"npz:{tiny_npz}",
                      counts={"noise": 12, "scrambled": 8}, overrides=over)
    family = np.load(tmp_path / "demo" / "family.npy")
    assert len(family) == 140 and (family == "noise").sum() == 12 and (family == "scrambled").sum() == 8
    x = np.load(tmp_path / "demo" / "stream.npz")["x"]
    assert x.shape == (140, 32, 32, 3) and x.dtype == np.uint8
    samples = RunDir(tmp_path / "demo" / "run").read_samples()
    assert len(samples["learnable"]) == 140
    for name, counts in result["families"].items():
        pick = family == name
        assert counts == {"items": int(pick.sum()), "memorizable": int((~samples["learnable"][pick]).sum())}
    assert sum(v["items"] for v in result["families"].values()) == 140
    assert result["split"]["learnable"] + result["split"]["memorizable"] == 140
    assert {"classical", "vanilla", "disentangled"} <= set(result["kpis"])
    assert (tmp_path / "demo" / "run" / "report.html").is_file() and result["report"].endswith("report.html")
    assert any("memorizable by family" in line for line in lines)
    with pytest.raises(SemreadyError, match="already holds files"):
        run_demo(tmp_path / "demo", progress=False, say=lines.append, source=f"npz:{tiny_npz}")
