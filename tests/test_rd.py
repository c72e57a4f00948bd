"""Rate–distortion (docs/rd.md): BD-rate and BD-PSNR by hand, SSIM against a direct computation, the JPEG 2000 and
AVIF codecs, and the `semready rd` sweep end to end on a tiny 8×8 run (rd.json, report section, bad input)."""

import io as pyio
import json
import math
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from semready.comm import classical
from semready.comm.classical import decode_item, encode_item
from semready.comm.kpi import psnr_db
from semready.comm.rd import bd_psnr, bd_rate, ssim_window, structural_similarity
from semready.config import CommConfig
from semready.data import load_data
from semready.errors import SemreadyError
from semready.experiments.rd import aggregate_psnr, bd_table, parse_targets
from tests.test_simulate import exit_code, run_cli

# ---------------------------------------------------------------- BD-rate / BD-PSNR

A_RATE, A_PSNR = [100.0, 180.0, 330.0, 600.0, 1100.0], [28.0, 31.0, 34.0, 37.0, 40.0]
# "Sample 1" of the VCEG-M33 reference implementations (MATLAB file exchange 41749) and "Test 1" of the FAU-LMS
# bjontegaard package: anchor rates/PSNR, then test rates/PSNR
SAMPLE_1 = ([686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42],
            [893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24])
FAU_TEST_1 = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
              [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])


def cubic_bd_by_hand(rate_a, psnr_a, rate_b, psnr_b) -> float:
    """VCEG-M33 with 4 points per curve written out: the cubic through them (a Vandermonde solve, not a fit) and
    its integral from the monomials' antiderivatives, over the shared PSNR interval."""
    lo, hi = max(min(psnr_a), min(psnr_b)), min(max(psnr_a), max(psnr_b))

    def mean_log_rate(rate, psnr):
        c = np.linalg.solve(np.vander(psnr, 4, increasing=True), np.log(rate))  # c0 + c1 x + c2 x² + c3 x³
        antiderivative = lambda x: sum(c[k] * x ** (k + 1) / (k + 1) for k in range(4))  # noqa: E731
        return (antiderivative(hi) - antiderivative(lo)) / (hi - lo)

    return 100 * (math.exp(mean_log_rate(rate_b, psnr_b) - mean_log_rate(rate_a, psnr_a)) - 1)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_by_hand(method):
    assert bd_rate(A_RATE, A_PSNR, A_RATE, A_PSNR, method) == pytest.approx(0, abs=1e-12)
    # every rate × 0.8 at the same PSNR: exactly 20 % fewer bits
    assert bd_rate(A_RATE, A_PSNR, [0.8 * r for r in A_RATE], A_PSNR, method) == pytest.approx(-20, abs=1e-9)
    # and the other way round: a needs 1/0.8 = 1.25 times b's bits
    assert bd_rate([0.8 * r for r in A_RATE], A_PSNR, A_RATE, A_PSNR, method) == pytest.approx(25, abs=1e-9)
    # ln r linear in PSNR (both fits reproduce a line exactly); b tilted by c·(PSNR − 30) on [30, 36]:
    # mean difference 3c -> exp(3c) − 1, however the points are spread
    psnr = np.array([30.0, 31.0, 33.5, 36.0])
    line = np.exp(psnr / 10)
    c = 0.05
    assert bd_rate(line, psnr, line * np.exp(c * (psnr - 30)), psnr, method) == pytest.approx(
        100 * math.expm1(3 * c), abs=1e-9)
    # partial overlap: b is the same line at half the rate, sampled on [33, 39]: the shared [33, 36] counts
    psnr_b = np.array([33.0, 35.0, 37.0, 39.0])
    assert bd_rate(line, psnr, 0.5 * np.exp(psnr_b / 10), psnr_b, method) == pytest.approx(-50, abs=1e-9)


