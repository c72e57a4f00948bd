"""Pins comm behaviour that mutation testing showed unguarded.

- entropy: the wire format (the content-element prior quantised with constriction's fast ``perfect=False``
  quantisation, k uniform over D+1 values: log2(D+1) bits, docs/kpis.md), the prior's independence of a constant
  added to the logits (π = softmax(a)), clipping of out-of-range content elements at both ends, and the decoded
  dtypes (int64 cluster/step/k, int32 q, also when no coefficient is coded);
- kpi: float64 results of packets_for / classical_impact / finite_mean even for float32 or int16 input,
  finite_mean's None for no finite value, and compare's impact gain when vanilla's impact lies in (0, 1];
- representation: the quantised Laplace folds its tails into ±q_max exactly (hand-computed end probabilities).
"""

import math

import constriction
import numpy as np
import pytest
import torch

from semready.comm.complexity import initial_language
from semready.comm.entropy import Bitstream, decode, encode
from semready.comm.kpi import classical_impact, compare, finite_mean, packets_for
from semready.comm.language import STEPS, Representations, SemanticLanguage
from semready.comm.representation import laplace_log2_pmf


def _rep(cluster, step, k, q) -> Representations:
    return Representations(np.asarray(cluster, np.int64), np.asarray(step, np.int64), np.asarray(k, np.int64),
                           np.asarray(q, np.int32))


def _skewed_language() -> SemanticLanguage:
    """A 1×2×2 language (D = 4) with four content elements and a clearly non-uniform prior."""
    lang = initial_language((1, 2, 2), 4, 30.0)
    p = torch.tensor([0.55, 0.25, 0.15, 0.05], dtype=torch.float64)
    lang.logits = p.log().float()
    return lang


# --- entropy: wire format ---------------------------------------------------------------------------------------

def _reference_words(lang: SemanticLanguage, rep: Representations) -> np.ndarray:
    """The stream as the protocol describes it, written directly with constriction (no semready coder)."""
    m = constriction.stream.model
    probs = np.exp(lang.logits.double().numpy())
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(rep.cluster.astype(np.int32), m.Categorical(probs / probs.sum(), perfect=False))
    enc.encode(rep.step.astype(np.int32), m.Uniform(STEPS))
    enc.encode(rep.k.astype(np.int32), m.Uniform(lang.n_values + 1))
    if len(rep.q):
        enc.encode(rep.q.astype(np.int32), m.QuantizedLaplace(-lang.q_max, lang.q_max), np.zeros(len(rep.q)),
                   lang.coefficient_scales(rep).numpy())
    return enc.get_compressed()


def _mixed_rep(n=60, seed=3) -> Representations:
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 5, size=n)
    return _rep(rng.choice(4, size=n, p=[0.55, 0.25, 0.15, 0.05]), rng.integers(0, STEPS, size=n), k,
                rng.integers(-3, 4, size=int(k.sum())))


def test_stream_words_match_the_protocols_reference_encoding():
    lang, rep = _skewed_language(), _mixed_rep()
    ref = _reference_words(lang, rep)
    got = encode(lang, rep).words
    assert got.dtype == np.uint32
    assert got.tolist() == ref.tolist()


def test_decoder_reads_a_stream_written_by_the_reference_encoder():
    lang, rep = _skewed_language(), _mixed_rep(seed=4)
    back = decode(lang, Bitstream(_reference_words(lang, rep), len(rep)))
    for field in ("cluster", "step", "k", "q"):
        assert getattr(back, field).tolist() == getattr(rep, field).tolist(), field


def test_lengths_cost_log2_d_plus_1_bits_each():
    # D = 1, two equiprobable content elements: per item 1 (l) + 4 (s, 16 steps) + log2(2) = 1 (k) = 6 bits.
    # Coding k over D + 2 values instead would cost log2(3) ≈ 1.585 bits each: 640 items → +374 bits.
    lang = initial_language((1, 1, 1), 2, 30.0)
    n = 640
    rep = _rep(np.arange(n) % 2, np.arange(n) % STEPS, np.zeros(n), [])
    bits = encode(lang, rep).bits
    assert 6 * n <= bits <= 6 * n + 64


@pytest.mark.parametrize("shift", [-400.0, 400.0])
def test_prior_depends_on_logits_only_up_to_a_constant(shift):
    # π = softmax(a): logits a and a + c are the same prior (integers, so a + c is exact in float32)
    rep = _mixed_rep(seed=5)
    lang, shifted = _skewed_language(), _skewed_language()
    lang.logits = torch.tensor([0.0, -1.0, -2.0, -3.0])
    shifted.logits = lang.logits + shift
    stream = encode(shifted, rep)
    assert stream.words.tolist() == encode(lang, rep).words.tolist()
    assert decode(shifted, stream).cluster.tolist() == rep.cluster.tolist()


