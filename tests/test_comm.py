"""The semantic communication system: language, codecs, link, KPIs — exact round trips and hand-checked values."""

import io as pyio
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from semready.comm import entropy
from semready.comm.classical import decode_item, encode_item
from semready.comm.complexity import expected_cross_entropy, kl_to_prior, language_complexity, prior_mean
from semready.comm.kpi import attribute_stream_bits, classical_impact, psnr_db, semantic_impact
from semready.comm.language import SemanticLanguage
from semready.comm.link import Link
from semready.comm.system import Items, run_scheme
from semready.config import CommConfig
from semready.data import load_data
from semready.errors import SemreadyError


@pytest.fixture(scope="module")
def small():
    """400 real CIFAR-10 images at 8×8 (D = 192) with their labels as content elements, plus 40 noise items."""
    d = load_data("sample")
    x = F.interpolate(d.images[:400].float(), size=8, mode="area").round().to(torch.uint8)
    noise = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return x, d.labels[:400], noise


def test_semantic_stream_round_trips_exactly_and_bits_are_the_stream(small):
    x, y, noise = small
    lang = SemanticLanguage.build(x[:300], y[:300], 10, 30.0)
    items = torch.cat([x[300:], noise])
    clusters = np.concatenate([y[300:], np.zeros(40, dtype=np.int64)])
    rep, capped = lang.represent(items, clusters)
    stream = entropy.encode(lang, rep)
    back = entropy.decode(lang, stream)
    assert np.array_equal(back.q, rep.q) and np.array_equal(back.k, rep.k)
    assert np.array_equal(back.cluster, rep.cluster) and np.array_equal(back.step, rep.step)
    assert stream.bits == 32 * len(stream.words)
    info = lang.information_bits(rep)
    per_item = attribute_stream_bits(info, stream.bits)
    assert per_item.sum() == pytest.approx(stream.bits)
    assert abs(stream.bits - info.sum()) < 0.02 * info.sum() + 64  # an entropy coder spends ~ the information
    # every item within the cap meets the fidelity target at the receiver; capped ones respect the cap
    psnr = psnr_db(lang.regenerate(back), items.reshape(len(items), -1)).numpy()
    assert (psnr[~capped] >= 30.0).all()
    assert (info[capped] <= 8 * lang.n_values + 1e-6).all()


def test_semantic_poor_items_cost_far_more_than_structured_ones(small):
    x, y, noise = small
    lang = SemanticLanguage.build(x[:300], y[:300], 10, 30.0)
    clean_bits = lang.information_bits(lang.represent(x[300:], y[300:])[0]).mean()
    noise_rep, capped = lang.represent(noise, np.zeros(40, dtype=np.int64))
    assert lang.information_bits(noise_rep).mean() > 3 * clean_bits
    # a language polluted by noise codes the structured items longer (the paper's vanilla effect)
    polluted = SemanticLanguage.build(torch.cat([x[:300], noise[:20]]), np.concatenate([y[:300], np.zeros(20, int)]),
                                      10, 30.0)
    assert polluted.information_bits(polluted.represent(x[300:], y[300:])[0]).mean() > clean_bits


@pytest.mark.parametrize("codec", ["png", "zlib", "lzma"])
def test_lossless_classical_codecs_round_trip(small, codec):
    x, _, noise = small
    for item in (x[0].numpy(), noise[0].numpy()):
        enc = encode_item(item, codec, 30.0)
        assert np.array_equal(decode_item(enc, item.shape), item)
        assert 0 < enc.header_stripped_bytes < len(enc.payload)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_lossy_codec_picks_the_lowest_quality_meeting_the_target(codec):
    item = load_data("sample").images[7].numpy()
    enc = encode_item(item, codec, 30.0)
    assert enc.codec == codec
    back = decode_item(enc, item.shape)
    assert float(psnr_db(torch.from_numpy(back)[None], torch.from_numpy(item)[None])[0]) >= 30.0
    if enc.quality > 1:  # one quality lower misses the target
        img = Image.fromarray(item.transpose(1, 2, 0))
        buf = pyio.BytesIO()
        img.save(buf, format=codec.upper(), quality=enc.quality - 1, **({"subsampling": 0} if codec == "jpeg" else {}))
        worse = np.asarray(Image.open(pyio.BytesIO(buf.getvalue())).convert("RGB")).transpose(2, 0, 1)
        assert float(psnr_db(torch.from_numpy(worse.copy())[None], torch.from_numpy(item)[None])[0]) < 30.0


