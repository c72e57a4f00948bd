"""The learned language's codec (issue 15, item 1, in progress): the bitstream round trip, the bits it counts, the
step choice against a loop, determinism for a seed, rate falling as the target loosens, and one-line refusals.
A small codec trained for a few dozen steps on real sample items at 16×16 keeps it to seconds."""

import numpy as np
import pytest
import torch

from semready.comm.elements import SCALE_PRIOR_ITEMS
from semready.comm.kpi import psnr_db
from semready.comm.learned import STEPS, fit_codec, ladder
from semready.comm.learned_language import LearnedLanguage
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
    lang = LearnedLanguage.build(fit, clusters, 3, 24.0, codec=codec)
    rep = lang.represent(sent, np.arange(len(sent)) % 3)
    stream = lang.encode(rep)
    back = lang.decode(stream)
    assert np.array_equal(back.q, rep.q) and np.array_equal(back.step, rep.step)
    assert np.array_equal(back.cluster, rep.cluster)
    assert torch.equal(lang.regenerate(back), lang.regenerate(rep))
    info = lang.information_bits(rep).sum()
    assert info - 1 <= stream.bits <= info + 64 + 0.01 * info  # a range coder's overhead: a few words


def test_the_step_is_the_coarsest_that_meets_the_target(items, codec):
    fit, sent = items
    lang = LearnedLanguage.build(fit, np.zeros(len(fit), int), 1, 16.0, codec=codec)
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
        lang = LearnedLanguage.build(fit, np.zeros(len(fit), int), 1, target, codec=codec)
        rep = lang.represent(sent, np.zeros(len(sent), int))
        bits.append(lang.encode(rep).bits)
        passed = psnr_db(lang.regenerate(rep), sent).numpy() >= target
        assert passed[rep.step < STEPS - 1].all()  # every item that found a step meets the target
    assert all(a > b for a, b in zip(bits[:-1], bits[1:], strict=True)), bits


def test_element_scales_shrink_toward_the_pooled_ones(items, codec):
    fit, _ = items
    clusters = np.where(np.arange(len(fit)) < 100, 0, 1)  # 100 items and 20 items; element 2 has none
    lang = LearnedLanguage.build(fit, clusters, 3, 24.0, codec=codec)
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
    lang = LearnedLanguage.build(fit, np.zeros(len(fit), int), 2, 24.0, codec=codec)
    with pytest.raises(SemreadyError, match=r"content elements outside 0..1") as info:
        lang.represent(sent[:2], np.array([0, 2]))
    assert "\n" not in str(info.value)
    with pytest.raises(SemreadyError, match="multiples of 4, got 18×18: retrain the run with --image-size 32"):
        fit_codec(torch.zeros(4, 3, 18, 18, dtype=torch.uint8), steps=1)


def test_a_saved_language_decodes_what_the_original_sent(tmp_path, items, codec):
    fit, sent = items
    lang = LearnedLanguage.build(fit, np.arange(len(fit)) % 2, 2, 18.0, built_on="learnable", codec=codec)
    rep = lang.represent(sent, np.arange(len(sent)) % 2)
    lang.save(tmp_path / "lang")
    back = LearnedLanguage.load(tmp_path / "lang")
    assert (back.shape, back.n_items, back.built_on, back.fidelity_psnr_db) == ((3, 16, 16), 120, "learnable", 18.0)
    got = back.decode(lang.encode(rep))
    assert np.array_equal(got.q, rep.q) and torch.equal(back.regenerate(got), lang.regenerate(rep))
    (tmp_path / "other.json").write_text('{"format": "semready-language"}')
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(SemreadyError, match="is not a learned language"):
        LearnedLanguage.load(tmp_path / "other")
    with pytest.raises(SemreadyError, match="no learned language at"):
        LearnedLanguage.load(tmp_path / "none")