@pytest.mark.parametrize("cluster, expected", [(-1, 0), (-7, 0), (4, 3), (5, 3), (99, 3)])
def test_out_of_range_content_elements_are_clipped_into_range(cluster, expected):
    lang = _skewed_language()  # M = 4: valid elements 0..3
    rep = _rep([1, cluster, 2], [0, 1, 2], [0, 1, 0], [2])
    back = decode(lang, encode(lang, rep))
    assert back.cluster.tolist() == [1, expected, 2]
    assert back.step.tolist() == [0, 1, 2] and back.k.tolist() == [0, 1, 0] and back.q.tolist() == [2]


def test_decoded_dtypes_with_coefficients():
    lang = _skewed_language()
    back = decode(lang, encode(lang, _rep([0, 3], [2, 5], [2, 1], [1, -2, 3])))
    assert back.cluster.dtype == np.int64 and back.step.dtype == np.int64 and back.k.dtype == np.int64
    assert back.q.dtype == np.int32
    assert back.q.tolist() == [1, -2, 3]


def test_decoded_dtypes_without_any_coefficient():
    lang = _skewed_language()
    back = decode(lang, encode(lang, _rep([0, 2, 1], [0, 0, 15], [0, 0, 0], [])))
    assert back.cluster.dtype == np.int64
    assert back.q.dtype == np.int32 and back.q.shape == (0,)
    assert back.cluster.tolist() == [0, 2, 1] and back.step.tolist() == [0, 0, 15]


# --- kpi ----------------------------------------------------------------------------------------------------------

def test_packets_for_is_float64_even_for_float32_bits():
    got = packets_for(np.array([0, 1, 11776, 11777], dtype=np.float32), 1472)
    assert got.dtype == np.float64
    assert got.tolist() == [0.0, 1.0, 1.0, 2.0]


def test_classical_impact_is_float64_even_for_narrow_inputs():
    got = classical_impact(0.1, np.array([3, 1], dtype=np.float32), np.array([3, 1], dtype=np.int16))
    assert got.dtype == np.float64
    # by hand in float64: 0.1 * 3 / 3 and 0.1 * 1 / 1
    assert got.tolist() == [0.1 * 3.0 / 3.0, 0.1]


def test_finite_mean_by_hand():
    assert finite_mean(np.array([1.0, 3.0])) == 2.0
    assert finite_mean([5.0]) == 5.0
    assert finite_mean(np.array([np.inf, 4.0, -np.inf, np.nan, 6.0])) == 5.0


def test_finite_mean_is_none_without_a_finite_value():
    assert finite_mean(np.array([np.inf, np.nan, -np.inf])) is None
    assert finite_mean(np.zeros(0)) is None


def test_finite_mean_averages_float32_input_in_float64():
    # float32 accumulation loses the two 1s next to 2^24: (16777216 + 1 + 1) / 3 = 5592406 exactly in float64
    assert finite_mean(np.array([16777216.0, 1.0, 1.0], dtype=np.float32)) == 5592406.0


def test_compare_impact_gain_when_vanilla_impact_is_below_one():
    kpis = {"vanilla": {"mean_representation_bits": 200.0, "semantic_impact": 0.5, "total_bits_per_item": 400.0},
            "disentangled": {"mean_representation_bits": 100.0, "semantic_impact": 0.75,
                             "total_bits_per_item": 300.0}}
    out = compare(kpis)
    assert out["semantic_impact_gain_pct"] == pytest.approx(50.0)
    kpis["vanilla"]["semantic_impact"] = 1.0
    assert compare(kpis)["semantic_impact_gain_pct"] == pytest.approx(-25.0)


# --- representation: quantised Laplace tails ---------------------------------------------------------------------

def _laplace_cdf(t: float, b: float) -> float:
    return 0.5 * math.exp(t / b) if t < 0 else 1 - 0.5 * math.exp(-t / b)


@pytest.mark.parametrize("q_max, b", [(2, 1.0), (3, 0.7), (1, 2.5)])
def test_laplace_pmf_folds_both_tails_into_the_end_symbols(q_max, b):
    q = torch.arange(-q_max, q_max + 1)
    got = laplace_log2_pmf(q, torch.tensor(b, dtype=torch.float64), q_max)
    expected = []
    for v in range(-q_max, q_max + 1):
        upper = 1.0 if v == q_max else _laplace_cdf(v + 0.5, b)
        lower = 0.0 if v == -q_max else _laplace_cdf(v - 0.5, b)
        expected.append(math.log2(upper - lower))
    assert got.tolist() == pytest.approx(expected, abs=1e-12)
    # the ends hold the whole tail beyond ±(q_max − 0.5): 0.5·exp(−(q_max − 0.5)/b) each
    tail = math.log2(0.5 * math.exp(-(q_max - 0.5) / b))
    assert float(got[0]) == pytest.approx(tail, abs=1e-12)
    assert float(got[-1]) == pytest.approx(tail, abs=1e-12)
    assert float((2 ** got).sum()) == pytest.approx(1.0, abs=1e-12)
