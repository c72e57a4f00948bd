"""The physical channel (semready.comm.channel), the link over it and the SNR sweep: closed forms against a
Monte-Carlo modem written here, values by hand, monotonicity, the packet link unchanged, bad input refused."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from semready.comm.channel import Channel, ber_awgn, ber_rayleigh, channel_from_config
from semready.comm.link import Link
from semready.comm.snr_sweep import check_snr_list, parse_snr_list, run_snr_sweep, sweep_point, sweep_table
from semready.comm.system import Items, run_scheme
from semready.config import CommConfig
from semready.data import load_data
from semready.errors import SemreadyError
from tests.test_simulate import exit_code, run_cli

# Gray 4-PAM per axis of 16-QAM (two bits -> level), written out independently of the library
PAM4 = {(0, 0): -3.0, (0, 1): -1.0, (1, 1): 1.0, (1, 0): 3.0}
BITS = {"bpsk": 1, "qpsk": 2, "16qam": 4}


def q_by_hand(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def monte_carlo_ber(modulation: str, esn0_db: float, rayleigh: bool, n_bits: int = 200_000, seed: int = 0) -> float:
    """Random bits -> Gray symbols (unit mean energy) -> (fade) + complex noise at Es/N0 -> coherent detection."""
    rng = np.random.default_rng(seed)
    k = BITS[modulation]
    bits = rng.integers(0, 2, size=(n_bits // k, k))
    if modulation == "bpsk":
        sym = (1 - 2 * bits[:, 0]).astype(complex)
    elif modulation == "qpsk":
        sym = ((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / math.sqrt(2)
    else:
        level = np.array([[PAM4[(a, b)] for a, b in pair] for pair in bits.reshape(-1, 2, 2)])
        sym = (level[:, 0] + 1j * level[:, 1]) / math.sqrt(10)  # E|s|² = (2·(1 + 9)/2)/10 = 1
    n0 = 10 ** (-esn0_db / 10)  # Es = 1
    noise = math.sqrt(n0 / 2) * (rng.standard_normal(len(sym)) + 1j * rng.standard_normal(len(sym)))
    h = (rng.standard_normal(len(sym)) + 1j * rng.standard_normal(len(sym))) / math.sqrt(2) if rayleigh else 1.0
    z = (h * sym + noise) * np.conj(h) / np.abs(h) ** 2  # perfect CSI: undo the fade
    if modulation == "bpsk":
        got = (z.real < 0).astype(int)[:, None]
    elif modulation == "qpsk":
        got = np.stack([z.real < 0, z.imag < 0], axis=1).astype(int)
    else:
        levels = np.array([-3.0, -1.0, 1.0, 3.0])
        back = {v: k for k, v in PAM4.items()}
        axes = []
        for part in (z.real, z.imag):
            nearest = levels[np.abs(part[:, None] * math.sqrt(10) - levels).argmin(axis=1)]
            axes.append(np.array([back[v] for v in nearest]))
        got = np.concatenate(axes, axis=1)
    return float((got != bits).mean())


@pytest.mark.parametrize("modulation, esn0_db, rayleigh", [
    ("bpsk", 4.0, False), ("qpsk", 7.0, False), ("16qam", 12.0, False), ("16qam", 6.0, False),
    ("bpsk", 10.0, True), ("qpsk", 10.0, True), ("16qam", 16.0, True),
])
def test_closed_form_ber_matches_a_monte_carlo_modem(modulation, esn0_db, rayleigh):
    ch = Channel("rayleigh" if rayleigh else "awgn", modulation, esn0_db)
    n = 200_000
    measured = monte_carlo_ber(modulation, esn0_db, rayleigh, n)
    expected = ch.ber()
    assert 1e-3 < expected < 0.2  # a point where 2e5 bits measure the BER well
    sigma = math.sqrt(expected * (1 - expected) / n)
    # 6 sigma, doubled: the bits of one symbol share its noise (and fade), so errors are not independent
    assert abs(measured - expected) < 12 * sigma, (measured, expected)
    assert abs(measured - expected) < 0.1 * expected, (measured, expected)


def test_the_monte_carlo_modem_sees_a_wrong_formula():
    """The comparison above can fail: 16-QAM's BER is not BPSK's at the same Eb/N0."""
    ebn0 = 10 ** (12.0 / 10) / 4
    assert abs(monte_carlo_ber("16qam", 12.0, False) - float(ber_awgn("bpsk", ebn0))) > 0.3 * float(
        ber_awgn("bpsk", ebn0))


def test_known_values_by_hand():
    # BPSK at Eb/N0 = 9.6 dB: the textbook 1e-5 (Q(4.27) = 9.7e-6)
    assert Channel("awgn", "bpsk", 9.6).ber() == pytest.approx(q_by_hand(math.sqrt(2 * 10 ** 0.96)), rel=1e-9)
    assert 0.9e-5 < Channel("awgn", "bpsk", 9.6).ber() < 1.05e-5
    # QPSK carries two bits at the same Eb/N0: Es/N0 is 3.01 dB higher for the same BER
    assert Channel("awgn", "qpsk", 9.6 + 10 * math.log10(2)).ber() == pytest.approx(9.74e-6, rel=2e-3)
    # 16-QAM at Eb/N0 = 10 dB (Es/N0 = 16.02 dB): ¾Q(√8) + ½Q(3√8) − ¼Q(5√8) ≈ 1.75e-3
    a = math.sqrt(0.8 * 10)
    hand = 0.75 * q_by_hand(a) + 0.5 * q_by_hand(3 * a) - 0.25 * q_by_hand(5 * a)
    assert Channel("awgn", "16qam", 10 + 10 * math.log10(4)).ber() == pytest.approx(hand, rel=1e-9)
    assert hand == pytest.approx(1.75e-3, rel=0.01)
    # Rayleigh BPSK at mean Eb/N0 = 10 dB: ½(1 − √(10/11)) = 0.02327
    assert Channel("rayleigh", "bpsk", 10.0).ber() == pytest.approx(0.5 * (1 - math.sqrt(10 / 11)), rel=1e-12)
    assert Channel("rayleigh", "bpsk", 10.0).ber() == pytest.approx(0.02327, abs=1e-5)
    # the rate and Eb/N0 of the SNR definition: Es/N0 10 dB, 16-QAM, 2 Mbaud
    ch = Channel("awgn", "16qam", 10.0, symbol_rate=2e6)
    assert ch.rate_bps == 8e6 and ch.ebn0 == pytest.approx(10 / 4) and ch.ebn0_db == pytest.approx(10 - 6.0206, 1e-4)


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam"])
def test_rayleigh_closed_form_is_the_awgn_ber_averaged_over_the_fade(modulation):
    for gbar in (0.3, 3.0, 30.0):
        numeric, _ = integrate.quad(lambda x, g=gbar: math.exp(-x) * float(ber_awgn(modulation, g * x)), 0, np.inf)
        assert float(ber_rayleigh(modulation, gbar)) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam"])
def test_fading_costs_bits_and_more_snr_saves_them(modulation):
    snrs = np.arange(-10, 41, 2.5)
    awgn = [Channel("awgn", modulation, s).ber() for s in snrs]
    fading = [Channel("rayleigh", modulation, s).ber() for s in snrs]
    assert all(f > a for f, a in zip(fading, awgn, strict=True))
    assert np.all(np.diff(awgn) <= 0) and np.all(np.diff(fading) < 0)
    assert awgn[0] < 0.5 and fading[-1] < 1e-3  # ... and both in a sane range at the ends
    assert Channel("awgn", modulation, 40).ber() < 1e-12 < fading[-1]  # fading decays as 1/SNR only


@pytest.mark.parametrize("kind", ["awgn", "rayleigh"])
def test_packet_error_is_monotone_in_snr_and_length(kind):
    by_snr = np.array([Channel(kind, "qpsk", s).packet_error(1000) for s in np.arange(-5, 36, 1.0)])
    assert np.all(np.diff(by_snr) <= 0) and by_snr[0] > 0.99 and by_snr[-1] < 0.01
    inside = (by_snr > 1e-12) & (by_snr < 1 - 1e-12)  # AWGN saturates at 1 and 0 in float; strict in between
    assert inside.sum() >= 4 and np.all(np.diff(by_snr[inside]) < 0)
    by_bits = [Channel(kind, "qpsk", 12.0).packet_error(b) for b in (8, 100, 1000, 11_776)]
    assert np.all(np.diff(by_bits) > 0)
    assert Channel(kind, "qpsk", 12.0).packet_error(1) == pytest.approx(Channel(kind, "qpsk", 12.0).ber(), rel=1e-6)


def test_block_fading_is_bursty_so_it_loses_fewer_packets_than_iid_errors_of_the_same_ber():
    ch = Channel("rayleigh", "qpsk", 20.0)
    iid = 1 - (1 - ch.ber()) ** 11_776  # the same mean BER spread over independent bits
    assert ch.packet_error(11_776) < 0.5 * iid


@pytest.mark.parametrize("kind, snr", [("awgn", 11.0), ("rayleigh", 15.0), ("rayleigh", 25.0)])
def test_the_links_draws_lose_packets_at_the_channels_rate(kind, snr):
    cfg = CommConfig(channel=kind, snr_db=snr, payload_bytes=100, max_transmissions=1)
    link = Link.from_config(cfg, seed=1)
    lost = np.array([not link.send(800).delivered for _ in range(4000)])
    p = link.channel.packet_error(800)
    assert 0.01 < p < 0.99
    assert abs(lost.mean() - p) < 5 * math.sqrt(p * (1 - p) / 4000), (lost.mean(), p)


def test_rayleigh_retransmissions_see_a_new_fade():
    """Tries per packet are geometric in the mean success when each transmission draws its own fade."""
    cfg = CommConfig(channel="rayleigh", snr_db=15.0, payload_bytes=100, max_transmissions=1000)
    link = Link.from_config(cfg, seed=2)
    tries = np.array([link.send(800).transmissions for _ in range(3000)])
    assert tries.mean() == pytest.approx(1 / (1 - link.channel.packet_error(800)), rel=0.05)


def test_a_physical_channel_sets_the_rate_and_a_clean_one_sends_once():
    cfg = CommConfig(channel="awgn", modulation="16qam", snr_db=40.0, symbol_rate=250_000.0, payload_bytes=100)
    link = Link.from_config(cfg)
    assert link.rate_bps == 1e6 and channel_from_config(cfg).rate_bps == 1e6
    t = link.send(800 * 3 + 80)
    assert (t.packets, t.transmissions, t.delivered) == (4, 4, True)
    assert t.seconds == pytest.approx((800 * 3 + 80) / 1e6)


def test_the_packet_channel_is_todays_link():
    """The draws of the link before the physical channel existed (pinned from that code), whatever the
    physical settings say."""
    today = [(14, False, 0.7048), (1, True, 0.03), (37, False, 1.8656), (7, False, 0.3488), (125, False, 6.3104)]
    for extra in ({}, {"snr_db": -10.0, "modulation": "16qam", "symbol_rate": 5.0}):
        cfg = CommConfig(rate_bps=1e4, payload_bytes=64, packet_loss=0.5, bit_error_rate=1e-4, max_transmissions=2,
                         **extra)
        link = Link.from_config(cfg, seed=3)
        assert link.channel is None and link.rate_bps == 1e4
        got = [(t.transmissions, t.delivered, round(t.seconds, 6)) for t in map(link.send, (5000, 300, 12000, 2000,
                                                                                            40000))]
        assert got == today


@pytest.mark.parametrize("values, match", [
    ({"snr_db": 41.0}, "snr_db"), ({"snr_db": -11.0}, "snr_db"), ({"modulation": "64qam"}, "modulation"),
    ({"channel": "rician"}, "channel"), ({"symbol_rate": 0.0}, "symbol_rate"),
])
def test_config_refuses_bad_channel_settings(values, match):
    from semready.comm.simulate import comm_config

    with pytest.raises(SemreadyError, match=match) as info:
        comm_config(CommConfig(), values)
    assert "\n" not in str(info.value)


def test_channel_refuses_unknown_names():
    for kw in ({"kind": "packet"}, {"kind": "awgn", "modulation": "8psk"}, {"kind": "awgn", "snr_db": math.nan}):
        with pytest.raises(SemreadyError):
            Channel(**kw)


# -- the sweep ---------------------------------------------------------------------------------------------------

def _items():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    items = Items(images, np.arange(40) % 2, np.arange(40) % 4 != 3)
    return items.subset(np.arange(40) < 20), items.subset(np.arange(40) >= 20)


@pytest.fixture(scope="module")
def schemes():
    """The three schemes once (packet link), their summaries and tables; 80-byte packets: a classical item fits
    one, a stream spans 12-16."""
    fit, stream = _items()
    cfg = CommConfig(payload_bytes=80, classical_codec="zlib", prequential_chunks=2, gamma_samples=1)
    out = {s: run_scheme(s, fit, stream, 2, cfg, seed=4)[:2] for s in ("classical", "vanilla", "disentangled")}
    return fit, stream, cfg, {s: o[0] for s, o in out.items()}, {s: o[1] for s, o in out.items()}


@pytest.mark.parametrize("kind, snr", [("awgn", 9.5), ("rayleigh", 10.0)])
def test_a_sweep_point_is_run_scheme_at_that_snr(schemes, kind, snr):
    fit, stream, cfg, summaries, tables = schemes
    at = cfg.model_copy(update={"channel": kind, "snr_db": snr, "max_transmissions": 3})
    for scheme in summaries:
        direct, _, _ = run_scheme(scheme, fit, stream, 2, at, seed=4)
        point = sweep_point(summaries[scheme], tables[scheme], at, snr, seed=4)
        assert point["fidelity_pass_rate"] == direct["fidelity_pass_rate"], scheme
        assert point["link_seconds"] == pytest.approx(direct["link_seconds"], rel=1e-12), scheme
    assert 0 < point["delivered_share"] < 1  # the point lies where the link loses some messages, not none


def test_sweep_kpis_at_the_ends(schemes):
    _, _, cfg, summaries, tables = schemes
    at = cfg.model_copy(update={"channel": "awgn", "modulation": "qpsk", "symbol_rate": 5e5})
    sweep = run_snr_sweep(summaries, tables, at, [40, -10], seed=0)
    assert sweep["rate_bps"] == 1e6 and [p["snr_db"] for p in sweep["points"][:2]] == [-10.0, 40.0]
    assert len(sweep["points"]) == 6 and {p["scheme"] for p in sweep["points"]} == set(summaries)
    for p in sweep["points"]:
        scheme = summaries[p["scheme"]]
        if p["snr_db"] == 40:  # no errors: every bit once, goodput = R, pass rate = the scheme's fidelity
            assert p["goodput_bps"] == pytest.approx(1e6) and p["mean_transmissions_per_packet"] == 1
            assert p["delivered_share"] == 1 and p["fidelity_pass_rate"] == scheme["fidelity_pass_rate"]
            assert p["passed_items_per_second"] == pytest.approx(scheme["fidelity_pass_rate"] * 20 / p["link_seconds"])
        else:  # BER ≈ 0.3: no 640-bit packet gets through in 16 tries
            assert p["ber"] == pytest.approx(q_by_hand(math.sqrt(2 * 0.1 / 2)), rel=1e-9)
            assert p["goodput_bps"] == 0 and p["delivered_share"] == 0 and p["fidelity_pass_rate"] == 0
            assert p["mean_transmissions_per_packet"] == 16
    assert "goodput" in str(sweep_table(sweep).columns[8].header)


@pytest.mark.parametrize("channel, snrs, match", [
    ("awgn", [10.0], "at least two"), ("awgn", [10.0, 10.0], "at least two"), ("packet", [0.0, 10.0], "physical"),
    ("awgn", [0.0, 45.0], "out of range"),
])
def test_bad_sweeps_are_refused(channel, snrs, match):
    with pytest.raises(SemreadyError, match=match):
        check_snr_list(CommConfig(channel=channel), snrs)


def test_parse_snr_list():
    assert parse_snr_list("0,5, 10,15") == [0.0, 5.0, 10.0, 15.0]
    with pytest.raises(SemreadyError, match="not a list of numbers"):
        parse_snr_list("0,five")


# -- the command line ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("channel")
    x = torch.nn.functional.interpolate(load_data("sample").images[:120].float(), size=16, mode="area")
    x = x.round().byte().permute(0, 2, 3, 1).numpy()
    np.savez(tmp / "small.npz", x=x)
    cfg = tmp / "tiny.yaml"
    cfg.write_text("model: {width: 8, embed_dim: 16, clusters: 3}\nbank: {size: 96, min_negatives: 8}\n"
                   "train: {epochs: 1, batch_size: 32, warmup_epochs: 0, threads: 1}\n"
                   "comm: {prequential_chunks: 2, gamma_samples: 1}\n")
    run = tmp / "run"
    assert exit_code(["train", "--out", str(run), "--data", f"npz:{tmp / 'small.npz'}", "--config", str(cfg),
                      "--quiet"]) == 0
    assert exit_code(["split", str(run), "--policy", "budget", "--value", "0.25"]) == 0
    return run


def test_cli_sweep_writes_kpis(tiny_run, capsys):
    code, _, err = run_cli(["simulate", str(tiny_run), "--channel", "rayleigh", "--modulation", "16qam",
                            "--snr-db", "20", "--snr-sweep", "0,20", "--quiet"], capsys)
    assert code == 0, err
    assert "SNR sweep" in err and "16QAM over rayleigh" in err
    kpis = json.loads((tiny_run / "kpis.json").read_text())
    s = kpis["settings"]
    assert (s["channel"], s["modulation"], s["snr_db"], s["rate_bps"]) == ("rayleigh", "16qam", 20.0, 4e6)
    points = kpis["snr_sweep"]["points"]
    assert [(p["scheme"], p["snr_db"]) for p in points] == [(sc, snr) for sc in ("classical", "vanilla",
                                                                                  "disentangled") for snr in (0, 20)]
    for low, high in zip(points[::2], points[1::2], strict=True):  # more SNR: fewer bit errors, fewer retries
        assert low["ber"] > high["ber"] and low["mean_transmissions_per_packet"] > high["mean_transmissions_per_packet"]


@pytest.mark.parametrize("extra, match", [
    (["--snr-db", "50"], "snr_db"),
    (["--channel", "awgn", "--snr-db", "-40"], "snr_db"),
    (["--modulation", "64qam"], "unknown modulation '64qam'"),
    (["--channel", "rician"], "unknown channel 'rician'"),
    (["--channel", "awgn", "--snr-sweep", "5"], "at least two"),
    (["--channel", "awgn", "--snr-sweep", "0,x"], "not a list of numbers"),
    (["--snr-sweep", "0,10"], "physical channel"),
    (["--channel", "awgn", "--snr-sweep", "0,60"], "out of range"),
])
def test_cli_bad_channel_input_is_one_line_exit_2_and_writes_nothing(tiny_run, capsys, extra, match):
    before = {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.is_file()}
    code, _, err = run_cli(["simulate", str(tiny_run), *extra], capsys)
    assert code == 2 and match in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.is_file()} == before


def test_a_config_file_with_a_bad_channel_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("comm: {channel: awgn, snr_db: 99}\n")
    code, _, err = run_cli(["train", "--out", str(tmp_path / "r"), "--config", str(tmp_path / "bad.yaml")], capsys)
    assert code == 2 and "snr_db" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_a_bad_channel_object_is_one_line_naming_the_choices():
    """The Python API's own checks (the CLI's enums never reach them): each names the bad value and the choices."""
    with pytest.raises(SemreadyError) as info:
        Channel("awgn", "64qam", snr_db=10.0)
    assert str(info.value) == "unknown modulation '64qam': choose one of bpsk, qpsk, 16qam"
    with pytest.raises(SemreadyError) as info:
        Channel("fiber", "qpsk", snr_db=10.0)
    assert str(info.value) == "unknown physical channel 'fiber': choose awgn or rayleigh"
    for snr, rate in ((math.inf, 1e6), (10.0, 0.0)):
        with pytest.raises(SemreadyError, match="is not usable: give a finite SNR and a positive comm.symbol_rate"):
            Channel("awgn", "qpsk", snr_db=snr, symbol_rate=rate)
