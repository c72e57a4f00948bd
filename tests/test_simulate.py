"""`semready simulate` end to end on a tiny trained run, and its bad inputs."""

import csv
import json

import numpy as np
import pytest
import torch.nn.functional as F

from semready.cli import main
from semready.data import load_data


def exit_code(args) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return exc.code or 0
    return 0


def run_cli(args, capsys):
    code = exit_code(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-epoch run on 160 real 16×16 images (D = 768, so the languages build in well under a second)."""
    tmp = tmp_path_factory.mktemp("sim")
    x = load_data("sample").images[:160]
    small = F.interpolate(x.float(), size=16, mode="area").round().byte().permute(0, 2, 3, 1).numpy()
    npz = tmp / "small.npz"
    np.savez(npz, x=small)
    cfg = tmp / "tiny.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                   "train: {epochs: 2, batch_size: 32, warmup_epochs: 1, threads: 1}\n"
                   "comm: {prequential_chunks: 2, gamma_samples: 2}\n")
    run = tmp / "run"
    assert exit_code(["train", "--out", str(run), "--data", f"npz:{npz}", "--config", str(cfg), "--quiet"]) == 0
    # a quarter memorizable, so both paths run
    assert exit_code(["split", str(run), "--policy", "budget", "--value", "0.25"]) == 0
    return run, npz


def test_simulate_writes_kpis_for_every_scheme(tiny_run, capsys):
    run, _ = tiny_run
    code, out, err = run_cli(["simulate", str(run)], capsys)
    assert code == 0, err
    kpis = json.loads((run / "kpis.json").read_text())
    sent = kpis["settings"]["items_sent"]
    assert sent == 80  # language_fraction 0.5 of 160
    for scheme in ("classical", "vanilla", "disentangled"):
        row = kpis[scheme]
        assert "mean_representation_bits" in row
        assert row["semantic_items"] + row["classical_items"] == sent
        assert 0 <= row["fidelity_pass_rate"] <= 1
    assert kpis["disentangled"]["semantic_items"] == kpis["settings"]["learnable_sent"]
    assert 0 < kpis["disentangled"]["classical_items"] < sent
    assert kpis["vanilla"]["mean_representation_bits"] > 0 and kpis["vanilla"]["gamma_nats_per_item"] > 0
    with open(run / "kpis_items.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * sent
    # the per-item bits of the semantic items add up to the stream; each CSV cell is rounded to 0.01 bit, so the
    # sum may be off by at most 0.005 bit per item
    for scheme in ("vanilla", "disentangled"):
        sem = [float(r["bits"]) for r in rows if r["scheme"] == scheme and r["path"] == "semantic"]
        assert len(sem) == kpis[scheme]["semantic_items"]
        assert sum(sem) == pytest.approx(kpis[scheme]["semantic_stream_bits"], abs=len(sem) * 0.005)
    assert (run / "languages" / "disentangled.safetensors").is_file()


def test_simulate_new_data_routes_it(tiny_run, capsys, tmp_path):
    run, npz = tiny_run
    new = tmp_path / "new.npz"
    np.savez(new, x=np.load(npz)["x"][:40])
    code, _, err = run_cli(["simulate", str(run), "--data", f"npz:{new}", "--scheme", "disentangled"], capsys)
    assert code == 0, err
    kpis = json.loads((run / "kpis.json").read_text())
    assert kpis["settings"]["items_sent"] == 40 and list(kpis)[1:] == ["disentangled", "comparison"]


@pytest.mark.parametrize("extra, match", [
    (["--scheme", "telepathy"], "unknown scheme"),
    (["--payload", "0"], "payload_bytes"),
    (["--fidelity", "0"], "fidelity_psnr_db"),
    (["--fidelity", "500"], "fidelity_psnr_db"),
    (["--codec", "gif"], "unknown classical codec 'gif'"),
])
def test_simulate_bad_input(tiny_run, capsys, extra, match):
    run, _ = tiny_run
    before = (run / "kpis.json").read_bytes() if (run / "kpis.json").exists() else None
    code, _, err = run_cli(["simulate", str(run), *extra], capsys)
    assert code == 2 and match in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = (run / "kpis.json").read_bytes() if (run / "kpis.json").exists() else None
    assert before == after  # nothing rewritten


def test_simulate_with_controls_compares_them_on_the_same_items(tiny_run, capsys, tmp_path):
    run, npz = tiny_run
    code, _, err = run_cli(["simulate", str(run), "--controls", "--quiet"], capsys)
    assert code == 0, err
    kpis = json.loads((run / "kpis.json").read_text())
    assert list(kpis["controls"]) == ["untrained teacher", "no teacher (pixel)", "random split"]
    with open(run / "samples.csv") as fh:
        learnable = sum(row["split"] == "learnable" for row in csv.DictReader(fh))
    sent = kpis["settings"]["items_sent"]
    for name, row in kpis["controls"].items():
        van, dis = row["vanilla"], row["disentangled"]
        assert van["semantic_items"] == sent  # vanilla sends every item semantically, whatever the split
        # each control's X_l has the teacher's size over the run's stream (the sent share varies with the draw)
        assert 0 < dis["semantic_items"] <= min(learnable, sent), name
        expected = 100 * (1 - dis["mean_representation_bits_learnable"] / van["mean_representation_bits_learnable"])
        assert row["same_items_reduction_pct"] == pytest.approx(expected, rel=1e-9), name
    other = tmp_path / "other.npz"
    np.savez(other, x=np.load(npz)["x"][:40])
    code, _, err = run_cli(["simulate", str(run), "--controls", "--data", f"npz:{other}"], capsys)
    assert code == 2 and "own stream" in err and len(err.strip().splitlines()) == 1, err


def test_simulate_without_learnable_items_says_so(tiny_run, capsys):
    run, _ = tiny_run
    code, _, _ = run_cli(["split", str(run), "--policy", "budget", "--value", "0.999"], capsys)
    assert code == 0
    try:
        code, _, err = run_cli(["simulate", str(run), "--scheme", "disentangled"], capsys)
        assert code == 2 and "zero items" in err, err
    finally:
        run_cli(["split", str(run), "--policy", "budget", "--value", "0.25"], capsys)


def test_simulate_needs_a_run(tmp_path, capsys):
    code, _, err = run_cli(["simulate", str(tmp_path)], capsys)
    assert code == 2 and "not a semready run directory" in err


def test_kpis_recomputed_by_hand_from_the_items(tiny_run, capsys):
    """kpis.json against numbers computed here independently: PNG bytes, packets, the stream's words."""
    import io as pyio
    import math

    from PIL import Image

    from semready.comm import entropy
    from semready.comm.language import SemanticLanguage

    run, npz = tiny_run
    # the lossless codec, whose bytes Pillow gives here directly (the default `best`: tests/test_impact_link.py)
    code, _, err = run_cli(["simulate", str(run), "--codec", "png"], capsys)
    assert code == 0, err
    kpis = json.loads((run / "kpis.json").read_text())
    assert kpis["settings"]["classical_codec"] == "png"
    with open(run / "kpis_items.csv") as fh:
        rows = [r for r in csv.DictReader(fh)]
    sent = sorted(int(r["index"]) for r in rows if r["scheme"] == "classical")
    x = np.load(npz)["x"]
    png_bits = []
    for i in sent:
        buf = pyio.BytesIO()
        Image.fromarray(x[i]).save(buf, format="PNG", optimize=True)
        png_bits.append(8 * len(buf.getvalue()))
    classical = kpis["classical"]
    assert classical["total_bits_per_item"] == pytest.approx(np.mean(png_bits))
    # error-free link: a classical packet generates itself, ι = R / (8·payload)
    assert classical["semantic_impact"] == pytest.approx(1e6 / (8 * 1472))
    assert classical["link_seconds"] == pytest.approx(sum(png_bits) / 1e6)
    vanilla = kpis["vanilla"]
    assert vanilla["total_bits_per_item"] == pytest.approx(
        (vanilla["semantic_stream_bits"] + vanilla["dictionary_bits"]) / len(sent))
    assert vanilla["semantic_stream_bits"] % 32 == 0  # whole 32-bit words of the range coder
    # the saved language re-encodes the same items to the same number of bits
    lang = SemanticLanguage.load(run / "languages" / "vanilla")
    with open(run / "samples.csv") as fh:
        clusters = np.array([int(r["cluster"]) for r in csv.DictReader(fh)])
    import torch

    images = torch.from_numpy(x[sent]).permute(0, 3, 1, 2).contiguous()
    rep, _ = lang.represent(images, clusters[sent])
    assert entropy.encode(lang, rep).bits == vanilla["semantic_stream_bits"]
    # ι of a semantic item by hand from its row: P / (|Z|/R + t_gen)
    row = next(r for r in rows if r["scheme"] == "vanilla" and r["passed"] == "1")
    i = int(row["index"])
    regen = lang.regenerate(rep)[sent.index(i)].reshape(x.shape[3], *x.shape[1:3]).numpy().transpose(1, 2, 0)
    buf = pyio.BytesIO()
    Image.fromarray(np.ascontiguousarray(regen)).save(buf, format="PNG", optimize=True)
    packets = math.ceil(8 * len(buf.getvalue()) / (8 * 1472))
    expected = packets / (float(row["bits"]) / 1e6 + vanilla["generation_seconds_per_item"])
    assert float(row["impact"]) == pytest.approx(expected, rel=1e-3)


def test_train_keeps_the_config_files_data_spec(tmp_path, tiny_npz, capsys):
    """`semready train --config F` with no --data trains on F's data.spec, not on the sample."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{spec: 'npz:{tiny_npz}'}}\nmodel: {{width: 8, embed_dim: 16, clusters: 3}}\n"
                   "bank: {size: 96, min_negatives: 8}\ntrain: {epochs: 1, batch_size: 32, warmup_epochs: 1}\n")
    assert exit_code(["train", "--out", str(tmp_path / "r"), "--config", str(cfg), "--quiet"]) == 0
    assert "120 items" in capsys.readouterr().out