def test_link_packets_time_and_retransmission():
    link = Link(rate_bps=1e6, payload_bytes=100)
    t = link.send(2000)  # 2000 bits = 250 bytes -> 3 packets
    assert (t.packets, t.transmissions, t.delivered) == (3, 3, True)
    assert t.seconds == pytest.approx(2000 / 1e6)
    lossy = Link(rate_bps=1e6, payload_bytes=100, packet_loss=0.5, seed=3)
    runs = [lossy.send(80_000) for _ in range(5)]
    assert all(r.transmissions > r.packets for r in runs)  # 100 packets at 50 % loss: resends happen
    again = Link(rate_bps=1e6, payload_bytes=100, packet_loss=0.5, seed=3)
    assert [again.send(80_000).transmissions for _ in range(5)] == [r.transmissions for r in runs]
    with pytest.raises(SemreadyError, match="payload"):
        Link(payload_bytes=0)


def test_kpis_by_hand():
    # two semantic items: 1000 and 3000 information bits in a 4064-bit stream -> 32 bits overhead each
    bits = attribute_stream_bits(np.array([1000.0, 3000.0]), 4064)
    assert bits.tolist() == [1032.0, 3032.0]
    # ι = P / (|Z|/R + t_gen): 2 packets, 1032 bits at 1 Mbit/s, 0.5 ms generation; a failed item generates 0
    iota = semantic_impact(np.array([2.0, 3.0]), np.array([True, False]), bits, 1e6, 0.0005)
    assert iota[0] == pytest.approx(2 / (1032e-6 + 0.0005)) and iota[1] == 0.0
    # a classical packet generates itself: R / (8·payload); a resend halves it
    assert classical_impact(1e6 / (8 * 1472), np.array([2]), np.array([2]))[0] == pytest.approx(1e6 / 11776)
    assert classical_impact(1e6 / (8 * 1472), np.array([2]), np.array([4]))[0] == pytest.approx(1e6 / 11776 / 2)


def kl_by_hand(lang) -> float:
    """KL(Λ‖ζ) parameter by parameter: ½·(v + (μ − μ0)² − 1 − ln v) with ζ's unit variance."""
    b0 = 255 / math.sqrt(12) * math.sqrt(2 / math.pi)  # E|c| of a coefficient of uniform pixel noise
    m = len(lang.logits)
    terms = [(float(a), 1 / (float(c) + 1), -math.log(m)) for a, c in zip(lang.logits, lang.counts, strict=True)]
    for row in range(m + 1):  # one scale per element and coefficient; row M the pooled ones
        items = (float(lang.counts[row]) + 8 * (float(lang.counts[row]) > 0)) if row < m else lang.n_items
        terms += [(float(ls), 1 / max(items, 1), math.log(b0)) for ls in lang.log_scales[row]]
    return sum(0.5 * (v + (mu - mu0) ** 2 - 1 - math.log(v)) for mu, v, mu0 in terms)


def test_language_complexity_parts(small):
    x, y, _ = small
    lang = SemanticLanguage.build(x[:300], y[:300], 10, 30.0)
    rep, _ = lang.represent(x[300:], y[300:])
    assert kl_to_prior(lang) > 0
    # with Λ's variance → 0 the expected cross-entropy is the code length under θ̂
    collapsed = SemanticLanguage(lang.means, lang.basis, lang.axes, lang.spans, lang.log_scales, lang.logits,
                                 lang.counts * 0 + 1e12, lang.shape, lang.fidelity_psnr_db, 10**12)
    ce = expected_cross_entropy(collapsed, rep, samples=2)
    assert ce == pytest.approx(lang.information_bits(rep).sum() * math.log(2), rel=1e-6)
    # Γ̂ = E[cross-entropy] + β·KL, with the KL by the closed form for diagonal Gaussians computed here (docs/kpis.md:
    # Λ = N(θ̂, 1/(n_l + 1) per logit, 1/n per ln b_j), ζ = N((−ln M, ln b_0), 1)) and a second β
    kl = kl_by_hand(lang)
    assert kl_to_prior(lang) == pytest.approx(kl, rel=1e-9)
    ce_mc = expected_cross_entropy(lang, rep, samples=3, seed=1)
    for beta in (0.0, 2.5):
        g = language_complexity(lang, rep, beta=beta, samples=3, seed=1)
        assert g["kl_nats"] == pytest.approx(kl, rel=1e-9)
        dictionary = 8 * len(lang.dictionary_bytes(int(rep.k.max()), with_model=False)) * math.log(2)
        assert g["dictionary_nats"] == pytest.approx(dictionary, rel=1e-12) and dictionary > 0
        assert g["gamma_nats"] == pytest.approx(ce_mc + beta * kl + dictionary, rel=1e-9)
        assert g["gamma_nats_per_item"] == pytest.approx((ce_mc + beta * kl + dictionary) / len(rep), rel=1e-9)
        assert g["cross_entropy_nats_per_item"] == pytest.approx(ce_mc / len(rep), rel=1e-9)
        assert g["heldout_items"] == len(rep) and g["beta"] == beta
    # on the collapsed Λ the cross-entropy part is the code length under θ̂, in nats
    g = language_complexity(collapsed, rep, beta=1.0, samples=2)
    assert g["gamma_nats"] == pytest.approx(lang.information_bits(rep).sum() * math.log(2) + kl_by_hand(collapsed)
                                            + g["dictionary_nats"], rel=1e-6)
    # KL vanishes when Λ sits on ζ with unit variance
    scales = prior_mean(lang)[10:].float().reshape(lang.log_scales.shape)
    at_prior = SemanticLanguage(lang.means, lang.basis, lang.axes, lang.spans, scales,
                                prior_mean(lang)[:10].float(), torch.zeros(10), lang.shape, 30.0, 0)
    assert kl_to_prior(at_prior) == pytest.approx(0.0, abs=1e-6)


