"""One step of the Teacher (semready.teacher.model) on a tiny config, CPU, 16×16 items: the named loss terms; warm-up
(no L_D, no anti-collapse, loss = η·L_I, no gradient into the prototypes); the enqueue (exactly the batch's keys,
FIFO with wrap-around); the EMA update κ̃ ← ωκ̃ + (1−ω)κ before the keys are computed; the total loss against an
independent recomputation from the per-equation functions on the bank as it was before the step; the cluster-aware
negatives switch; TeacherLoss with cluster_loss off; from_config wiring; and the checkpoint's state_dict keys."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from semready.config import build_config
from semready.teacher.losses import (
    TeacherLoss,
    cluster_aware_negative_mask,
    cluster_discrimination,
    cluster_probabilities,
    instance_discrimination,
    marginal_entropy_deficit,
)
from semready.teacher.model import Teacher

B, D, M, K = 16, 8, 3, 64
TERMS = {"loss", "l_i", "l_d", "anti_collapse"}
# non-default weights so a swapped or dropped weight shows
LOSS = {"tau": 0.2, "eta": 0.7, "epsilon": 1.3, "anti_collapse_weight": 2.5}


def make_teacher(loss=None, bank=None, seed=0) -> Teacher:
    over = {"model": {"width": 4, "embed_dim": D, "clusters": M},
            "bank": {"size": K, "min_negatives": 8, **(bank or {})},
            "train": {"batch_size": B, "device": "cpu"},
            "loss": {**LOSS, **(loss or {})}}
    torch.manual_seed(seed)
    return Teacher.from_config(build_config("quick", overrides=over))


def views(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 3, 16, 16, generator=g), torch.randn(B, 3, 16, 16, generator=g)


def organise(teacher: Teacher, n_keys: int = K, seed=2) -> torch.Tensor:
    """Prototypes on three axes and ``n_keys`` bank keys spread over their cells (key j near axis j mod 3), so
    the cluster-aware mask excludes about a third of the bank for every query (and no row is starved)."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.eye(M, D)
    teacher.cluster_head.seed(protos)
    keys = F.normalize(protos[torch.arange(n_keys) % M] + 0.2 * torch.randn(n_keys, D, generator=g), dim=1)
    teacher.bank.enqueue(keys)
    return keys


def test_from_config_wiring():
    t = make_teacher(bank={"cluster_aware_negatives": False}, loss={"cluster_loss": False, "anti_collapse": False})
    c = t.criterion
    assert (c.tau, c.eta, c.epsilon, c.anti_collapse_weight) == (0.2, 0.7, 1.3, 2.5)
    assert (c.cluster_loss, c.anti_collapse, c.cluster_aware_negatives, c.min_negatives) == (False, False, False, 8)
    assert t.ema == 0.99 and t.bank.size == K and t.clusters == M and t.cluster_head.temperature == 0.1
    assert not t.dist.enabled
    assert all(not p.requires_grad for p in t.momentum_encoder.parameters())
    assert make_teacher().criterion.cluster_aware_negatives


def test_forward_returns_named_terms_and_outputs():
    t = make_teacher()
    organise(t)
    out = t(*views(), clusters_active=True)
    assert set(out.losses) == TERMS
    for name, v in out.losses.items():
        assert v.dim() == 0 and torch.isfinite(v), name
    assert out.losses["loss"].requires_grad
    assert out.query.shape == (B, D) and out.key.shape == (B, D)
    assert out.query.dtype == torch.float32 and out.key.dtype == torch.float32
    torch.testing.assert_close(out.query.norm(dim=1), torch.ones(B))
    torch.testing.assert_close(out.key.norm(dim=1), torch.ones(B))
    assert not out.key.requires_grad
    assert out.key_clusters.shape == (B,) and int(out.key_clusters.min()) >= 0 and int(out.key_clusters.max()) < M
    assert out.losses["l_d"] > 0 and out.losses["anti_collapse"] >= 0


def test_warm_up_has_no_cluster_terms_and_loss_is_eta_l_i():
    t = make_teacher()
    keys = organise(t)
    v1, v2 = views()
    out = t(v1, v2, clusters_active=False)
    loss = out.losses
    assert loss["l_d"].item() == 0.0 and loss["anti_collapse"].item() == 0.0
    assert torch.equal(loss["loss"], 0.7 * loss["l_i"])
    # plain negatives: the whole bank, no mask (the bank was organised so that a mask would exclude keys)
    expected = instance_discrimination(out.query, out.key, keys, 0.2)
    torch.testing.assert_close(loss["l_i"], expected, rtol=1e-5, atol=1e-6)
    assert loss["l_i"] > 0


