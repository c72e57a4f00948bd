"""ι and the link where items need several packets, lose packets and take bit errors; the fair default codec.

docs/kpis.md ("The classical path", "Semantic impact ι"). Every expected value is computed here independently:
packet counts from the codec's bytes, the link's tries re-drawn packet by packet from a generator seeded like the
link's (one scalar draw per packet, where the link draws a vector per message), ι from its definition.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semready.comm import classical
from semready.comm.classical import decode_item, encode_item
from semready.comm.kpi import psnr_db
from semready.comm.language import SemanticLanguage
from semready.comm.link import Link
from semready.comm.system import Items, run_scheme, send_classical, send_semantic
from semready.config import CommConfig, build_config
from semready.data import load_data


@pytest.fixture(scope="module")
def sample():
    d = load_data("sample")
    return d.images, np.asarray(d.labels)


def _resize(x: torch.Tensor, side: int) -> torch.Tensor:
    return F.interpolate(x.float(), size=side, mode="area").round().clamp(0, 255).to(torch.uint8)


def _noise(n: int, side: int, seed: int, channels: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=g)


def _by_hand(messages, payload, loss, ber, max_tx, seed):
    """(packets, transmissions, bits sent, delivered) per message: the link model of docs/kpis.md, packet by packet."""
    rng = np.random.default_rng(seed)
    out = []
    for bits in messages:
        n = math.ceil(bits / (8 * payload))
        sizes = [8 * payload] * (n - 1) + [bits - 8 * payload * (n - 1)]
        tries = [int(rng.geometric((1 - loss) * (1 - ber) ** s)) if loss or ber else 1 for s in sizes]
        sent = [min(t, max_tx) for t in tries]
        out.append((n, sum(sent), sum(t * s for t, s in zip(sent, sizes, strict=True)), max(tries) <= max_tx))
    return out


def _items(images: torch.Tensor) -> Items:
    n = len(images)
    return Items(images, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))


# --- the fair classical codec ---------------------------------------------------------------------------------


def test_the_default_codec_is_best_in_every_preset():
    assert CommConfig().classical_codec == "best"
    assert "lossless" in CommConfig.model_fields["classical_codec"].description
    for preset in ("quick", "paper"):
        assert build_config(preset).comm.classical_codec == "best"


def test_best_is_the_smallest_of_the_three_searches_and_skipping_jpeg_changes_no_pick(sample, monkeypatch):
    images, _ = sample
    items = [*_resize(images[:6], 16).numpy(), *images[6:12].numpy(), *_noise(2, 16, 1).numpy(),
             *_noise(2, 32, 2).numpy(), *images[12:15].float().mean(1, keepdim=True).round().to(torch.uint8).numpy(),
             np.full((3, 16, 16), 90, dtype=np.uint8)]
    searched = []
    lossy = classical._lossy
    monkeypatch.setattr(classical, "_lossy", lambda x, fmt, *rest: searched.append(fmt) or lossy(x, fmt, *rest))
    for x in items:
        # the definition, every search run: jpeg, webp, then png win ties in that order
        png = encode_item(x, "png", 30.0)
        found = [e for e in (encode_item(x, "jpeg", 30.0), encode_item(x, "webp", 30.0)) if e.codec != "png"]
        expected = min(found + [png], key=lambda e: len(e.payload))
        searched.clear()
        got = encode_item(x, "best", 30.0)
        assert (got.payload, got.codec, got.quality) == (expected.payload, expected.codec, expected.quality)
        assert len(got.payload) <= len(png.payload)
        back = decode_item(got, x.shape)
        assert psnr_db(torch.from_numpy(back)[None], torch.from_numpy(x)[None])[0] >= 30.0
        # JPEG is searched exactly when its headers alone do not exceed the smallest size without it
        without = min([len(e.payload) for e in found if e.codec == "webp"] + [len(png.payload)])
        floor = 330 if x.shape[0] == 1 else 625
        assert searched == (["WEBP", "JPEG"] if floor <= without else ["WEBP"]), (x.shape, without)
    assert {"webp", "png"} <= {encode_item(x, "best", 30.0).codec for x in items}


def test_the_jpeg_floor_is_below_every_jpeg(sample):
    assert classical._jpeg_overhead("RGB") == 625 and classical._jpeg_overhead("L") == 330  # Pillow's headers
    for item in [*sample[0][:2].numpy(), *_noise(2, 32, 3, channels=1).numpy(), np.zeros((3, 8, 8), np.uint8)]:
        img, mode = classical._image(item), "L" if item.shape[0] == 1 else "RGB"
        for q in (1, 20, 50, 90, 100):
            assert len(classical._save(img, "JPEG", quality=q, subsampling=0)) > classical._jpeg_overhead(mode)


def test_the_fast_fidelity_check_decides_exactly_as_psnr_db():
    item = np.zeros((3, 4, 4), dtype=np.uint8)
    back = item.copy()
    back[0, 1, 2] = 1  # squared error 1 over 48 values
    at = float(psnr_db(torch.from_numpy(back)[None], torch.from_numpy(item)[None])[0])
    assert at == pytest.approx(10 * math.log10(255 ** 2 * 48), rel=1e-12)
    assert classical._meets(back, item, at)  # exactly at the target: passes
    assert not classical._meets(back, item, math.nextafter(at, math.inf))
    assert classical._meets(back, item, at - 1e-6) and not classical._meets(back, item, at + 1e-6)
    assert classical._meets(item, item, 100.0)  # identical: inf dB
    big = np.full((3, 4, 4), 255, dtype=np.uint8)  # error 255 everywhere: 0 dB, no uint8 wrap-around
    assert classical._meets(big, item, 0.0) and not classical._meets(big, item, 1e-3)


# --- several packets per item -----------------------------------------------------------------------------------


def test_classical_items_of_several_packets_over_a_lossy_noisy_link(sample):
    images, _ = sample
    items = _items(torch.cat([_noise(4, 32, 5), images[20:24]]))
    cfg = CommConfig(payload_bytes=200, packet_loss=0.3, bit_error_rate=2e-5, rate_bps=1e5)
    assert cfg.classical_codec == "best"
    out = send_classical(items, cfg, Link(1e5, 200, 0.3, 2e-5, cfg.max_transmissions, seed=11))
    sizes = [len(encode_item(x, "best", 30.0).payload) for x in items.images.numpy()]
    packets = [math.ceil(b / 200) for b in sizes]  # bytes per 200-byte payload
    assert min(packets[:4]) >= 10 and len(set(packets)) > 2  # noise: many packets; real items: a few
    assert out["bits"].tolist() == [8 * b for b in sizes]
    hand = _by_hand([8 * b for b in sizes], 200, 0.3, 2e-5, cfg.max_transmissions, seed=11)
    assert [h[0] for h in hand] == packets
    assert sum(h[1] - h[0] for h in hand) > 5  # the case under test: retransmissions
    for i, (n, tx, sent_bits, delivered) in enumerate(hand):
        assert delivered
        assert out["seconds"][i] == pytest.approx(sent_bits / 1e5, rel=1e-12)
        assert out["impact"][i] == pytest.approx(1e5 / 1600 * n / tx, rel=1e-12)
    assert out["passed"].all() and (out["psnr"] >= 30.0).all()


def test_an_undelivered_classical_item_has_zero_impact_and_fails(sample):
    images, _ = sample
    items = _items(torch.cat([images[30:38], _noise(2, 32, 6)]))
    cfg = CommConfig(payload_bytes=200, packet_loss=0.5, max_transmissions=1)
    out = send_classical(items, cfg, Link(cfg.rate_bps, 200, 0.5, 0.0, 1, seed=2))
    bits = [encode_item(x, "best", 30.0).bits for x in items.images.numpy()]
    hand = _by_hand(bits, 200, 0.5, 0.0, 1, seed=2)
    delivered = np.array([h[3] for h in hand])
    assert delivered.any() and not delivered.all() and not delivered[-2:].any()  # 10+ packets: all lost
    assert out["passed"].tolist() == delivered.tolist()
    assert (out["psnr"] >= 30.0).all()  # the codec met the target; the link lost it
    expected = np.where(delivered, cfg.rate_bps / 1600, 0.0)  # one try per packet: packets / transmissions = 1
    assert out["impact"] == pytest.approx(expected, rel=1e-12)
    assert out["seconds"] == pytest.approx(np.array(bits) / cfg.rate_bps, rel=1e-12)  # every packet sent once


def test_link_tries_follow_the_loss_model_and_bit_errors_scale_with_packet_bits():
    # mean tries per packet = 1 / ((1 - loss)·(1 - BER)^bits): full 1,600-bit packets against 400-bit ones
    for bits, p in ((1600, 0.7 * (1 - 1e-4) ** 1600), (400, 0.7 * (1 - 1e-4) ** 400)):
        link = Link(1e6, 200, 0.3, 1e-4, 1000, seed=9)
        tx = np.array([link.send(bits).transmissions for _ in range(4000)])
        sd = math.sqrt(1 - p) / p / math.sqrt(len(tx))
        assert tx.mean() == pytest.approx(1 / p, abs=4 * sd), bits
    clean = Link(1e6, 200).send(12_345)
    assert (clean.packets, clean.transmissions, clean.delivered) == (8, 8, True)  # ⌈12345 / 1600⌉
    assert clean.seconds == pytest.approx(12_345 / 1e6, rel=1e-12)


@pytest.fixture(scope="module")
def language_16(sample):
    """A language on 300 real 16×16 items (D = 768), and 24 other items to send."""
    images, labels = sample
    x = _resize(images[:324], 16)
    lang = SemanticLanguage.build(x[:300], labels[:300], 10, 30.0)
    return lang, Items(x[300:], labels[300:324], np.ones(24, dtype=bool))


def _send(lang, items, seed, **over):
    cfg = CommConfig(**over)
    link = Link(cfg.rate_bps, cfg.payload_bytes, cfg.packet_loss, cfg.bit_error_rate, cfg.max_transmissions, seed)
    return send_semantic(lang, items, cfg, link), cfg


def test_semantic_iota_with_several_packets_per_item_over_a_lossy_noisy_link(language_16):
    lang, items = language_16
    sem, cfg = _send(lang, items, 3, payload_bytes=64, packet_loss=0.3, bit_error_rate=1e-4, rate_bps=1e4)
    regenerated = lang.regenerate(sem["rep"]).reshape(items.images.shape).numpy()
    p = np.array([math.ceil(len(encode_item(r, "best", 30.0).payload) / 64) for r in regenerated])
    assert sem["generated_packets"].tolist() == p.tolist()
    assert p.min() > 1 and len(set(p.tolist())) > 1  # P_i is not 1: ι is not just 1/τ
    (n, tx, sent_bits, delivered), = _by_hand([sem["stream_bits"]], 64, 0.3, 1e-4, 16, seed=3)
    tr = sem["link"]
    assert (tr.packets, tr.transmissions, tr.delivered) == (n, tx, delivered) and tx > n and delivered
    assert tr.seconds == pytest.approx(sent_bits / 1e4, rel=1e-12)
    # the link delivered: an item fails only where its Z was cut at the bit cap (which items that is depends on the
    # null-space directions of a 300-item basis, so on the machine's threads)
    assert np.array_equal(sem["passed"], ~sem["capped"]) and sem["passed"].mean() > 0.9
    tau = sem["bits"] * (sent_bits / sem["stream_bits"]) / 1e4 + sem["generation_seconds"]
    assert sem["impact"] == pytest.approx(np.where(sem["passed"], p / tau, 0.0), rel=1e-9)


def test_an_undelivered_semantic_stream_zeroes_every_impact(language_16):
    lang, items = language_16
    sem, _ = _send(lang, items, 4, payload_bytes=64, packet_loss=0.5, bit_error_rate=1e-4, max_transmissions=1)
    (n, tx, _, delivered), = _by_hand([sem["stream_bits"]], 64, 0.5, 1e-4, 1, seed=4)
    assert n > 10 and not delivered and not sem["link"].delivered and sem["link"].transmissions == tx == n
    assert not sem["passed"].any() and (sem["impact"] == 0).all()
    assert (sem["generated_packets"] > 1).all()  # the regenerations were worth packets; the loss zeroes ι


def test_iota_is_one_over_tau_when_every_item_fits_one_packet(language_16):
    lang, items = language_16
    sem, cfg = _send(lang, items, 0)  # defaults: 1,472-byte payload, error-free link
    assert (sem["generated_packets"] == 1).all()
    assert np.array_equal(sem["passed"], ~sem["capped"]) and sem["passed"].mean() > 0.9  # see the test above
    one_over_tau = 1 / (sem["bits"] / cfg.rate_bps + sem["generation_seconds"])
    assert sem["impact"] == pytest.approx(np.where(sem["passed"], one_over_tau, 0.0), rel=1e-9)
    # docs/kpis.md: any 16×16 RGB item fits one packet, even uniform noise as PNG; 32×32 noise needs two
    assert len(encode_item(_noise(1, 16, 7).numpy()[0], "png", 30.0).payload) <= 1472
    assert 1472 < len(encode_item(_noise(1, 32, 7).numpy()[0], "best", 30.0).payload) <= 2 * 1472


def test_the_disentangled_schemes_memorizable_items_take_the_default_codec(sample):
    images, labels = sample
    x = _resize(images[400:460], 16)
    items = Items(x, labels[400:460] % 3, np.arange(60) % 4 != 0)  # every 4th item memorizable
    fit, stream = items.subset(np.arange(60) < 40), items.subset(np.arange(60) >= 40)
    cfg = CommConfig(prequential_chunks=2, gamma_samples=2)
    summary, table, _ = run_scheme("disentangled", fit, stream, 3, cfg)
    memorized = table["path"] == "classical"
    assert memorized.tolist() == (~stream.learnable).tolist() and memorized.sum() == 5
    arr = stream.images.numpy()
    best = [encode_item(arr[i], "best", 30.0).bits for i in np.flatnonzero(memorized)]
    png = [encode_item(arr[i], "png", 30.0).bits for i in np.flatnonzero(memorized)]
    assert table["bits"][memorized].tolist() == best and sum(best) < sum(png)
    assert summary["mean_classical_bits"] == pytest.approx(np.mean(best))
