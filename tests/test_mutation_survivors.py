"""Behaviour the last mutation run (docs/testing.md) showed unguarded: defaults that must equal the config's, the
one-line messages users read, the computed-once similarity logits, dtypes written to CSV, and the learnability
scores' two branches. Each test names, in its docstring, what it pins."""

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import SafetensorError

from semready.config import BankConfig, LossConfig, ModelConfig, RankConfig, TrainConfig, build_config
from semready.errors import SemreadyError
from semready.split import policies, ranking, scores
from semready.split.regen import RegenerationModel, cross_fitted_unexplained
from semready.teacher import checkpoint, losses
from semready.teacher.losses import TeacherLoss, normalized_size_entropy
from semready.teacher.model import Teacher

TINY = {"model": {"width": 4, "embed_dim": 8, "clusters": 3}, "bank": {"size": 64, "min_negatives": 8},
        "train": {"batch_size": 16, "device": "cpu"}}


def tiny_teacher(**train) -> Teacher:
    torch.manual_seed(0)
    over = {**TINY, "train": {**TINY["train"], **train}}
    return Teacher.from_config(build_config("quick", overrides=over))


def primed(t: Teacher) -> Teacher:
    g = torch.Generator().manual_seed(1)
    t.cluster_head.seed(torch.eye(3, 8))
    t.bank.enqueue(F.normalize(torch.eye(3, 8)[torch.arange(48) % 3] + 0.3 * torch.randn(48, 8, generator=g), dim=1))
    return t


def views(n=16):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randn(n, 3, 16, 16, generator=g)


# --- defaults: one source of truth ------------------------------------------------------------------------------
def test_the_loss_objects_defaults_are_the_configs():
    """TeacherLoss() used without a config behaves as the default config does (τ, η, ε, λ, switches, floor)."""
    c, lc, bc = TeacherLoss(), LossConfig(), BankConfig()
    assert (c.tau, c.eta, c.epsilon) == (lc.tau, lc.eta, lc.epsilon) == (0.1, 1.0, 1.0)
    assert (c.cluster_loss, c.anti_collapse, c.anti_collapse_weight) == (lc.cluster_loss, lc.anti_collapse,
                                                                         lc.anti_collapse_weight)
    assert (c.cluster_aware_negatives, c.min_negatives) == (bc.cluster_aware_negatives, bc.min_negatives)


def test_the_teachers_defaults_are_the_configs_and_from_config_passes_omega_and_amp():
    """Teacher(...) without ω / τ_φ / amp uses the config defaults; from_config passes train.ema and train.amp."""
    from semready.teacher.backbones import build_backbone
    from semready.teacher.heads import Encoder

    t = Teacher(Encoder(build_backbone("small_cnn", 4), 8), embed_dim=8, clusters=3, bank_size=64)
    assert (t.ema, t.cluster_head.temperature, t.amp) == (TrainConfig().ema, ModelConfig().cluster_temperature,
                                                          False)
    assert tiny_teacher(ema=0.9, amp=True).ema == 0.9 and tiny_teacher(amp=True).amp is True


def test_forward_defaults_to_clusters_active():
    """forward(view1, view2) with no third argument is the clusters-active step (L_D > 0)."""
    out = primed(tiny_teacher())(*views())
    assert out.losses["l_d"].item() > 0 and out.losses["anti_collapse"].item() >= 0


