"""The semantic encoder/decoder (comm.entropy) on a language built from small structured items (8×8 RGB, four
content elements with different spreads): the range-coded stream decodes to exactly the representations that
went in (the teacher's own Z at several fidelities, Z cut at a bit cap, hand-made Z reaching every ladder step,
empty and full refinements and the extreme coefficients ±q_max), an empty set codes to an empty stream, and on the
language's own items the stream costs the summed information bits (−log2 p(Z) under θ) within a few 32-bit words.

Not checked: decoding with a different language. The stream carries no header or checksum, so what a decoder with
the wrong dictionary returns (garbage, or an error from the range decoder) is not defined behaviour.
"""

import numpy as np
import pytest
import torch

from semready.comm.entropy import Bitstream, decode, encode
from semready.comm.kpi import psnr_db
from semready.comm.language import STEPS, Representations, SemanticLanguage

FIELDS = ("cluster", "step", "k", "q")
M = 4


def _items(n=48, seed=0):
    """n uint8 8×8 RGB items: a random base pattern per content element plus noise of a per-element spread."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=(M, 3, 8, 8))
    clusters = np.arange(n) % M
    sigma = np.array([2.0, 8.0, 25.0, 60.0])[clusters][:, None, None, None]
    x = np.clip(base[clusters] + rng.normal(0.0, 1.0, size=(n, 3, 8, 8)) * sigma, 0, 255)
    return torch.from_numpy(x.astype(np.uint8)), clusters


@pytest.fixture(scope="module")
def items():
    return _items()


@pytest.fixture(scope="module")
def lang(items):
    images, clusters = items
    return SemanticLanguage.build(images, clusters, M, 36.0)


def _assert_same(a: Representations, b: Representations):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape, f
        assert np.array_equal(x, y), f


def _empty() -> Representations:
    return Representations(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                           np.zeros(0, np.int32))


@pytest.mark.parametrize("fidelity", [30.0, 36.0, 42.0])
def test_round_trip_is_exact_on_the_teachers_representations(items, fidelity):
    images, clusters = items
    lang = SemanticLanguage.build(images, clusters, M, fidelity)
    rep, capped = lang.represent(images, clusters)
    assert not capped.any()
    assert len(rep.q) > 0
    stream = encode(lang, rep)
    assert isinstance(stream, Bitstream) and stream.items == len(images)
    assert stream.words.dtype == np.uint32
    assert stream.bits == 32 * len(stream.words)
    decoded = decode(lang, stream)
    _assert_same(decoded, rep)
    # the apprentice regenerates from the decoded Z what the teacher's Z gives, and it meets the fidelity target
    regen = lang.regenerate(decoded)
    assert torch.equal(regen, lang.regenerate(rep))
    assert (psnr_db(regen, images.reshape(len(images), -1).float()) >= fidelity).all()


@pytest.mark.parametrize("fidelity", [30.0, 36.0, 42.0])
def test_stream_costs_the_information_bits_within_a_few_words(items, fidelity):
    images, clusters = items
    lang = SemanticLanguage.build(images, clusters, M, fidelity)
    rep, _ = lang.represent(images, clusters)
    info = float(lang.information_bits(rep).sum())
    bits = encode(lang, rep).bits
    # an ideal coder spends the information; a range coder loses at most a few 32-bit words on one message
    assert info - 32 <= bits <= info + 4 * 32, (bits, info)


def test_round_trip_of_representations_cut_at_a_bit_cap(items, lang):
    images, clusters = items
    full, _ = lang.represent(images, clusters)
    cap = float(np.median(lang.information_bits(full)))
    rep, capped = lang.represent(images, clusters, bit_cap=cap)
    assert capped.any() and not capped.all()
    assert (rep.k[capped] < full.k[capped]).all()
    stream = encode(lang, rep)
    _assert_same(decode(lang, stream), rep)
    info = float(lang.information_bits(rep).sum())
    assert info - 32 <= stream.bits <= info + 4 * 32


def test_round_trip_of_hand_made_representations_covering_every_step_and_length(lang):
    rng = np.random.default_rng(7)
    n = 2 * STEPS
    step = np.tile(np.arange(STEPS), 2)  # every ladder step, twice
    k = rng.integers(0, lang.n_values + 1, size=n)
    k[0], k[1], k[2] = 0, lang.n_values, 1  # empty, complete and one-coefficient refinements
    q = np.round(rng.laplace(0.0, 3.0, size=int(k.sum()))).astype(np.int32)
    q[:4] = [lang.q_max, -lang.q_max, 0, 0]  # k[0] = 0, so these are item 1's first coefficients
    q[-1] = 5  # a non-zero last coefficient
    rep = Representations(rng.integers(0, M, size=n).astype(np.int64), step.astype(np.int64), k.astype(np.int64), q)
    decoded = decode(lang, encode(lang, rep))
    _assert_same(decoded, rep)
    assert decoded.q[0] == lang.q_max and decoded.q[1] == -lang.q_max


def test_round_trip_of_a_subset_and_of_one_item(items, lang):
    images, clusters = items
    rep, _ = lang.represent(images, clusters)
    mask = np.zeros(len(rep), dtype=bool)
    mask[[1, 5, 6, 30]] = True
    sub = rep.subset(mask)
    _assert_same(decode(lang, encode(lang, sub)), sub)
    one = rep.subset(np.arange(len(rep)) == 3)
    stream = encode(lang, one)
    assert stream.items == 1
    _assert_same(decode(lang, stream), one)
    # fewer items, fewer bits
    assert encode(lang, sub).bits < encode(lang, rep).bits


def test_empty_representation_set(lang):
    stream = encode(lang, _empty())
    assert stream.items == 0
    assert stream.bits == 32 * len(stream.words) <= 32
    decoded = decode(lang, stream)
    assert len(decoded) == 0
    _assert_same(decoded, _empty())


def test_items_without_refinement_cost_only_their_header(lang):
    # every item k = 0: the stream codes content element, step and length only
    rep = Representations(np.array([0, 1, 2, 3, 0, 1]), np.array([0, 3, 15, 7, 1, 2]), np.zeros(6, np.int64),
                          np.zeros(0, np.int32))
    stream = encode(lang, rep)
    _assert_same(decode(lang, stream), rep)
    header = float(lang.information_bits(rep).sum())
    assert header == pytest.approx(
        sum(-float(lang.logits[c].double()) / np.log(2) for c in rep.cluster)
        + 6 * (np.log2(STEPS) + np.log2(lang.n_values + 1)), rel=1e-6)
    assert header - 32 <= stream.bits <= header + 4 * 32