def test_forward_enqueues_exactly_the_batch_keys_into_an_empty_bank():
    t = make_teacher()
    assert int(t.bank.filled) == 0 and int(t.bank.pointer) == 0
    before = t.bank.keys.clone()
    out = t(*views(), clusters_active=False)
    assert int(t.bank.pointer) == B and int(t.bank.filled) == B
    assert torch.equal(t.bank.keys[:B], out.key)
    assert torch.equal(t.bank.keys[B:], before[B:])
    assert torch.equal(t.bank.valid_keys(), out.key)


def test_forward_enqueue_wraps_around_the_ring():
    t = make_teacher()
    organise(t, n_keys=K - 8)  # pointer at 56: the batch's keys go to 56..63, then 0..7
    before = t.bank.keys.clone()
    out = t(*views(), clusters_active=True)
    assert int(t.bank.pointer) == 8 and int(t.bank.filled) == K
    assert torch.equal(t.bank.keys[K - 8:], out.key[:8])
    assert torch.equal(t.bank.keys[:8], out.key[8:])
    assert torch.equal(t.bank.keys[8:K - 8], before[8:K - 8])


def test_momentum_encoder_moves_by_the_ema_formula_before_the_keys():
    t = make_teacher()
    organise(t)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # make κ̃ differ from κ, else the EMA leaves it unchanged whatever ω is
        for p in t.momentum_encoder.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    online = [p.detach().clone() for p in t.encoder.parameters()]
    target = [p.detach().clone() for p in t.momentum_encoder.parameters()]
    v1, v2 = views()
    out = t(v1, v2, clusters_active=True)
    for k, (p, kappa, kappa_t) in enumerate(zip(t.momentum_encoder.parameters(), online, target, strict=True)):
        expected = 0.99 * kappa_t + (1 - 0.99) * kappa
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-7, msg=f"parameter {k}")
        assert not torch.equal(p.detach(), kappa_t), k
    for p, kappa in zip(t.encoder.parameters(), online, strict=True):  # the forward does not move κ
        assert torch.equal(p.detach(), kappa)
    # b was computed by the updated momentum encoder (train mode: batch statistics, so a rerun gives the same)
    with torch.no_grad():
        torch.testing.assert_close(out.key, t.momentum_encoder(v2), rtol=1e-5, atol=1e-6)


def test_loss_equals_an_independent_recomputation_on_the_bank_before_the_step():
    t = make_teacher()
    organise(t)  # a full bank: this step's enqueue overwrites keys 0..15 that the loss must still see
    bank_before = t.bank.valid_keys().clone()
    assert len(bank_before) == K
    v1, v2 = views()
    out = t(v1, v2, clusters_active=True)
    assert not torch.equal(t.bank.valid_keys(), bank_before)

    with torch.no_grad():
        a = t.encoder(v1)
        b = t.momentum_encoder(v2)
        key_clusters = t.cluster_head(b).argmax(dim=1)
        bank_logits = t.cluster_head(bank_before)
    torch.testing.assert_close(out.query, a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.key, b, rtol=1e-5, atol=1e-6)
    assert torch.equal(out.key_clusters, key_clusters)

    a, b = out.query.detach(), out.key
    membership = torch.softmax(bank_logits, dim=1)
    p = cluster_probabilities(a, bank_before, membership, 0.2)
    l_d = cluster_discrimination(p)
    anti = marginal_entropy_deficit(membership)
    # the mask counted by summing it (clusters=None), not from the cluster sizes as the step does
    mask = cluster_aware_negative_mask(key_clusters, bank_logits.argmax(dim=1), 8)
    assert not mask.all() and mask.any(dim=1).all()  # the mask does exclude keys, and no row is empty
    l_i = instance_discrimination(a, b, bank_before, 0.2, mask)
    loss = 0.7 * l_i + 1.3 * l_d + 2.5 * anti
    got = {k: v.detach() for k, v in out.losses.items()}
    torch.testing.assert_close(got["l_i"], l_i, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["l_d"], l_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["anti_collapse"], anti, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["loss"], loss, rtol=1e-5, atol=1e-6)

    # eq. 2 once more as a plain loop: the negatives of query i are the bank keys of the other clusters
    bank_labels = bank_logits.argmax(dim=1).tolist()
    a64, b64, k64 = a.double(), b.double(), bank_before.double()
    total = 0.0
    for i in range(B):
        pos = math.exp(float(a64[i] @ b64[i]) / 0.2)
        neg = sum(math.exp(float(a64[i] @ k64[j]) / 0.2) for j in range(K) if bank_labels[j] != int(key_clusters[i]))
        total += -math.log(pos / (pos + neg))
    assert got["l_i"].item() == pytest.approx(total / B, rel=1e-5)


