"""The language depends on the teacher's clusters: per-element axes chosen by description length (issue 14, item 1).

Synthetic items where each content element varies along its own direction inside the coarse shared directions:
the right elements earn their own axes and shorter Z_i; random elements or unstructured items do not.
"""

import numpy as np
import pytest
import torch

from semready.comm import entropy
from semready.comm.elements import SPANS, choose_span, element_axes, shrunk_scales
from semready.comm.kpi import psnr_db
from semready.comm.language import SemanticLanguage

SHAPE = (3, 4, 4)  # D = 48


def structured(n_per: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Two elements, each varying mostly along its own direction, plus a little noise.

    The directions are 45° apart, so the pooled principal directions are their sum and difference: in the shared
    basis each element's variation is spread over two coefficients, and only the element's own axes undo it.
    """
    g = torch.Generator().manual_seed(seed)
    d = int(np.prod(SHAPE))
    a, b = torch.linalg.qr(torch.randn(d, 2, generator=torch.Generator().manual_seed(99)))[0].T
    directions = torch.stack([a, (a + b) / 2 ** 0.5])
    items, labels = [], []
    for el in range(2):
        amp = 60 * torch.randn(n_per, 1, generator=g)
        x = 128 + amp * directions[el] + 6 * torch.randn(n_per, d, generator=g)
        items.append(x)
        labels.append(np.full(n_per, el))
    x = torch.cat(items).clamp(0, 255).round().to(torch.uint8).reshape(-1, *SHAPE)
    return x, np.concatenate(labels)


@pytest.fixture(scope="module")
def data():
    fit, fit_labels = structured(300, 0)
    sent, sent_labels = structured(100, 1)
    return fit, fit_labels, sent, sent_labels


def test_the_right_elements_earn_axes_and_shorter_representations(data):
    fit, labels, sent, sent_labels = data
    own = SemanticLanguage.build(fit, labels, 2, 30.0)
    shared = SemanticLanguage.build(fit, labels, 2, 30.0, max_span=0)
    assert (own.spans[:2] > 0).all() and own.spans[2] == 0  # row M (unseen elements) keeps the shared basis
    assert (shared.spans == 0).all() and shared.axes.numel() == 0
    rep_own, _ = own.represent(sent, sent_labels)
    rep_shared, _ = shared.represent(sent, sent_labels)
    bits_own, bits_shared = own.information_bits(rep_own), shared.information_bits(rep_shared)
    assert bits_own.mean() < 0.97 * bits_shared.mean()  # the element's own axes save bits on held-out items
    x = sent.reshape(len(sent), -1)
    assert (psnr_db(own.regenerate(rep_own), x) >= 30).all()
    # random elements: the same language machinery, but the elements share nothing: longer Z_i
    rnd = np.random.default_rng(0).integers(0, 2, len(fit))
    random_lang = SemanticLanguage.build(fit, rnd, 2, 30.0)
    rep_rnd, _ = random_lang.represent(sent, np.random.default_rng(1).integers(0, 2, len(sent)))
    assert bits_own.mean() < 0.97 * random_lang.information_bits(rep_rnd).mean()


def test_coefficients_are_the_element_basis_computed_by_hand(data):
    fit, labels, sent, sent_labels = data
    lang = SemanticLanguage.build(fit, labels, 2, 30.0)
    rep, _ = lang.represent(sent, sent_labels)
    q = rep.dense(lang.n_values)
    x = sent.reshape(len(sent), -1).float()
    for i in range(0, len(sent), 17):
        el = int(sent_labels[i])
        k = int(lang.spans[el])
        rotate = torch.eye(lang.n_values)
        rotate[:k, :k] = lang.axes[el, :k, :k]
        basis = rotate @ lang.basis  # B_l = blockdiag(W_l, I)·U
        assert torch.allclose(basis @ basis.T, torch.eye(lang.n_values), atol=1e-4)  # still orthonormal
        step = float(lang.steps[rep.step[i]])
        by_hand = torch.round(basis @ (x[i] - lang.means[el]) / step)
        assert torch.equal(q[i], by_hand)
        regenerated = (lang.means[el] + step * q[i] @ basis).round().clamp(0, 255)
        assert torch.equal(lang.regenerate(rep.subset(np.arange(len(sent)) == i))[0].float(), regenerated)


def test_stream_round_trip_dictionary_and_artifact_carry_the_axes(data, tmp_path):
    fit, labels, sent, sent_labels = data
    lang = SemanticLanguage.build(fit, labels, 2, 30.0)
    rep, _ = lang.represent(sent, sent_labels)
    back = entropy.decode(lang, entropy.encode(lang, rep))
    assert np.array_equal(back.q, rep.q) and np.array_equal(back.k, rep.k)
    without_axes = SemanticLanguage(lang.means, lang.basis, lang.axes[:, :0, :0], lang.spans * 0, lang.log_scales,
                                    lang.logits, lang.counts, lang.shape, 30.0, lang.n_items)
    k = int(lang.spans.max())
    # float16 W_l adds 2·Σ K_l² raw bytes before compression; the compressed dictionary grows with them
    assert len(lang.dictionary_bytes()) > len(without_axes.dictionary_bytes()) + k * k
    lang.save(tmp_path / "lang")
    loaded = SemanticLanguage.load(tmp_path / "lang")
    assert torch.equal(loaded.axes, lang.axes) and torch.equal(loaded.spans, lang.spans)
    assert np.array_equal(loaded.information_bits(rep), lang.information_bits(rep))


def test_unstructured_items_fall_back_to_the_shared_basis():
    g = torch.Generator().manual_seed(3)
    noise = torch.randint(0, 256, (400, *SHAPE), dtype=torch.uint8, generator=g)
    lang = SemanticLanguage.build(noise, np.arange(400) % 2, 2, 30.0)
    assert (lang.spans == 0).all()


def test_choose_span_costs_by_hand():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 4, generator=g) * torch.tensor([20.0, 5.0, 1.0, 1.0])
    pooled = torch.tensor([10.0, 10.0, 10.0, 10.0])
    k, w, costs = choose_span(a, pooled, 1.0, 4000, (0, 4))
    assert set(costs) == {0, 4}
    # span 4 pays 16·4² = 256 dictionary bits on top of its coefficient bits
    from semready.comm.elements import code_bits, laplace_scales, principal_axes

    rotated = a @ principal_axes(a).T
    by_hand = code_bits(rotated, laplace_scales(rotated), 1.0, 4000) + 256
    assert costs[4] == pytest.approx(by_hand, rel=1e-9)
    assert costs[0] == pytest.approx(code_bits(a, shrunk_scales(a, pooled), 1.0, 4000), rel=1e-9)
    assert k == min(costs, key=costs.get) and w.shape == (k, k)


def test_element_axes_respects_the_cap_and_small_elements():
    c = torch.randn(100, 8, generator=torch.Generator().manual_seed(1))
    c[:90, :4] += 50 * torch.randn(90, 1, generator=torch.Generator().manual_seed(2))
    clusters = np.r_[np.zeros(90, dtype=np.int64), np.ones(10, dtype=np.int64)]
    axes, spans, scales = element_axes(c, clusters, 2, 0, 1.0, 4000)
    assert (spans == 0).all() and axes.shape == (3, 0, 0)  # max_span 0: the shared basis only
    axes, spans, scales = element_axes(c, clusters, 2, 8, 1.0, 4000)
    assert int(spans[1]) <= 10 // 2 and int(spans[0]) in SPANS and int(spans[0]) > 0
    # row M, unseen elements: the pooled scales
    assert torch.allclose(scales[2].exp(), c.abs().mean(0).clamp_min(1e-3))


def test_a_one_element_language_codes_and_decodes(data):
    fit, _, sent, _ = data
    lang = SemanticLanguage.build(fit, np.zeros(len(fit), dtype=np.int64), 1, 30.0)
    rep, _ = lang.represent(sent, np.zeros(len(sent), dtype=np.int64))
    stream = entropy.encode(lang, rep)
    back = entropy.decode(lang, stream)
    assert np.array_equal(back.q, rep.q) and np.array_equal(back.cluster, rep.cluster) and (back.cluster == 0).all()
    # the element costs nothing: the stream is the information content plus the coder's few words
    assert stream.bits - lang.information_bits(rep).sum() < 64


def test_small_helpers_by_hand():
    import math

    from semready.comm.elements import code_bits, laplace_scales, reference_step
    from semready.comm.representation import laplace_log2_pmf

    assert reference_step(4.0) == pytest.approx(math.sqrt(48.0))  # √(12·MSE): uniform rounding error = MSE
    empty = laplace_scales(torch.zeros(0, 3))
    assert empty.shape == (3,) and torch.all(empty == 1e-3)
    # one coefficient 6.0 at step 2 -> symbol 3, scale 4 in pixels -> 2 in steps
    by_hand = -float(laplace_log2_pmf(torch.tensor([3.0]), torch.tensor(2.0), 50)[0])
    assert code_bits(torch.tensor([[6.0]]), torch.tensor([4.0]), 2.0, 50) == pytest.approx(by_hand)
    # (|2| + |4| + 8·10) / (2 + 8) = 8.6
    assert shrunk_scales(torch.tensor([[2.0], [-4.0]]), torch.tensor([10.0])).tolist() == pytest.approx([8.6])


def test_a_span_needs_twice_its_items():
    # eight coefficients that move together (and nothing else): K = 8 pays at a fine step, if it is a candidate
    g = torch.Generator().manual_seed(4)
    c = 0.001 * torch.randn(16, 8, generator=g) + 80 * torch.randn(16, 1, generator=g)
    _, spans, _ = element_axes(c, np.zeros(16, dtype=np.int64), 1, 64, 0.01, 100_000)
    assert int(spans[0]) == 8  # 16 items: spans up to 16 // 2 = 8 are candidates
    _, spans, _ = element_axes(c[:15], np.zeros(15, dtype=np.int64), 1, 64, 0.01, 100_000)
    assert int(spans[0]) == 4  # 15 items: 8 > 15 // 2, the best span left is 4


def test_an_unknown_content_element_is_refused(data):
    from semready.errors import SemreadyError

    fit, labels, sent, _ = data
    lang = SemanticLanguage.build(fit, labels, 2, 30.0)
    with pytest.raises(SemreadyError, match="content element 2 is outside 0..1"):
        lang.represent(sent[:3], np.array([0, 1, 2]))
    with pytest.raises(SemreadyError, match="content element -1 is outside"):
        lang.represent(sent[:2], np.array([-1, 0]))
