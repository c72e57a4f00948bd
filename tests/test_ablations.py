"""Each ablation switch and loss weight, through the teacher's real step (:meth:`Teacher.forward`), against
expectations computed by plain loops in float64 from a bank and prototypes built so the cluster-aware mask
really excludes keys: prototypes on the first three coordinate axes, bank keys near them."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from semready.config import build_config
from semready.teacher import losses
from semready.teacher.model import Teacher

K, M, D, B = 48, 3, 8, 6
TAU, TAU_PHI = 0.2, 0.25  # τ of eq. 2-3 and τ_φ of the cluster head: different, so a mix-up shows
TINY = {"model": {"width": 4, "embed_dim": D, "clusters": M, "cluster_temperature": TAU_PHI},
        "bank": {"size": K, "min_negatives": 8}, "loss": {"tau": TAU},
        "train": {"batch_size": 16, "device": "cpu"}}


SIZES = (24, 16, 8)  # keys per cluster: unbalanced, so the anti-collapse term is not 0


def make_teacher(bank=None, loss=None):
    """A tiny teacher whose prototypes are the axes e_0, e_1, e_2 and whose bank is full of keys near them."""
    over = json.loads(json.dumps(TINY))
    over["bank"].update(bank or {})
    over["loss"].update(loss or {})
    cfg = build_config("quick", overrides=over)
    torch.manual_seed(0)
    teacher = Teacher.from_config(cfg)
    g = torch.Generator().manual_seed(1)
    labels = torch.repeat_interleave(torch.arange(M), torch.tensor(SIZES))[torch.randperm(K, generator=g)]
    keys = F.normalize(F.one_hot(labels, D).float() + 0.1 * torch.randn(K, D, generator=g), dim=1)
    with torch.no_grad():
        teacher.cluster_head.prototypes.copy_(3.0 * torch.eye(M, D))  # the head normalises them
        teacher.bank.keys.copy_(keys)
        teacher.bank.filled.fill_(K)
        teacher.bank.pointer.zero_()
    assert keys[:, :M].argmax(dim=1).tolist() == labels.tolist()  # each key sits in its axis' cell
    return cfg, teacher, keys, labels


def step(teacher, clusters_active=True, seed=2):
    g = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(B, 3, 32, 32, generator=g), torch.randn(B, 3, 32, 32, generator=g)
    return teacher(x1, x2, clusters_active=clusters_active)


# -- the expectations, by plain loops ----------------------------------------------------------------------
def dot(u, v):
    return sum(float(x) * float(y) for x, y in zip(u, v, strict=True))


def hand_mask(query_labels, bank_labels, floor):
    """Per query, the bank indices eq. 2 compares against: other clusters' keys, or all when fewer than floor."""
    k = len(bank_labels)
    rows = []
    for q in query_labels.tolist():
        others = [j for j in range(k) if int(bank_labels[j]) != q]
        rows.append(others if len(others) >= min(floor, k) else list(range(k)))
    return rows


def hand_l_i(a, b, keys, tau, rows=None):
    total = 0.0
    for i in range(len(a)):
        pos = dot(a[i], b[i]) / tau
        negs = range(len(keys)) if rows is None else rows[i]
        total += -pos + math.log(math.exp(pos) + sum(math.exp(dot(a[i], keys[j]) / tau) for j in negs))
    return total / len(a)


def hand_membership(keys):
    """softmax over l of cos(k_j, e_l)/τ_φ = k_j[l]/τ_φ (the prototypes are the axes)."""
    out = []
    for k in keys:
        e = [math.exp(float(k[m]) / TAU_PHI) for m in range(M)]
        out.append([x / sum(e) for x in e])
    return out


def hand_l_d(a, keys, tau):
    member = hand_membership(keys)
    total = 0.0
    for i in range(len(a)):
        w = [math.exp(dot(a[i], k) / tau) for k in keys]
        p = [sum(w[j] * member[j][m] for j in range(len(keys))) / sum(w) for m in range(M)]
        total += -sum(x * math.log(x) for x in p if x > 0)
    return total / len(a)


def hand_anti(keys):
    member = hand_membership(keys)
    marginal = [sum(row[m] for row in member) / len(member) for m in range(M)]
    return math.log(M) + sum(x * math.log(x) for x in marginal if x > 0)


def close(x, expected):
    return float(x.detach()) == pytest.approx(expected, rel=1e-4, abs=1e-5)


# -- the tests ---------------------------------------------------------------------------------------------
def test_the_bank_is_built_so_the_mask_excludes_keys():
    _, teacher, keys, labels = make_teacher()
    out = step(teacher)
    q = out.key_clusters
    # i's cluster is argmax φ(b_i): with axis prototypes, the largest of b_i's first three coordinates
    assert q.tolist() == out.key[:, :M].argmax(dim=1).tolist()
    rows = hand_mask(q, labels, 8)
    assert [len(r) for r in rows] == [K - SIZES[c] for c in q.tolist()]  # each loses its own cluster's keys
    a, b = out.query.detach(), out.key
    masked, whole = hand_l_i(a, b, keys, TAU, rows), hand_l_i(a, b, keys, TAU)
    assert whole - masked > 1e-2  # so the tests below can tell the two apart