def test_autocast_is_bf16_on_every_device_type():
    """amp means bfloat16 autocast, also where the device's own default is float16 (CUDA)."""
    t = tiny_teacher(amp=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available": the dtype is set before that check
        ctx = t._autocast(SimpleNamespace(device=SimpleNamespace(type="cuda")))
    assert ctx.fast_dtype == torch.bfloat16
    assert t._autocast(torch.zeros(1)).fast_dtype == torch.bfloat16


# --- one-line messages ---------------------------------------------------------------------------------------------
def test_an_empty_bank_with_clusters_active_is_a_clear_error():
    t = tiny_teacher()
    with pytest.raises(ValueError) as info:
        t(*views())
    assert str(info.value) == ("the memory bank holds no keys yet: fill it first (Trainer.prime_bank, or "
                               "Teacher.enqueue(Teacher.keys_of(x))) or step with clusters_active=False")
    t.bank.enqueue(F.normalize(torch.randn(1, 8), dim=1))  # one key is enough
    assert torch.isfinite(t(*views()).losses["loss"])


@pytest.mark.parametrize("policy, value, message", [
    ("nope", 0.5, "unknown split policy 'nope': choose one of confidence, budget, complexity, cluster-floor, "
                  "cluster-budget"),
    ("budget", 1.5, "--value 1.5 is not a memorizable fraction for policy 'budget': use a number strictly between 0 "
                    "and 1, e.g. 0.1"),
    ("confidence", 1.5, "--value 1.5 is out of range for policy 'confidence': use a number in [0, 1]"),
    ("complexity", -1.0, "--value -1.0 is not a complexity budget: give nats per item > 0 (see Γ in kpis.json, "
                         "e.g. 2000)"),
])
def test_policy_errors_say_what_to_do(policy, value, message):
    with pytest.raises(SemreadyError) as info:
        policies.check_policy(policy, value)
    assert str(info.value) == message


def test_the_complexity_policy_without_items_says_how_to_split():
    with pytest.raises(SemreadyError) as info:
        policies.learnable_threshold(np.array([0.2, 0.8]), "complexity", 100.0)
    assert str(info.value) == ("the complexity policy needs the stream's items: split through semready.api.split "
                               "or `semready split`")


def test_a_checkpoint_of_another_shape_says_which_config_to_use(tmp_path):
    t = tiny_teacher()
    checkpoint.save_checkpoint(tmp_path, t, None, {"epoch": 1})
    other = Teacher.from_config(build_config("quick", overrides={**TINY, "model": {**TINY["model"], "clusters": 4}}))
    with pytest.raises(SemreadyError) as info:
        checkpoint.load_checkpoint(tmp_path, other)
    assert str(info.value) == (f"{tmp_path / 'checkpoint.safetensors'} does not match the run's config.yaml "
                               "(different model shape): use the config it was trained with")


def test_an_unreadable_tensor_file_quotes_the_reason_on_one_line_of_at_most_120_characters(tmp_path, monkeypatch):
    """read_tensors folds the library's message onto one line, cut at 120 characters, and ends with the fix
    (default: retrain)."""
    def broken(*args, **kwargs):
        raise SafetensorError("header  too\n large: " + "x" * 200)

    monkeypatch.setattr(checkpoint, "safe_open", broken)
    with pytest.raises(SemreadyError) as info:
        checkpoint.read_tensors(tmp_path / "t.safetensors")
    reason = ("header too large: " + "x" * 200)[:120]
    assert str(info.value) == (f"{tmp_path / 't.safetensors'} is not a valid safetensors checkpoint ({reason}); "
                               "it may be truncated or not ours: retrain")


# --- computed once, written as integers ------------------------------------------------------------------------
def test_the_similarity_logits_are_computed_once_per_step(monkeypatch):
    """The B×K similarities are shared by eq. 2 and eq. 3 (the docstring's promise): one call per step, whatever
    the switches."""
    calls = []
    real = losses.similarity_logits
    monkeypatch.setattr(losses, "similarity_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = torch.Generator().manual_seed(3)
    a, b = (F.normalize(torch.randn(8, 8, generator=g), dim=1) for _ in range(2))
    keys = F.normalize(torch.randn(40, 8, generator=g), dim=1)
    for crit in (TeacherLoss(min_negatives=4), TeacherLoss(cluster_loss=False), TeacherLoss(anti_collapse=False),
                 TeacherLoss(cluster_aware_negatives=False)):
        for bank_logits in (None, torch.randn(40, 3, generator=g)):
            calls.clear()
            crit(a, b, keys, torch.zeros(8, dtype=torch.long), bank_logits)
            assert len(calls) == 1


def test_ranks_are_integers():
    """Ranks go to samples.csv and clusters.csv as integers (1, 2, ...), not floats (1.0)."""
    r = ranking.ranks_descending(np.array([0.3, 0.9, 0.3]))
    assert r.dtype == np.int64 and r.tolist() == [2, 1, 3]


def test_the_size_entropy_of_a_single_item():
    """One item in one cluster: a collapsed distribution, entropy 0 (the sum is not clamped above 1)."""
    assert normalized_size_entropy(torch.tensor([1, 0, 0])) == 0.0
    assert normalized_size_entropy(torch.tensor([1, 1, 0])) == pytest.approx(math.log(2) / math.log(3))


# --- the learnability scores' two branches ---------------------------------------------------------------------
def test_learnability_scores_paper_branch_by_hand():
    clusters, conf = np.array([0, 0, 1, 2]), np.array([0.81, 0.49, 0.64, 1.0])
    learn, model = scores.learnability_scores(RankConfig(score="paper"), clusters, conf, 4, torch.zeros(4, 3, 8, 8))
    c_l = np.array([0.65, 0.65, 0.64, 1.0])  # mean confidence of each item's cluster
    assert model == scores.LearnabilityModel() and learn == pytest.approx(np.sqrt(conf * c_l))


def test_learnability_scores_regen_branch_is_one_minus_the_cross_fitted_unexplained_share():
    """Also: the regen score depends on the data and the fold seed alone, not on torch's global generator (the
    randomised SVD draws privately)."""
    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (40, 3, 8, 8), generator=g, dtype=torch.uint8)
    clusters = np.arange(40) % 3
    cfg = RankConfig(score="regen", regen_rank=5, regen_resolution=8)
    torch.manual_seed(123)
    learn, model = scores.learnability_scores(cfg, clusters, np.ones(40), 3, images, seed=7)
    after = torch.rand(1)
    torch.manual_seed(456)
    u, whole = cross_fitted_unexplained(images, clusters, 3, 5, 8, 7)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)  # the caller's generator was left as it was
    assert learn == pytest.approx(1 - u) and isinstance(model.regen, RegenerationModel)
    assert model.typicality is None and model.gate_knee is None
    assert torch.equal(model.regen.means, whole.means) and model.regen.basis.shape == (5, 3 * 8 * 8)
    other, _ = scores.learnability_scores(cfg, clusters, np.ones(40), 3, images, seed=8)
    assert not np.allclose(other, learn)  # the seed picks the folds


def test_learnability_scores_default_seed_is_the_configs():
    """Called without a seed, the folds are the default run's (train.seed = 0)."""
    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (30, 3, 8, 8), generator=g, dtype=torch.uint8)
    cfg, clusters = RankConfig(score="regen", regen_rank=4, regen_resolution=8), np.arange(30) % 2
    default, _ = scores.learnability_scores(cfg, clusters, np.ones(30), 2, images)
    seeded, _ = scores.learnability_scores(cfg, clusters, np.ones(30), 2, images, seed=TrainConfig().seed)
    other, _ = scores.learnability_scores(cfg, clusters, np.ones(30), 2, images, seed=TrainConfig().seed + 1)
    assert np.array_equal(default, seeded) and not np.array_equal(default, other)