def test_bd_rate_on_published_curves():
    for curves, published in ((SAMPLE_1, 31.397374054908013), (FAU_TEST_1, -4.420462706090111)):
        by_hand = cubic_bd_by_hand(*curves)
        # the value another, independent implementation printed for these inputs (numpy polyfit/polyint)
        assert by_hand == pytest.approx(published, abs=1e-8)
        assert bd_rate(*curves) == pytest.approx(by_hand, abs=1e-9)
    assert bd_rate(*FAU_TEST_1) < 0 < bd_rate(*FAU_TEST_1[2:], *FAU_TEST_1[:2])  # swapping the curves flips it
    # PCHIP agrees in sign and size here (curves near-parallel) but is not the same number
    assert bd_rate(*FAU_TEST_1, method="pchip") == pytest.approx(bd_rate(*FAU_TEST_1), abs=0.05)
    assert bd_rate(*FAU_TEST_1, method="pchip") != bd_rate(*FAU_TEST_1)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_psnr_by_hand(method):
    up = [p + 0.5 for p in A_PSNR]
    assert bd_psnr(A_RATE, A_PSNR, A_RATE, up, method) == pytest.approx(0.5, abs=1e-9)
    # PSNR = 10·ln r: b needs 0.8 of a's rate for any PSNR, so at equal rate it is 10·ln(1/0.8) dB better
    rate = np.array([100.0, 200.0, 400.0, 900.0])
    psnr = 10 * np.log(rate)
    assert bd_psnr(rate, psnr, 0.8 * rate, psnr, method) == pytest.approx(-10 * math.log(0.8), abs=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: bd_rate(A_RATE[:3], A_PSNR[:3], A_RATE, A_PSNR), "3 points; BD by cubic fit needs at least 4"),
    (lambda: bd_rate(A_RATE[:1], A_PSNR[:1], A_RATE, A_PSNR, "pchip"), "needs at least 2"),
    (lambda: bd_rate(A_RATE, A_PSNR, A_RATE, [p + 20 for p in A_PSNR]), "do not overlap in PSNR"),
    (lambda: bd_rate(A_RATE, [30, 30, 31, 32, 33], A_RATE, A_PSNR), "repeats a PSNR"),
    (lambda: bd_rate(A_RATE, [30, 31, 32, 33, math.inf], A_RATE, A_PSNR), "non-finite PSNR"),
    (lambda: bd_rate([0, *A_RATE[1:]], A_PSNR, A_RATE, A_PSNR), "rate <= 0"),
    (lambda: bd_rate(A_RATE, A_PSNR[:4], A_RATE, A_PSNR), "5 rates but 4 PSNRs"),
    (lambda: bd_rate(A_RATE, A_PSNR, A_RATE, A_PSNR, "akima"), "unknown BD interpolation 'akima'"),
])
def test_bd_bad_input_is_one_line(call, match):
    with pytest.raises(SemreadyError, match=match) as err:
        call()
    assert "\n" not in str(err.value) and ": " in str(err.value)


def test_three_points_are_refused_by_cubic_and_taken_by_pchip():
    three = (A_RATE[:3], A_PSNR[:3])
    with pytest.raises(SemreadyError, match="method='pchip'"):
        bd_rate(*three, *three)
    assert bd_rate(*three, [0.5 * r for r in three[0]], three[1], "pchip") == pytest.approx(-50, abs=1e-9)


# ---------------------------------------------------------------- SSIM