def test_after_warmup_cluster_aware_negatives_restrict_l_i():
    _, teacher, keys, labels = make_teacher(bank={"cluster_aware_negatives": True})
    out = step(teacher, clusters_active=True)
    rows = hand_mask(out.key_clusters, labels, 8)
    assert close(out.losses["l_i"], hand_l_i(out.query.detach(), out.key, keys, TAU, rows))


def test_without_cluster_aware_negatives_l_i_uses_the_whole_bank():
    _, teacher, keys, _ = make_teacher(bank={"cluster_aware_negatives": False})
    out = step(teacher, clusters_active=True)
    assert close(out.losses["l_i"], hand_l_i(out.query.detach(), out.key, keys, TAU))
    assert out.losses["l_d"] > 0  # the other switches stay on


@pytest.mark.parametrize("floor", [24, 32, 33, 41])
def test_the_negative_floor_reaches_the_step(floor):
    """Queries of clusters 0, 1, 2 have 24, 32, 40 cluster-aware negatives: 41 starves every row, 24 none."""
    _, teacher, keys, labels = make_teacher(bank={"cluster_aware_negatives": True, "min_negatives": floor})
    out = step(teacher, clusters_active=True)
    rows = hand_mask(out.key_clusters, labels, floor)
    assert close(out.losses["l_i"], hand_l_i(out.query.detach(), out.key, keys, TAU, rows))
    full = [len(r) == K for r in rows]
    if floor == 41:
        assert all(full)
    if floor == 24:
        assert not any(full)
    if floor == 33:  # the queries of cluster 1 (32 negatives) fall back, those of cluster 2 (40) do not
        assert any(full) and not all(full)


def test_warmup_uses_the_whole_bank_and_no_cluster_terms_even_with_the_switch_on():
    _, teacher, keys, _ = make_teacher(bank={"cluster_aware_negatives": True}, loss={"eta": 0.7})
    out = step(teacher, clusters_active=False)
    l_i = hand_l_i(out.query.detach(), out.key, keys, TAU)
    assert close(out.losses["l_i"], l_i)
    assert float(out.losses["l_d"]) == 0.0 and float(out.losses["anti_collapse"]) == 0.0
    assert close(out.losses["loss"], 0.7 * l_i)


@pytest.mark.parametrize("active", [True, False], ids=["clusters-active", "warm-up"])
@pytest.mark.parametrize("switch", [True, False], ids=["switch-on", "switch-off"])
def test_mask_is_computed_exactly_when_clusters_are_active_and_the_switch_is_on(monkeypatch, active, switch):
    calls = []
    real = losses.cluster_aware_negative_mask

    def spy(query_labels, bank_labels, min_negatives, clusters=None):
        calls.append((query_labels.clone(), bank_labels.clone(), min_negatives, clusters))
        return real(query_labels, bank_labels, min_negatives, clusters)

    monkeypatch.setattr(losses, "cluster_aware_negative_mask", spy)
    _, teacher, _, labels = make_teacher(bank={"cluster_aware_negatives": switch, "min_negatives": 5})
    out = step(teacher, clusters_active=active)
    assert len(calls) == (1 if active and switch else 0)
    if calls:
        query_labels, bank_labels, floor, clusters = calls[0]
        assert torch.equal(query_labels, out.key_clusters)
        assert bank_labels.tolist() == labels.tolist()  # the head's current cells of the bank keys
        assert (floor, clusters) == (5, M)


def test_without_cluster_loss_l_d_is_zero_and_the_prototypes_get_no_gradient():
    _, teacher, keys, labels = make_teacher(loss={"cluster_loss": False, "eta": 0.7, "epsilon": 1.9})
    out = step(teacher, clusters_active=True)
    assert float(out.losses["l_d"]) == 0.0 and float(out.losses["anti_collapse"]) == 0.0
    rows = hand_mask(out.key_clusters, labels, 8)  # the negatives stay cluster-aware
    l_i = hand_l_i(out.query.detach(), out.key, keys, TAU, rows)
    assert close(out.losses["l_i"], l_i)
    assert close(out.losses["loss"], 0.7 * l_i)
    out.losses["loss"].backward()
    assert teacher.cluster_head.prototypes.grad is None
    assert teacher.encoder.projection[3].weight.grad.abs().sum() > 0


def test_with_cluster_loss_the_prototypes_get_a_gradient():
    """The control of the test above: the same step with L_D on moves φ."""
    _, teacher, _, _ = make_teacher(loss={"anti_collapse": False})
    out = step(teacher, clusters_active=True)
    out.losses["loss"].backward()
    assert teacher.cluster_head.prototypes.grad.abs().sum() > 0


