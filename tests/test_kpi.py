"""comm.kpi and comm.link against hand-computed values, and ι end to end over a lossy link (docs/kpis.md)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semready.comm.classical import encode_item
from semready.comm.kpi import (
    attribute_stream_bits,
    classical_impact,
    packets_for,
    psnr_db,
    semantic_impact,
    target_mse,
)
from semready.comm.language import SemanticLanguage
from semready.comm.link import Link
from semready.comm.system import Items, send_classical, send_semantic
from semready.config import CommConfig
from semready.data import load_data
from semready.errors import SemreadyError

# --- psnr_db, target_mse -------------------------------------------------------------------------------------


def test_psnr_by_hand():
    x = torch.tensor([[0, 0, 0, 0], [10, 20, 30, 40], [7, 7, 7, 7]], dtype=torch.uint8)
    y = torch.tensor([[1, 2, 3, 4], [10, 20, 30, 40], [0, 0, 0, 0]], dtype=torch.uint8)
    got = psnr_db(x, y)
    assert got.dtype == torch.float64 and got.shape == (3,)
    # MSE = (1 + 4 + 9 + 16) / 4 = 7.5; identical -> inf; 7² = 49 everywhere
    assert got[0].item() == pytest.approx(10 * math.log10(255 ** 2 / 7.5), rel=1e-12)
    assert got[1].item() == math.inf
    assert got[2].item() == pytest.approx(10 * math.log10(65025 / 49), rel=1e-12)


def test_psnr_flattens_each_item_and_uses_peak_255():
    # 1×2×2 items: a single 255 error among 4 values -> MSE = 255²/4 -> 10·log10(4) dB
    x = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    y = x.clone()
    y[0, 0, 1, 1] = 255
    y[1] = 1  # MSE 1 -> 20·log10(255)
    got = psnr_db(x, y).tolist()
    assert got[0] == pytest.approx(10 * math.log10(4.0), rel=1e-12)
    assert got[1] == pytest.approx(20 * math.log10(255.0), rel=1e-12)
    # uint8 inputs must not wrap around: 0 - 255 is an error of 255, not 1
    assert psnr_db(torch.zeros(1, 1, dtype=torch.uint8), torch.full((1, 1), 255, dtype=torch.uint8)).item() == 0.0


def test_target_mse_by_hand_and_round_trip():
    assert target_mse(30.0) == pytest.approx(65025 / 1000, rel=1e-12)
    assert target_mse(20.0) == pytest.approx(650.25, rel=1e-12)
    assert target_mse(10 * math.log10(65025)) == pytest.approx(1.0, rel=1e-12)  # PSNR of MSE 1
    # a constant error of 5 has MSE 25; the target of its PSNR allows exactly that MSE
    p = psnr_db(torch.zeros(1, 16, dtype=torch.uint8), torch.full((1, 16), 5, dtype=torch.uint8)).item()
    assert target_mse(p) == pytest.approx(25.0, rel=1e-12)
    assert target_mse(40.0) < target_mse(30.0)  # a stricter target allows less error


# --- attribute_stream_bits, packets_for ------------------------------------------------------------------------


def test_attribute_stream_bits_shares_the_overhead_equally():
    info = np.array([10.0, 20.0, 30.0])
    shares = attribute_stream_bits(info, 66)  # overhead 6 over 3 items: 2 each
    assert shares.tolist() == [12.0, 22.0, 32.0]
    assert shares.sum() == 66
    # an overhead of 7 bits over 2 items: 3.5 each (not rounded)
    assert attribute_stream_bits(np.array([1.0, 100.0]), 108).tolist() == [4.5, 103.5]
    # a stream shorter than the information (the coder beat the model): the share is negative
    assert attribute_stream_bits(np.array([10.0, 20.0]), 28).tolist() == [9.0, 19.0]
    # a single item takes the whole stream
    assert attribute_stream_bits(np.array([17.25]), 64).tolist() == [64.0]


def test_attribute_stream_bits_empty():
    out = attribute_stream_bits(np.zeros(0), 0)
    assert out.shape == (0,)
    assert attribute_stream_bits(np.zeros(0), 96).shape == (0,)  # no division by zero items


@pytest.mark.parametrize("bits, expected", [
    (0, 0), (1, 1), (799, 1), (800, 1), (801, 2), (1600, 2), (1601, 3), (8000, 10), (8001, 11)])
def test_packets_for_by_hand(bits, expected):
    # payload 100 bytes = 800 bits per packet
    got = packets_for(bits, 100)
    assert float(got) == expected
    assert np.ndim(got) == 0


def test_packets_for_arrays_and_one_byte_payload():
    got = packets_for(np.array([0, 8, 9, 16, 17]), 1)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 1.0, 2.0, 2.0, 3.0]
    assert packets_for(np.array([11776, 11777, 23552]), 1472).tolist() == [1.0, 2.0, 2.0]


# --- semantic_impact, classical_impact --------------------------------------------------------------------------


def test_semantic_impact_by_hand():
    packets = np.array([3.0, 5.0, 2.0])
    passed = np.array([True, True, False])
    bits = np.array([1000.0, 2000.0, 500.0])
    # R = 1e5 bit/s, 1 ms generation, no overhead: τ = 0.011 s and 0.021 s
    got = semantic_impact(packets, passed, bits, 1e5, 0.001)
    assert got[0] == pytest.approx(3 / 0.011, rel=1e-12)
    assert got[1] == pytest.approx(5 / 0.021, rel=1e-12)
    assert got[2] == 0.0  # failed fidelity: P counts as 0
    # link overhead 2 doubles only the link part of τ: 0.021 s and 0.041 s
    got2 = semantic_impact(packets, passed, bits, 1e5, 0.001, link_overhead=2.0)
    assert got2[0] == pytest.approx(3 / 0.021, rel=1e-12)
    assert got2[1] == pytest.approx(5 / 0.041, rel=1e-12)
    assert got2[2] == 0.0
    # with no generation time an overhead of 2 halves ι exactly
    assert semantic_impact(packets, passed, bits, 1e5, 0.0, 2.0) == pytest.approx(
        semantic_impact(packets, passed, bits, 1e5, 0.0) / 2, rel=1e-12)
    # a faster link shortens τ: R = 1e6 -> τ = 0.002 s
    assert semantic_impact(packets[:1], passed[:1], bits[:1], 1e6, 0.001)[0] == pytest.approx(3 / 0.002)


def test_semantic_impact_failed_items_give_zero_even_with_packets():
    got = semantic_impact(np.array([9.0, 9.0]), np.array([False, False]), np.array([10.0, 20.0]), 1e6, 0.5)
    assert got.tolist() == [0.0, 0.0]


def test_classical_impact_by_hand():
    rate = 1e6 / (8 * 100)  # 1250 packets/s
    got = classical_impact(rate, np.array([2, 3, 4, 1]), np.array([4, 3, 5, 1]))
    assert got.dtype == np.float64
    assert got.tolist() == pytest.approx([625.0, 1250.0, 1000.0, 1250.0], rel=1e-12)
    # zero transmissions (an empty message) does not divide by zero: counted as one
    zero = classical_impact(rate, np.array([0, 2]), np.array([0, 0]))
    assert np.isfinite(zero).all() and zero.tolist() == [0.0, 2500.0]


# --- the link ---------------------------------------------------------------------------------------------------


def test_link_error_free_by_hand():
    link = Link(rate_bps=2e5, payload_bytes=100)  # 800 bits per packet
    assert link.packet_bits == 800 and link.packet_rate == 250.0
    t = link.send(2500)  # 800 + 800 + 800 + 100
    assert (t.bits, t.packets, t.transmissions, t.delivered) == (2500, 4, 4, True)
    assert t.seconds == pytest.approx(2500 / 2e5, rel=1e-12)
    empty = link.send(0)
    assert (empty.packets, empty.transmissions, empty.seconds, empty.delivered) == (0, 0, 0.0, True)


def test_lossy_link_multi_packet_message():
    link = Link(rate_bps=1e4, payload_bytes=100, packet_loss=0.4, seed=7)
    bits = 2500  # > 8·payload: ⌈2500 / 800⌉ = 4 packets, the last one of 100 bits
    transfers = [link.send(bits) for _ in range(20)]
    assert all(t.packets == 4 for t in transfers)
    assert all(t.transmissions >= t.packets and t.delivered for t in transfers)
    assert any(t.transmissions > t.packets for t in transfers)  # 80 packets at 40 % loss: resends happen
    for t in transfers:
        # seconds = transmitted bits / R: some number r ≥ 1 of tries of the 100-bit packet, the rest full ones
        sent_bits = t.seconds * 1e4
        splits = [800 * (t.transmissions - r) + 100 * r for r in range(1, t.transmissions - 2)]
        assert any(sent_bits == pytest.approx(s, abs=1e-6) for s in splits), (t, sent_bits)
        assert t.seconds > bits / 1e4 or t.transmissions == t.packets


def test_lossy_link_full_packets_seconds_and_one_packet():
    link = Link(rate_bps=1e5, payload_bytes=50, packet_loss=0.5, seed=1)
    for _ in range(10):
        t = link.send(1600)  # exactly 4 full 400-bit packets
        assert t.packets == 4 and t.transmissions >= 4
        assert t.seconds == pytest.approx(t.transmissions * 400 / 1e5, rel=1e-12)
        one = link.send(123)  # one partial packet: every try carries 123 bits
        assert one.packets == 1 and one.seconds == pytest.approx(one.transmissions * 123 / 1e5, rel=1e-12)


@pytest.mark.parametrize("loss, ber, bits_per_packet", [(0.5, 0.0, 800), (0.2, 0.0, 800), (0.0, 1e-3, 800)])
def test_lossy_link_mean_tries_match_the_loss_probability(loss, ber, bits_per_packet):
    # 5000 full packets; mean tries per packet of a geometric law = 1 / p_ok
    p_ok = (1 - loss) * (1 - ber) ** bits_per_packet
    link = Link(rate_bps=1e6, payload_bytes=bits_per_packet // 8, packet_loss=loss, bit_error_rate=ber,
                max_transmissions=1000, seed=11)
    t = link.send(5000 * bits_per_packet)
    assert t.packets == 5000 and t.delivered
    assert t.transmissions / t.packets == pytest.approx(1 / p_ok, rel=0.05)


def test_link_gives_up_after_max_transmissions():
    link = Link(rate_bps=1e6, payload_bytes=100, packet_loss=0.99, max_transmissions=1, seed=0)
    t = link.send(3200)  # 4 packets, one try each, 99 % loss: lost
    assert t.packets == 4 and t.transmissions == 4 and not t.delivered
    assert t.seconds == pytest.approx(3200 / 1e6)
    capped = Link(rate_bps=1e6, payload_bytes=100, packet_loss=0.999, max_transmissions=3, seed=0)
    t = capped.send(800)
    assert t.transmissions == 3 and not t.delivered  # capped at 3 tries, never more
    assert t.seconds == pytest.approx(3 * 800 / 1e6)


def test_link_seed_repeats_and_bad_settings_are_refused():
    a = [Link(packet_loss=0.3, payload_bytes=10, seed=4).send(4000).transmissions for _ in range(2)]
    assert a[0] == a[1]
    for kw in ({"packet_loss": 1.0}, {"packet_loss": -0.1}, {"bit_error_rate": 1.0}, {"rate_bps": 0.0},
               {"payload_bytes": -1}):
        with pytest.raises(SemreadyError):
            Link(**kw)


# --- ι end to end over a lossy link ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def language_and_items():
    """A language on 200 real 8×8 images (D = 192), and 60 other images to send."""
    d = load_data("sample")
    x = F.interpolate(d.images[:260].float(), size=8, mode="area").round().to(torch.uint8)
    y = np.asarray(d.labels[:260])
    lang = SemanticLanguage.build(x[:200], y[:200], 10, 30.0)
    return lang, Items(x[200:], y[200:], np.ones(60, dtype=bool))


# R = 1 kbit/s: ~0.4 s of link time per item against ~1e-4 s of generation, so generation noise is negligible
LOSSY = {"packet_loss": 0.3, "payload_bytes": 64, "rate_bps": 1000.0}


def _send(lang, items, seed=0, **over):
    cfg = CommConfig(**{**LOSSY, **over})
    link = Link(cfg.rate_bps, cfg.payload_bytes, cfg.packet_loss, cfg.bit_error_rate, cfg.max_transmissions, seed)
    return send_semantic(lang, items, cfg, link), cfg


def test_semantic_iota_accounts_for_retransmissions(language_and_items):
    lang, items = language_and_items
    lossy, cfg = _send(lang, items)
    clean, _ = _send(lang, items, packet_loss=0.0)
    tr = lossy["link"]
    assert tr.packets == math.ceil(lossy["stream_bits"] / (8 * 64)) and tr.delivered
    assert tr.transmissions > tr.packets  # the case under test: the stream was resent in part
    assert clean["link"].transmissions == clean["link"].packets
    assert np.array_equal(lossy["bits"], clean["bits"]) and lossy["passed"].all() and clean["passed"].all()
    assert np.array_equal(lossy["generated_packets"], clean["generated_packets"])
    # ι with loss strictly lower, by the link overhead: link bits sent / stream bits (≈ transmissions / packets)
    overhead = tr.seconds * cfg.rate_bps / lossy["stream_bits"]
    assert overhead > 1.2
    assert (lossy["impact"] < clean["impact"]).all()
    assert lossy["impact"] / clean["impact"] == pytest.approx(np.full(60, 1 / overhead), rel=0.02)


def test_semantic_tau_is_the_documented_link_bits_per_stream_bit(language_and_items):
    lang, items = language_and_items
    sem, cfg = _send(lang, items)
    tr = sem["link"]
    overhead = tr.seconds * cfg.rate_bps / sem["stream_bits"]  # bits sent on the link / stream bits
    tau = sem["bits"] * overhead / cfg.rate_bps + sem["generation_seconds"]
    expected = np.where(sem["passed"], sem["generated_packets"], 0.0) / tau
    assert sem["impact"] == pytest.approx(expected, rel=1e-9)
    # equivalently: the items' link times add up to the link's time
    assert float((sem["generated_packets"] / sem["impact"] - sem["generation_seconds"]).sum()) == pytest.approx(
        tr.seconds, rel=1e-9)


def test_generated_packets_count_the_regenerated_items(language_and_items):
    lang, items = language_and_items
    sem, cfg = _send(lang, items)
    regenerated = lang.regenerate(sem["rep"]).reshape(items.images.shape).numpy()
    assert cfg.classical_codec == "best"  # P_i is counted with the scheme's codec, the fair default
    from_regen = np.array([math.ceil(encode_item(r, "best", 30.0).bits / (8 * 64)) for r in regenerated])
    from_orig = np.array([math.ceil(encode_item(o, "best", 30.0).bits / (8 * 64)) for o in items.images.numpy()])
    assert sem["generated_packets"].tolist() == from_regen.tolist()
    assert (from_regen != from_orig).any()  # the case is one where it matters
    # ι by hand from the regenerated packets (τ with the link bits sent per stream bit)
    tr = sem["link"]
    tau = sem["bits"] * (tr.seconds * cfg.rate_bps / sem["stream_bits"]) / cfg.rate_bps + sem["generation_seconds"]
    assert sem["impact"] == pytest.approx(from_regen / tau, rel=1e-9)


def test_undelivered_semantic_stream_fails_every_item(language_and_items):
    lang, items = language_and_items
    sem, _ = _send(lang, items.subset(np.arange(60) < 10), packet_loss=0.95, max_transmissions=1)
    assert not sem["link"].delivered
    assert not sem["passed"].any() and (sem["impact"] == 0).all()
    assert (sem["generated_packets"] > 0).all()  # the packets were there; the failure zeroes ι


def test_classical_iota_over_a_lossy_link_by_hand(language_and_items):
    _, items = language_and_items
    few = items.subset(np.arange(60) < 12)
    cfg = CommConfig(**LOSSY)
    out = send_classical(few, cfg, Link(1000.0, 64, 0.3, 0.0, 16, seed=5))
    twin = Link(1000.0, 64, 0.3, 0.0, 16, seed=5)  # the same draws, item by item
    resent = 0
    for i, item in enumerate(few.images.numpy()):
        bits = encode_item(item, "best", 30.0).bits  # the default codec
        tr = twin.send(bits)
        assert tr.packets == math.ceil(bits / 512)
        assert out["bits"][i] == bits and out["seconds"][i] == pytest.approx(tr.seconds, rel=1e-12)
        assert out["impact"][i] == pytest.approx(1000.0 / 512 * tr.packets / tr.transmissions, rel=1e-12)
        resent += tr.transmissions > tr.packets
    assert resent > 0 and out["passed"].all()
    assert (out["impact"] <= 1000.0 / 512 + 1e-9).all()