def ssim_by_hand(x: np.ndarray, y: np.ndarray, win: int, sigma: float = 1.5) -> float:
    """Wang et al. (2004) on C×H×W floats, written out: a Gaussian window slid over every valid position."""
    g = np.exp(-((np.arange(win) - win // 2) ** 2) / (2 * sigma ** 2))
    w = np.outer(g, g) / g.sum() ** 2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    per_channel = []
    for a, b in zip(x, y, strict=True):
        values = []
        for i in range(a.shape[0] - win + 1):
            for j in range(a.shape[1] - win + 1):
                pa, pb = a[i:i + win, j:j + win], b[i:i + win, j:j + win]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * pa * pa).sum() - ma ** 2, (w * pb * pb).sum() - mb ** 2
                cov = (w * pa * pb).sum() - ma * mb
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
        per_channel.append(np.mean(values))
    return float(np.mean(per_channel))


@pytest.mark.parametrize("side, window", [(8, 7), (16, 11), (12, 11), (9, 9)])
def test_ssim_matches_the_definition_with_a_window_that_fits(side, window):
    g = torch.Generator().manual_seed(side)
    x = torch.randint(0, 256, (3, 3, side, side), dtype=torch.uint8, generator=g)
    noisy = (x.int() + torch.randint(-30, 31, x.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    values, name = structural_similarity(x, noisy)
    assert ssim_window(side, side) == window and name == f"ssim (gaussian {window}, sigma 1.5)"
    expected = [ssim_by_hand(a.double().numpy(), b.double().numpy(), window) for a, b in zip(x, noisy, strict=True)]
    assert values == pytest.approx(expected, abs=1e-6)  # the library builds its window in float32
    assert (values < 1).all() and structural_similarity(x, x)[0] == pytest.approx([1, 1, 1], abs=1e-12)


def test_ms_ssim_for_items_large_enough_and_bad_shapes():
    x = torch.randint(0, 256, (1, 1, 176, 176), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    same, name = structural_similarity(x, x)
    assert name.startswith("ms-ssim (5 scales") and same == pytest.approx([1.0], abs=1e-9)
    worse, _ = structural_similarity(x, (x.int() // 2).to(torch.uint8))
    assert worse[0] < 0.9
    with pytest.raises(SemreadyError, match="do not match"):
        structural_similarity(x, x[:, :, :8, :8])


# ---------------------------------------------------------------- JPEG 2000 and AVIF


def _items():
    x = load_data("sample").images[:6]
    return [x[0].numpy(), F.interpolate(x[1:2].float(), size=16, mode="area").round().byte()[0].numpy(),
            x[2, :1].numpy()]  # 32×32 RGB, 16×16 RGB, 32×32 grey


def _psnr(back, item) -> float:
    return float(psnr_db(torch.from_numpy(back)[None], torch.from_numpy(item)[None])[0])


@pytest.mark.parametrize("codec", ["jpeg2000", "avif"])
def test_new_codecs_round_trip_meeting_each_target(codec):
    for item in _items():
        sizes = []
        for target in (26.0, 32.0, 38.0):
            enc = encode_item(item, codec, target)
            assert enc.codec == codec and enc.quality is not None
            back = decode_item(enc, item.shape)
            assert back.shape == item.shape and _psnr(back, item) >= target
            assert 0 < enc.header_stripped_bytes < len(enc.payload)
            sizes.append(len(enc.payload))
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # a looser target never costs more here


def test_avif_quality_is_the_lowest_meeting_the_target_and_stripped_is_mdat():
    item = _items()[0]
    enc = encode_item(item, "avif", 32.0)
    lower = pyio.BytesIO()
    Image.fromarray(item.transpose(1, 2, 0)).save(lower, format="AVIF", quality=enc.quality - 1, speed=8,
                                                  max_threads=1, subsampling="4:4:4")
    worse = np.asarray(Image.open(pyio.BytesIO(lower.getvalue())).convert("RGB")).transpose(2, 0, 1).copy()
    assert _psnr(worse, item) < 32.0
    at = enc.payload.index(b"mdat")  # the box: 4-byte size, then 'mdat', then the AV1 payload
    assert enc.header_stripped_bytes == struct.unpack(">I", enc.payload[at - 4:at])[0] - 8


def test_jpeg2000_is_a_raw_codestream_and_stripped_is_the_tile_data():
    enc = encode_item(_items()[1], "jpeg2000", 30.0)
    data = enc.payload
    assert data[:2] == b"\xff\x4f" and data[-2:] == b"\xff\xd9"  # SOC ... EOC: no JP2 container
    assert enc.header_stripped_bytes == len(data) - (data.index(b"\xff\x93") + 2) - 2
    assert 1 <= enc.quality <= 1000


@pytest.mark.parametrize("codec", ["jpeg2000", "avif"])
def test_an_unreachable_target_falls_back_to_png(codec):
    noise = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    enc = encode_item(noise, codec, 99.0)  # neither codec's highest quality is lossless here
    assert enc.codec == "png" and np.array_equal(decode_item(enc, noise.shape), noise)


def test_a_pillow_without_the_codec_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(classical.features, "check", lambda feature: feature not in ("avif", "jpg_2000"))
    for codec, library in (("avif", "libavif"), ("jpeg2000", "OpenJPEG")):
        with pytest.raises(SemreadyError, match=f"cannot write {codec} \\(built without {library}\\)"):
            encode_item(_items()[1], codec, 30.0)
    assert encode_item(_items()[1], "webp", 30.0).codec in ("webp", "png")  # the others still work
    assert CommConfig(classical_codec="avif").classical_codec == "avif"


# ---------------------------------------------------------------- the sweep's pieces


def test_targets_and_aggregate_psnr():
    assert parse_targets("30, 26 ,34") == [26.0, 30.0, 34.0] and parse_targets([38, 26]) == [26.0, 38.0]
    for bad, match in (("30", "at least 2 distinct"), ("30,30", "at least 2 distinct"), ("0,30", "outside"),
                       ("30,101", "outside"), ("26,abc", "not a list of numbers")):
        with pytest.raises(SemreadyError, match=match):
            parse_targets(bad)
    # 20 dB and 30 dB items: MSE 650.25 and 65.025, mean 357.6375 -> 10·log10(255² / 357.6375)
    assert aggregate_psnr(np.array([20.0, 30.0])) == pytest.approx(10 * math.log10(65025 / 357.6375), abs=1e-9)
    assert aggregate_psnr(np.array([np.inf, np.inf])) is None


def _curve(rates, psnrs):
    return [{"bits_per_item": r, "bits_per_item_excl_dictionary": r, "psnr_db": p,
             "learnable": {"bits_per_item": r, "psnr_db": p}} for r, p in zip(rates, psnrs, strict=True)]


def test_bd_table_picks_the_method_and_says_why_a_pair_has_no_value():
    psnr = np.array([28.0, 31.0, 34.0, 37.0])
    line = np.exp(psnr / 10)  # ln r linear in PSNR: the cubic and PCHIP both reproduce it exactly
    curves = {"vanilla": _curve(line, psnr), "disentangled": _curve(0.8 * line, psnr),
              "best": _curve(0.5 * line[:3], psnr[:3])}
    rows = {(r["test"], r["anchor"], r["view"]): r for r in bd_table(curves)}
    assert len(rows) == 9
    dv = rows[("disentangled", "vanilla", "X_l")]
    assert dv["method"] == "cubic" and dv["bd_rate_pct"] == pytest.approx(-20, abs=1e-9) and dv["note"] is None
    vb = rows[("vanilla", "best", "all items")]
    assert vb["method"] == "pchip" and vb["bd_rate_pct"] == pytest.approx(100, abs=1e-9)  # best has 3 points
    curves["best"] = _curve([100, 90, 300], [26, 30, 34])  # more PSNR for fewer bits between 26 and 30
    row = {(r["test"], r["anchor"], r["view"]): r for r in bd_table(curves)}[("vanilla", "best", "X_l")]
    assert row["bd_rate_pct"] is None and "best is not monotone" in row["note"]
    del curves["best"]
    assert "no best curve" in bd_table(curves)[3]["note"]


# ---------------------------------------------------------------- `semready rd` end to end


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 2-epoch run on 160 real 8×8 images (the language builds in milliseconds), swept by the CLI at 3 targets
    with 40 sent items."""
    tmp = tmp_path_factory.mktemp("rd")
    x = load_data("sample").images[:160]
    small = F.interpolate(x.float(), size=8, mode="area").round().byte().permute(0, 2, 3, 1).numpy()
    np.savez(tmp / "small.npz", x=small)
    (tmp / "tiny.yaml").write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                                   "train: {epochs: 2, batch_size: 32, warmup_epochs: 1, threads: 1}\n")
    run = tmp / "run"
    assert exit_code(["train", "--out", str(run), "--data", f"npz:{tmp / 'small.npz'}", "--config",
                      str(tmp / "tiny.yaml"), "--quiet"]) == 0
    assert exit_code(["split", str(run), "--policy", "budget", "--value", "0.25"]) == 0
    args = ["rd", str(run), "--targets", "30,22,26", "--items", "40", "--quiet"]
    for codec in ("webp", "jpeg2000", "avif", "png", "best"):
        args += ["--codec", codec]
    return run, exit_code(args)


def test_the_sweep_writes_rd_json_with_every_curve_on_the_same_items(swept):
    run, code = swept
    assert code == 0
    rd = json.loads((run / "rd.json").read_text())
    s = rd["settings"]
    assert s["targets_db"] == [22.0, 26.0, 30.0] and s["items_sent"] == 40
    assert s["structural_measure"] == "ssim (gaussian 7, sigma 1.5)"
    curves = rd["curves"]
    assert list(curves) == ["webp", "jpeg2000", "avif", "png", "best", "vanilla", "disentangled", "min_all"]
    assert len(curves["png"]) == 1 and curves["png"][0]["psnr_db"] is None and curves["png"][0]["exact_items"] == 40
    for name, points in curves.items():
        for p in points:
            assert p["items"] == 40 and p["learnable"]["items"] == s["learnable_sent"]
            if name not in ("vanilla", "disentangled"):  # the classical path never misses its target
                assert p["fidelity_pass_rate"] == 1.0 and (p["psnr_db"] is None or p["psnr_db"] >= p["target_db"])
                assert p["dictionary_bits"] == 0
        if name != "png":
            # bits rise with the target (fall as it loosens): every codec, and the languages' payload
            for key in ("bits_per_item", "bits_per_item_excl_dictionary"):
                bits = [p[key] for p in points]
                assert all(b < c for b, c in zip(bits, bits[1:], strict=False)), (name, key, bits)
            xl = [p["learnable"]["bits_per_item"] for p in points]
            assert all(b < c for b, c in zip(xl, xl[1:], strict=False)), (name, xl)
    for i in range(len(s["targets_db"])):  # per item the smallest, so on average no more than any codec
        assert curves["min_all"][i]["bits_per_item"] <= min(
            [curves[c][i]["bits_per_item"] for c in ("webp", "jpeg2000", "avif", "best")] + [curves["png"][0][
                "bits_per_item"]]) + 1e-9
    for p in curves["vanilla"]:  # the dictionary shared over the 40 items sent
        assert p["bits_per_item"] == pytest.approx(p["bits_per_item_excl_dictionary"] + p["dictionary_bits"] / 40)


def test_a_point_recomputed_from_the_items(swept):
    """webp at 26 dB: every sent item encoded here, its mean bits and the PSNR of the mean MSE."""
    run, _ = swept
    from semready.comm.simulate import language_mask, run_items
    from semready.rundir import RunDir

    cfg = RunDir(run).read_config()
    own = run_items(run, cfg)
    sent = own.subset(~language_mask(len(own), cfg.comm.language_fraction, cfg.train.seed))
    items = sent.images[:40].numpy()
    encoded = [encode_item(x, "webp", 26.0) for x in items]
    mse = [np.mean((decode_item(e, x.shape).astype(float) - x.astype(float)) ** 2) for e, x in zip(encoded, items,
                                                                                                  strict=True)]
    point = json.loads((run / "rd.json").read_text())["curves"]["webp"][1]
    assert point["target_db"] == 26.0
    assert point["bits_per_item"] == pytest.approx(np.mean([e.bits for e in encoded]))
    assert point["psnr_db"] == pytest.approx(10 * math.log10(255 ** 2 / np.mean(mse)), abs=1e-9)


def test_bd_rates_in_rd_json_are_those_of_its_curves(swept):
    run, _ = swept
    rd = json.loads((run / "rd.json").read_text())
    rows = {(r["test"], r["anchor"], r["view"]): r for r in rd["bd"]}
    assert len(rows) == 9 and all(r["method"] in ("pchip", None) for r in rows.values())  # 3 targets: PCHIP
    for (test, anchor, view), r in rows.items():
        assert (r["bd_rate_pct"] is None) == (r["note"] is not None and not r["note"].startswith("BD-PSNR"))
        if r["bd_rate_pct"] is not None and view == "X_l":
            pts = [[p["learnable"] for p in rd["curves"][n]] for n in (anchor, test)]
            assert r["bd_rate_pct"] == pytest.approx(bd_rate(
                [p["bits_per_item"] for p in pts[0]], [p["psnr_db"] for p in pts[0]],
                [p["bits_per_item"] for p in pts[1]], [p["psnr_db"] for p in pts[1]], "pchip"), abs=1e-9)


def test_the_report_shows_the_rd_section_only_with_rd_json(swept, tmp_path):
    import shutil

    from semready.report import build_report

    run, _ = swept
    page = build_report(run).read_text()
    section = page.split('<section id="rd">')[1].split("</section>")[0]
    assert 'id="bd-table"' in section and section.count("<img") == 2 and "not available" not in section
    assert "disentangled</td><td>vanilla</td><td>X_l" in section
    bare = shutil.copytree(run, tmp_path / "bare")
    (bare / "rd.json").unlink()
    assert '<section id="rd">' not in build_report(bare).read_text()


@pytest.mark.parametrize("extra, match", [
    (["--targets", "30"], "at least 2 distinct PSNR targets"),
    (["--codec", "gif"], "unknown classical codec 'gif'"),
    (["--items", "0"], "--items 0 must be at least 1"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(swept, capsys, extra, match):
    run, _ = swept
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, out, err = run_cli(["rd", str(run), *extra], capsys)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("height, width, window", [(8, 20, 7), (20, 8, 7), (16, 12, 11), (12, 16, 11), (32, 32, 11),
                                                   (1, 1, 1), (2, 2, 1)])
def test_the_ssim_window_fits_the_shorter_side_and_is_odd(height, width, window):
    # the largest odd window up to 11 that fits both sides (by hand)
    assert ssim_window(height, width) == window


def test_bd_errors_name_the_curve_at_fault():
    good = ([100, 200, 400, 800], [30, 33, 36, 39])
    # BD-rate integrates over PSNR, BD-PSNR over ln rate: each refuses a repeated value on its own axis
    with pytest.raises(SemreadyError) as info:
        bd_psnr(*good, [100, 100, 400, 800], [30, 31, 36, 39])
    assert str(info.value).startswith("curve b repeats a rate value (")
    assert str(info.value).endswith("): pass points of distinct rate")
    with pytest.raises(SemreadyError) as info:
        bd_psnr([100, 100, 400, 800], [30, 31, 36, 39], *good)
    assert str(info.value).startswith("curve a repeats a rate value (")
    with pytest.raises(SemreadyError) as info:
        bd_rate(*good, [100, 200, 400, 800], [30, 30, 36, 39])
    assert str(info.value) == "curve b repeats a PSNR value (30): pass points of distinct PSNR"
    with pytest.raises(SemreadyError) as info:
        bd_rate([100, 200, 400, 800], [30, 30, 36, 39], *good)
    assert str(info.value) == "curve a repeats a PSNR value (30): pass points of distinct PSNR"
    with pytest.raises(SemreadyError) as info:
        bd_rate(*good, [1e4, 2e4, 4e4, 8e4], [40, 43, 46, 49])
    assert str(info.value) == ("the two RD curves do not overlap in PSNR (a: 30–39 dB, b: 40–49 dB): sweep targets "
                               "both curves reach")
    with pytest.raises(SemreadyError) as info:
        bd_psnr(*good, [1e4, 2e4, 4e4, 8e4], [40, 43, 46, 49])
    assert str(info.value).startswith("the two RD curves do not overlap in ln rate (a: 4.605–6.685, b: 9.21–11.29)")
    with pytest.raises(SemreadyError, match="^unknown BD interpolation 'akima': choose one of cubic, pchip$"):
        bd_rate(*good, *good, method="akima")
    assert bd_rate([1, 2, 4, 8], [30, 33, 36, 39], [1, 2, 4, 8], [30, 33, 36, 39]) == pytest.approx(0.0)  # 1 bit ok