def test_without_anti_collapse_its_term_is_zero_and_lambda_is_not_applied():
    loss = {"anti_collapse": False, "anti_collapse_weight": 3.0, "eta": 0.7, "epsilon": 1.9}
    _, teacher, keys, labels = make_teacher(loss=loss)
    out = step(teacher, clusters_active=True)
    a = out.query.detach()
    l_i = hand_l_i(a, out.key, keys, TAU, hand_mask(out.key_clusters, labels, 8))
    l_d = hand_l_d(a, keys, TAU)
    assert hand_anti(keys) > 1e-3  # the term it would add is not 0
    assert float(out.losses["anti_collapse"]) == 0.0
    assert close(out.losses["l_i"], l_i) and close(out.losses["l_d"], l_d)
    assert close(out.losses["loss"], 0.7 * l_i + 1.9 * l_d)


@pytest.mark.parametrize("eta, epsilon, lam", [(0.7, 1.9, 3.0), (2.5, 0.3, 0.0), (0.0, 1.0, 11.0)])
def test_every_term_and_weight_by_hand(eta, epsilon, lam):
    loss = {"eta": eta, "epsilon": epsilon, "anti_collapse_weight": lam}
    _, teacher, keys, labels = make_teacher(loss=loss)
    out = step(teacher, clusters_active=True)
    a = out.query.detach()
    l_i = hand_l_i(a, out.key, keys, TAU, hand_mask(out.key_clusters, labels, 8))
    l_d, anti = hand_l_d(a, keys, TAU), hand_anti(keys)
    assert l_i > 0.1 and l_d > 0.1 and anti > 1e-3  # each weight multiplies something that is not 0
    assert close(out.losses["l_i"], l_i)
    assert close(out.losses["l_d"], l_d)
    assert close(out.losses["anti_collapse"], anti)
    assert close(out.losses["loss"], eta * l_i + epsilon * l_d + lam * anti)


def test_the_step_writes_its_keys_into_the_bank_after_using_the_old_ones():
    _, teacher, keys, _ = make_teacher()
    out = step(teacher, clusters_active=True)
    assert torch.equal(teacher.bank.keys[:B], out.key) and torch.equal(teacher.bank.keys[B:], keys[B:])
    assert int(teacher.bank.pointer) == B and int(teacher.bank.filled) == K


def test_anti_collapse_alone_moves_only_the_prototypes_by_its_own_gradient():
    """η = ε = 0: the loss is λ·(log M − H(mean_j softmax_l(cos(k_j, w_l)/τ_φ))), a function of the prototypes
    w_l alone (the bank keys are constants); its gradient is checked against that formula in float64."""
    _, teacher, keys, _ = make_teacher(loss={"eta": 0.0, "epsilon": 0.0, "anti_collapse_weight": 3.0})
    out = step(teacher, clusters_active=True)
    assert close(out.losses["loss"], 3.0 * hand_anti(keys))
    out.losses["loss"].backward()
    w = (3.0 * torch.eye(M, D, dtype=torch.float64)).requires_grad_()
    member = torch.softmax(keys.double() @ F.normalize(w, dim=1).t() / TAU_PHI, dim=1)
    marginal = member.mean(dim=0)
    (3.0 * (math.log(M) + (marginal * marginal.log()).sum())).backward()
    got = teacher.cluster_head.prototypes.grad
    assert w.grad.abs().max() > 1e-4
    torch.testing.assert_close(got.double(), w.grad, rtol=1e-4, atol=1e-6)
    assert all(p.grad is None or not p.grad.any() for p in teacher.encoder.parameters())


# -- the trainer's two additions to the paper, switchable ------------------------------------------------------------


def _trainer(tmp_path, **train):
    from semready.data import load_data
    from semready.teacher.train import Trainer

    sample = load_data("sample")
    data = type(sample)(sample.images[:64], None, None, "sample")
    over = json.loads(json.dumps(TINY))
    over["train"].update({"warmup_epochs": 0, "epochs": 1, **train})
    return Trainer(build_config("quick", overrides=over), data, tmp_path, progress=False)


@pytest.mark.parametrize("on", [True, False])
def test_kmeans_seed_switch(tmp_path, on):
    trainer = _trainer(tmp_path, kmeans_seed=on)
    trainer.prime_bank()
    before = trainer.teacher.cluster_head.prototypes.detach().clone()
    trainer.seed_prototypes()
    after = trainer.teacher.cluster_head.prototypes.detach()
    assert torch.equal(before, after) is not on  # off: φ keeps its random initialisation


@pytest.mark.parametrize("on", [True, False])
def test_revive_dead_clusters_switch(tmp_path, on):
    trainer = _trainer(tmp_path, revive_dead_clusters=on)
    trainer.prime_bank()
    before = trainer.teacher.cluster_head.prototypes.detach().clone()
    revived = trainer.revive_dead_clusters(torch.tensor([64, 0, 0]))  # clusters 1 and 2 got no key
    after = trainer.teacher.cluster_head.prototypes.detach()
    assert revived == (2 if on else 0)
    assert torch.equal(before[0], after[0])  # a live prototype never moves
    assert torch.equal(before[1:], after[1:]) is not on