def test_cluster_aware_negatives_change_l_i_when_the_mask_excludes_keys():
    on = make_teacher()
    keys = organise(on)
    off = copy.deepcopy(on)
    off.criterion.cluster_aware_negatives = False
    v1, v2 = views()
    out_on, out_off = on(v1, v2, clusters_active=True), off(v1, v2, clusters_active=True)
    assert torch.equal(out_on.query, out_off.query) and torch.equal(out_on.key, out_off.key)
    l_on, l_off = out_on.losses["l_i"].item(), out_off.losses["l_i"].item()
    # fewer negatives in the denominator: a strictly smaller InfoNCE loss
    assert l_on < l_off - 1e-4
    torch.testing.assert_close(out_off.losses["l_i"], instance_discrimination(out_off.query, out_off.key, keys, 0.2),
                               rtol=1e-5, atol=1e-6)
    # L_D and the anti-collapse term do not depend on the negatives
    torch.testing.assert_close(out_on.losses["l_d"], out_off.losses["l_d"])
    torch.testing.assert_close(out_on.losses["anti_collapse"], out_off.losses["anti_collapse"])


def test_warm_up_backward_leaves_prototypes_without_gradient():
    t = make_teacher()
    organise(t)
    out = t(*views(), clusters_active=False)
    out.losses["loss"].backward()
    assert t.cluster_head.prototypes.grad is None
    grads = [p.grad for p in t.encoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in t.momentum_encoder.parameters())


def test_active_backward_reaches_the_prototypes():
    t = make_teacher()
    organise(t)
    t(*views(), clusters_active=True).losses["loss"].backward()
    assert t.cluster_head.prototypes.grad is not None and t.cluster_head.prototypes.grad.abs().sum() > 0
    assert all(p.grad is None for p in t.momentum_encoder.parameters())


def test_teacher_without_cluster_loss_has_no_l_d_and_no_prototype_gradient():
    t = make_teacher(loss={"cluster_loss": False})
    organise(t)
    out = t(*views(), clusters_active=True)
    assert out.losses["l_d"].item() == 0.0 and out.losses["anti_collapse"].item() == 0.0
    assert torch.equal(out.losses["loss"], 0.7 * out.losses["l_i"])
    out.losses["loss"].backward()
    assert t.cluster_head.prototypes.grad is None


def _unit(*shape, seed):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_teacher_loss_without_cluster_loss_gives_zero_l_d_even_with_bank_logits():
    a, b, keys = _unit(6, D, seed=1), _unit(6, D, seed=2), _unit(30, D, seed=3)
    bank_logits = 3 * torch.randn(30, M, generator=torch.Generator().manual_seed(4))
    q = torch.tensor([0, 1, 2, 0, 1, 2])
    crit = TeacherLoss(tau=0.2, eta=0.7, epsilon=1.3, cluster_loss=False, min_negatives=4)
    out = crit(a, b, keys, q, bank_logits)
    assert out["l_d"].item() == 0.0 and out["anti_collapse"].item() == 0.0
    assert torch.equal(out["loss"], 0.7 * out["l_i"])
    # the cluster-aware negatives still apply
    mask = cluster_aware_negative_mask(q, bank_logits.argmax(dim=1), 4)
    assert not mask.all()
    torch.testing.assert_close(out["l_i"], instance_discrimination(a, b, keys, 0.2, mask))
    # ... and with cluster_loss on, the same inputs give a positive L_D
    assert TeacherLoss(tau=0.2, min_negatives=4)(a, b, keys, q, bank_logits)["l_d"] > 0


def test_state_dict_keys_are_the_checkpoint_modules_only():
    t = make_teacher()
    keys = list(t.state_dict())
    prefixes = ("encoder.", "momentum_encoder.", "cluster_head.", "bank.")
    assert keys and all(k.startswith(prefixes) for k in keys), [k for k in keys if not k.startswith(prefixes)]
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in keys), prefix
    assert {"bank.keys", "bank.pointer", "bank.filled", "cluster_head.prototypes"} <= set(keys)
    # swapping in other engines (e.g. compiled encoders) adds no keys
    t.use_engines(copy.deepcopy(t.encoder), copy.deepcopy(t.momentum_encoder))
    assert list(t.state_dict()) == keys


@pytest.mark.parametrize("active", [False, True])
def test_one_sgd_step_changes_the_encoder_and_keeps_losses_finite(active):
    t = make_teacher()
    organise(t)
    params = list(t.encoder.parameters()) + list(t.cluster_head.parameters())
    opt = torch.optim.SGD(params, lr=0.05)
    before = [p.detach().clone() for p in t.encoder.parameters()]
    out = t(*views(), clusters_active=active)
    opt.zero_grad()
    out.losses["loss"].backward()
    opt.step()
    assert any(not torch.equal(p.detach(), q) for p, q in zip(t.encoder.parameters(), before, strict=True))
    out2 = t(*views(seed=3), clusters_active=active)
    assert all(torch.isfinite(v) for v in out2.losses.values())