def test_the_dictionary_and_complexity_count_the_decoder(items, codec):
    fit, sent = items
    lang = LearnedLanguage.build(fit, np.zeros(len(fit), int), 1, 18.0, codec=codec)
    n_params = sum(p.numel() for p in codec.g_s.parameters()) + lang.log_scales.numel() + lang.logits.numel()
    size = len(lang.dictionary_bytes())
    assert 0.5 * n_params < size <= 2 * n_params + 64  # float16 (2 bytes a value), lzma barely shrinks weights
    rep = lang.represent(sent, np.zeros(len(sent), int))
    g = lang.complexity(rep)
    ce = lang.information_bits(rep).sum() * np.log(2)
    assert g["dictionary_nats"] == pytest.approx(8 * size * np.log(2))
    assert g["gamma_nats"] == pytest.approx(ce + g["dictionary_nats"]) and g["heldout_items"] == len(sent)
    looser = lang.at_target(14.0)
    assert looser.codec is lang.codec and looser.fidelity_psnr_db == 14.0 and lang.fidelity_psnr_db == 18.0


def test_items_of_another_size_are_refused(items, codec):
    fit, _ = items
    lang = LearnedLanguage.build(fit, np.zeros(len(fit), int), 1, 18.0, codec=codec)
    with pytest.raises(SemreadyError, match=r"trained on 3×16×16 items, not 3×32×32.*--image-size 16"):
        lang.represent(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), np.zeros(2, int))


SMALL = {"language": "learned", "learned_steps": 25, "learned_width": 8, "learned_latent": 4}


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    """A tiny trained run (120 real items at 16×16: the linear curves beside it stay quick), a quarter memorizable,
    whose comm settings train a small codec."""
    from semready import api
    from semready.rundir import RunDir
    from tests.conftest import train_tiny

    tmp = tmp_path_factory.mktemp("learned")
    np.savez(tmp / "small.npz", x=load_data("sample", image_size=16).images[:120].permute(0, 2, 3, 1).numpy())
    run = train_tiny(tmp / "run", tmp / "small.npz")
    api.split(run, "budget", 0.25)
    files = RunDir(run)
    cfg = files.read_config()
    files.write_config(cfg.model_copy(update={"comm": cfg.comm.model_copy(update=SMALL)}))
    return run


def test_simulate_with_the_learned_language(learned_run, capsys):
    """Both semantic schemes through the learned path: bits from the stream, the decoder in the dictionary, no
    prequential length, settings recorded; a wrong --language is one line."""
    from semready import api
    from semready.cli import main

    run = learned_run
    kpis = api.simulate(run, overrides={"fidelity_psnr_db": 16.0})
    assert kpis["settings"]["language"] == "learned" and kpis["settings"]["learned_steps"] == 25
    for scheme in ("vanilla", "disentangled"):
        row = kpis[scheme]
        lang = LearnedLanguage.load(run / "languages" / scheme)
        assert lang.built_on == ("all" if scheme == "vanilla" else "learnable")
        assert row["dictionary_bits"] == 8 * len(lang.dictionary_bytes())
        # |Z_i| are the stream's bits shared out by information: they add up to the bitstream's length
        assert row["mean_representation_bits"] * row["semantic_items"] == pytest.approx(row["semantic_stream_bits"])
        assert "prequential_nats_per_item" not in row and row["kl_nats"] == 0.0
        assert 0 <= row["fidelity_pass_rate"] <= 1 and "semantic_cosine_pass_rate" in row
    assert kpis["classical"]["semantic_items"] == 0
    linear = api.simulate(run, None, ["vanilla"], overrides={"fidelity_psnr_db": 16.0, "language": "linear"})
    assert "prequential_nats_per_item" in linear["vanilla"] and "language" not in linear["settings"]
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(run), "--language", "neural"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "language" in err and "neural" in err and len(err.strip().splitlines()) == 1


def test_the_rd_sweep_draws_the_learned_curves(learned_run):
    from semready import api

    r = api.rd_sweep(learned_run, "12,14,16,18", ["webp"], 30, learned=True)
    for name in ("learned vanilla", "learned disentangled"):
        pts = r["curves"][name]
        assert [p["target_db"] for p in pts] == [12.0, 14.0, 16.0, 18.0]
        bits = [p["bits_per_item_excl_dictionary"] for p in pts]
        assert all(a <= b for a, b in zip(bits[:-1], bits[1:], strict=True)), bits  # stricter target, more bits
        assert pts[0]["bits_per_item"] > bits[0]  # the dictionary is counted
    pairs = {(row["test"], row["anchor"]) for row in r["bd"]}
    assert ("learned disentangled", "learned vanilla") in pairs and ("learned vanilla", "vanilla") in pairs
    plain = api.rd_sweep(learned_run, "12,14", ["webp"], 10)
    assert not any(name.startswith("learned") for name in plain["curves"])
