"""The learned language's codec (issue 15, item 1, in progress): the bitstream round trip, the bits it counts, the
step choice against a loop, determinism for a seed, rate falling as the target loosens, and one-line refusals.
A small codec trained for a few dozen steps on real sample items at 16×16 keeps it to seconds."""

import numpy as np
import pytest
import torch

from semready.comm.kpi import psnr_db
from semready.comm.learned import SCALE_PRIOR_ITEMS, STEPS, LearnedLanguage, fit_codec, ladder
from semready.data import load_data
from semready.errors import SemreadyError

TRAIN = {"steps": 40, "batch_size": 32, "width": 16, "latent": 4, "seed": 1}


@pytest.fixture(scope="module")
def items():
    x = load_data("sample", image_size=16).images[:160]
    return x[:120], x[120:]


@pytest.fixture(scope="module")
def codec(items):
    torch.manual_seed(0)
    return fit_codec(items[0], **TRAIN)


def test_the_codec_is_deterministic_for_a_seed(items, codec):
    again = fit_codec(items[0], **TRAIN)
    assert all(torch.equal(a, b) for a, b in zip(codec.state_dict().values(), again.state_dict().values(),
                                                  strict=True))
    other = fit_codec(items[0], **{**TRAIN, "seed": 2})
    assert not torch.equal(codec.g_a[0].weight, other.g_a[0].weight)


def test_the_bitstream_round_trip_is_exact_and_its_length_is_the_information(items, codec):
    fit, sent = items
    clusters = np.arange(len(fit)) % 3
    lang = LearnedLanguage.fit(fit, clusters, 3, 24.0, codec=codec)
    rep = lang.represent(sent, np.arange(len(sent)) % 3)
    words = lang.encode(rep)
    back = lang.decode(words, len(sent), rep.q.shape[1:])
    assert np.array_equal(back.q, rep.q) and np.array_equal(back.step, rep.step)
    assert np.array_equal(back.cluster, rep.cluster)
    assert torch.equal(lang.regenerate(back), lang.regenerate(rep))
    info = lang.information_bits(rep).sum()
    assert info - 1 <= 32 * len(words) <= info + 64 + 0.01 * info  # a range coder's overhead: a few words


def test_the_step_is_the_coarsest_that_meets_the_target(items, codec):
    fit, sent = items
    lang = LearnedLanguage.fit(fit, np.zeros(len(fit), int), 1, 16.0, codec=codec)
    rep = lang.represent(sent, np.zeros(len(sent), int))
    with torch.no_grad():
        y = codec.analysis(sent)
        for i in range(len(sent)):  # the loop the vectorised search must agree with
            meets = [float(psnr_db(codec.synthesis(torch.round(y[i:i + 1] / d) * d).round().clamp(0, 255),
                                   sent[i:i + 1])[0]) >= 16.0 for d in ladder().tolist()]
            assert rep.step[i] == (meets.index(True) if any(meets) else STEPS - 1)
    assert 0 < (rep.step < STEPS - 1).sum() < len(sent)  # both cases occur


def test_rate_falls_as_the_target_loosens(items, codec):
    fit, sent = items
    bits = []
    for target in (20.0, 18.0, 16.0, 14.0):  # the few-step codec's range; all items at the finest step above
        lang = LearnedLanguage.fit(fit, np.zeros(len(fit), int), 1, target, codec=codec)
        rep = lang.represent(sent, np.zeros(len(sent), int))
        bits.append(32 * len(lang.encode(rep)))
        passed = psnr_db(lang.regenerate(rep), sent).numpy() >= target
        assert passed[rep.step < STEPS - 1].all()  # every item that found a step meets the target
    assert all(a > b for a, b in zip(bits[:-1], bits[1:], strict=True)), bits


def test_element_scales_shrink_toward_the_pooled_ones(items, codec):
    fit, _ = items
    clusters = np.where(np.arange(len(fit)) < 100, 0, 1)  # 100 items and 20 items; element 2 has none
    lang = LearnedLanguage.fit(fit, clusters, 3, 24.0, codec=codec)
    with torch.no_grad():
        mag = codec.analysis(fit).abs().mean(dim=(2, 3)).double()
    pooled = mag.mean(0)
    for element, members in ((0, clusters == 0), (1, clusters == 1)):
        n = int(members.sum())
        want = (mag[torch.from_numpy(members)].sum(0) + SCALE_PRIOR_ITEMS * pooled) / (n + SCALE_PRIOR_ITEMS)
        assert torch.allclose(lang.log_scales[element].exp().double(), want, rtol=1e-5)
    assert torch.allclose(lang.log_scales[2].exp().double(), pooled, rtol=1e-5)  # no items: the pooled scale
    assert torch.allclose(lang.log_scales[3].exp().double(), pooled, rtol=1e-5)
    probs = torch.softmax(lang.logits, 0)
    assert probs[0] > probs[1] > probs[2] > 0


def test_bad_input_is_one_line(items, codec):
    fit, sent = items
    lang = LearnedLanguage.fit(fit, np.zeros(len(fit), int), 2, 24.0, codec=codec)
    with pytest.raises(SemreadyError, match=r"content elements outside 0..1") as info:
        lang.represent(sent[:2], np.array([0, 2]))
    assert "\n" not in str(info.value)
    with pytest.raises(SemreadyError, match="multiples of 4, got 18×18"):
        fit_codec(torch.zeros(4, 3, 18, 18, dtype=torch.uint8), steps=1)