def test_language_artifact_round_trip_and_version_check(small, tmp_path):
    x, y, _ = small
    lang = SemanticLanguage.build(x[:100], y[:100], 10, 30.0)
    lang.save(tmp_path / "lang")
    back = SemanticLanguage.load(tmp_path / "lang")
    assert torch.equal(back.basis, lang.basis) and back.shape == lang.shape
    meta = json.loads((tmp_path / "lang.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "lang.json").write_text(json.dumps(meta))
    with pytest.raises(SemreadyError, match="format 99"):
        SemanticLanguage.load(tmp_path / "lang")
    with pytest.raises(SemreadyError, match="zero items"):
        SemanticLanguage.build(x[:0], y[:0], 10, 30.0)
    with pytest.raises(SemreadyError, match="at most"):
        SemanticLanguage.build(torch.zeros(2, 3, 64, 64, dtype=torch.uint8), np.zeros(2, int), 10, 30.0)


def test_schemes_on_a_tiny_stream(small):
    x, y, noise = small
    images = torch.cat([x, noise])
    clusters = np.concatenate([y, np.zeros(40, dtype=np.int64)])
    learnable = np.concatenate([np.ones(400, bool), np.zeros(40, bool)])
    items = Items(images, clusters, learnable)
    fit_mask = np.arange(440) % 2 == 0
    fit, stream = items.subset(fit_mask), items.subset(~fit_mask)
    cfg = CommConfig(prequential_chunks=2, gamma_samples=2)
    runs = {s: run_scheme(s, fit, stream, 10, cfg) for s in ("classical", "vanilla", "disentangled")}
    out = {s: r[0] for s, r in runs.items()}
    for row, table, _ in runs.values():
        assert row["semantic_items"] + row["classical_items"] == len(stream)
        # one fidelity criterion for every scheme and path: passed <=> PSNR at the receiver >= target
        assert np.array_equal(table["passed"], table["psnr"] >= cfg.fidelity_psnr_db)
    assert out["classical"]["fidelity_pass_rate"] == 1.0 and out["classical"]["mean_representation_bits"] is None
    assert out["disentangled"]["semantic_items"] == int(stream.learnable.sum())
    # the disentangled language never saw noise: its structured items are shorter than vanilla's
    assert out["disentangled"]["mean_representation_bits"] < out["vanilla"]["mean_representation_bits"]
    # and on the same items (X_l) its language is the simpler one, dictionary included
    assert out["disentangled"]["gamma_nats_per_learnable_item"] < out["vanilla"]["gamma_nats_per_learnable_item"]


def test_complexity_policy_keeps_the_largest_set_within_budget():
    from semready.comm.complexity import heldout_complexity_per_item
    from semready.split.policies import learnable_threshold

    d = load_data("sample")
    clean = F.interpolate(d.images[:1200].float(), size=8, mode="area").round().to(torch.uint8)
    noise = torch.randint(0, 256, (200, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    images = torch.cat([clean, noise])
    clusters = np.concatenate([d.labels[:1200], np.zeros(200, dtype=np.int64)])
    is_noise = np.arange(1400) >= 1200
    learn = np.where(is_noise, np.linspace(0.0, 0.1, 1400), np.linspace(0.5, 1.0, 1400))  # noise least learnable
    cfg = CommConfig(gamma_samples=2, element_span_max=0)  # the policy under test, not the element subspaces

    def gamma(mask):
        return heldout_complexity_per_item(images[torch.from_numpy(mask)], clusters[mask], 10, cfg)

    clean_only, everything = gamma(~is_noise), gamma(np.ones(1400, bool))
    assert clean_only < everything  # semantic-poor items make the language more complex
    budget = (clean_only + everything) / 2
    threshold = learnable_threshold(learn, "complexity", budget, gamma)
    chosen = learn >= threshold
    assert gamma(chosen) <= budget and chosen.sum() < 1400  # within budget, and not everything fits
    assert is_noise[chosen].mean() < is_noise.mean()  # the least learnable (noise) items are the ones left out
    with pytest.raises(SemreadyError, match="raise --value"):
        learnable_threshold(learn, "complexity", 1e-3, gamma)
    with pytest.raises(SemreadyError, match="complexity budget"):
        learnable_threshold(learn, "complexity", 0.0, gamma)
