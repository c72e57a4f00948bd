import torch

from semready.config import build_config
from semready.teacher.backbones import CifarResNet18, SmallCNN
from semready.teacher.bank import MemoryBank
from semready.teacher.heads import momentum_update
from semready.teacher.metrics import clustering_accuracy, clustering_scores
from semready.teacher.model import Teacher


def test_encoders_give_unit_embeddings_and_expected_feature_sizes():
    assert SmallCNN(8)(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    assert CifarResNet18()(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
    cfg = build_config("quick", overrides={"model": {"width": 8, "embed_dim": 16, "clusters": 4}})
    t = Teacher.from_config(cfg)
    t.eval()
    z = t.encoder(torch.randn(3, 3, 32, 32))
    assert z.shape == (3, 16) and torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    assert t.cluster_head(z).shape == (3, 4)
    assert not any(p.requires_grad for p in t.momentum_encoder.parameters())


def test_momentum_update_is_the_ema_formula():
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = target.weight.detach().clone()
    momentum_update(online, target, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight.detach())


def test_bank_is_a_fifo_ring_and_groups_per_cluster():
    bank = MemoryBank(size=5, dim=2)
    assert bank.valid_keys().shape == (0, 2)
    bank.enqueue(torch.tensor([[1.0, 0], [2, 0], [3, 0]]))
    assert bank.valid_keys()[:, 0].tolist() == [1, 2, 3]
    bank.enqueue(torch.tensor([[4.0, 0], [5, 0], [6, 0]]))
    assert bank.valid_keys()[:, 0].tolist() == [6, 2, 3, 4, 5]  # the oldest key (1) was replaced
    groups = MemoryBank.members_per_cluster(torch.tensor([1, 0, 1, 2, 1]), 3)
    assert [g.tolist() for g in groups] == [[1], [0, 2, 4], [3]]


def test_hungarian_accuracy_ignores_cluster_names():
    labels = [0, 0, 1, 1, 2, 2]
    assert clustering_accuracy(labels, [2, 2, 0, 0, 1, 1]) == 1.0
    assert clustering_accuracy(labels, [0, 0, 0, 0, 0, 0]) == 2 / 6
    s = clustering_scores(labels, [1, 1, 2, 2, 0, 0])
    assert s["nmi"] > 0.999 and s["ari"] > 0.999
