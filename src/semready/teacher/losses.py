"""The paper's losses (Chaccour & Saad, Sec. III): one function per equation, and :class:`TeacherLoss`, the
total L = ηL_I + εL_D + λ·anti-collapse returning its named terms.

All embeddings are L2-normalised, so a dot product is the cosine of eq. 2-3.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats along ``dim`` of probabilities ``p`` (0·log 0 taken as 0).

    Args:
        p: probabilities, any shape, summing to 1 along ``dim``.
        dim: the distribution's axis.

    Returns:
        ``p``'s shape without ``dim``, nats.

    >>> round(float(entropy(torch.tensor([0.5, 0.5]))), 4)
    0.6931
    """
    return -(p * p.clamp_min(1e-12).log()).sum(dim=dim)


def cluster_aware_negative_mask(
    query_labels: torch.Tensor, bank_labels: torch.Tensor, min_negatives: int, clusters: int | None = None
) -> torch.Tensor:
    """The contrastive set B̃_i of eq. 2 as a B×K boolean mask: bank keys of clusters C_l with l ≠ i's cluster.

    Rows left with fewer than ``min_negatives`` keys fall back to the whole bank. Without this floor, early
    training (when nearly every key shares one pseudo-label) leaves no negatives, L_I is exactly 0 and the
    encoder stops learning (a deadlock). With ``clusters`` (M) the negatives per row are counted from the M
    cluster sizes (O(K)) rather than by summing the B×K mask.

    Args:
        query_labels: i's cluster for each query, int (B,).
        bank_labels: each bank key's cluster, int (K,).
        min_negatives: the floor (capped at K).
        clusters: M, or None to count by summing the mask.

    Returns:
        bool B×K, True where the key is a negative of the query.

    >>> cluster_aware_negative_mask(torch.tensor([0, 1]), torch.tensor([0, 1, 1]), min_negatives=2).tolist()
    [[False, True, True], [True, True, True]]
    """
    k = bank_labels.numel()
    if clusters is None:
        negatives = (query_labels.view(-1, 1) != bank_labels.view(1, -1)).sum(dim=1)
    else:
        negatives = k - torch.bincount(bank_labels, minlength=clusters)[query_labels]
    starved = negatives < min(min_negatives, k)
    # starved rows compare against a label no key has (-1): every key is a negative
    return query_labels.masked_fill(starved, -1).view(-1, 1) != bank_labels.view(1, -1)


def similarity_logits(a: torch.Tensor, bank_keys: torch.Tensor, tau: float) -> torch.Tensor:
    """cos(a_i, b̃_j)/τ for every query and bank key: computed once per step, shared by eq. 2 and eq. 3.

    Args:
        a: queries, float B×d, unit rows.
        bank_keys: stale keys b̃, float K×d, unit rows.
        tau: τ.

    Returns:
        float B×K.
    """
    return a @ bank_keys.t() / tau


def instance_discrimination(
    a: torch.Tensor,
    b: torch.Tensor,
    bank_keys: torch.Tensor,
    tau: float,
    negative_mask: torch.Tensor | None = None,
    logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_I, eq. 2, averaged over the batch: InfoNCE of query a_i against its key b_i and the stale keys b̃.

    L_I(X_i) = −log exp(cos(a_i, b_i)/τ) / Σ_{b̃ ∈ B̃_i ∪ {b_i}} exp(cos(a_i, b̃)/τ).

    Args:
        a: queries a_i, float B×d, unit rows.
        b: their keys b_i, float B×d, unit rows.
        bank_keys: stale keys b̃, float K×d, unit rows.
        tau: τ.
        negative_mask: bool B×K, True = in B̃_i; None uses the whole bank.
        logits: :func:`similarity_logits` of (a, bank_keys, tau) when already computed, B×K.

    Returns:
        A scalar, nats.

    >>> a = torch.eye(2)
    >>> round(float(instance_discrimination(a, a, -a, tau=1.0)), 4)  # log(e + 1 + 1/e) − 1
    0.4076
    """
    pos = (a * b).sum(dim=1, keepdim=True) / tau
    neg = similarity_logits(a, bank_keys, tau) if logits is None else logits
    if negative_mask is not None:
        neg = neg.masked_fill(~negative_mask, float("-inf"))
    logits = torch.cat([pos, neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - pos.squeeze(1)).mean()


def cluster_probabilities(a: torch.Tensor, bank_keys: torch.Tensor, membership: torch.Tensor, tau: float,
                          logits: torch.Tensor | None = None):
    """P_il, eq. 3: the share of a_i's similarity mass exp(cos(a_i, b̃)/τ) that falls on the keys of C_l.

    ``membership`` is K×M: one-hot rows give eq. 3 exactly (hard clusters C_l); soft rows (the cluster head's
    softmax) give its differentiable relaxation, through which the decision boundaries of φ learn by backprop.

    Args:
        a: queries a_i, float B×d, unit rows.
        bank_keys: stale keys b̃, float K×d, unit rows.
        membership: each key's cluster, float K×M, rows summing to 1.
        tau: τ.
        logits: :func:`similarity_logits` of (a, bank_keys, tau) when already computed, B×K.

    Returns:
        P_il, float B×M, rows summing to 1.

    >>> keys = torch.eye(2)
    >>> cluster_probabilities(keys, keys, torch.eye(2), tau=1.0).sum(dim=1).tolist()
    [1.0, 1.0]
    """
    logits = similarity_logits(a, bank_keys, tau) if logits is None else logits
    weights = torch.softmax(logits, dim=1)  # exp(cos/τ) / Σ over all keys: the common denominator of eq. 3
    return weights @ membership


def cluster_discrimination(p: torch.Tensor) -> torch.Tensor:
    """L_D, eq. 4: the mean entropy (nats) of the cluster probabilities, (1/N) Σ_i Σ_l −P_il log P_il.

    Args:
        p: P_il, B×M, rows summing to 1.

    Returns:
        A scalar, nats.

    >>> round(float(cluster_discrimination(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))), 4)  # (ln 2 + 0) / 2
    0.3466
    """
    return entropy(p, dim=1).mean()


def marginal_entropy_deficit(p: torch.Tensor) -> torch.Tensor:
    """Anti-collapse term: log M − H(mean_i P_i), in [0, log M]; 0 when clusters are used uniformly.

    L_D alone is minimised by putting everything in one cluster. Maximising the entropy of the marginal
    cluster distribution (Contrastive Clustering, Li et al. 2021; SCAN, Van Gansbeke et al. 2020) prevents it.
    We write it as a deficit so that the term is ≥ 0 and reads "how far from balanced".

    Args:
        p: soft cluster assignments, float N×M, rows summing to 1.

    Returns:
        A scalar, nats.

    >>> round(float(marginal_entropy_deficit(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))), 4)  # collapsed: log 2
    0.6931
    """
    return math.log(p.shape[1]) - entropy(p.mean(dim=0))


def normalized_marginal_entropy(labels: torch.Tensor, clusters: int) -> float:
    """H(cluster sizes)/log M in [0, 1] for hard labels: 1 = balanced, 0 = collapsed to one cluster.

    Args:
        labels: each item's cluster, int (N,).
        clusters: M.

    Returns:
        The normalised entropy.

    >>> normalized_marginal_entropy(torch.tensor([0, 1, 0, 1]), 2)
    1.0
    """
    return normalized_size_entropy(torch.bincount(labels, minlength=clusters))


def normalized_size_entropy(sizes: torch.Tensor) -> float:
    """H(sizes / Σ sizes)/log M for M cluster sizes (the collapse check logged every epoch).

    Args:
        sizes: items per cluster, int (M,).

    Returns:
        The normalised entropy in [0, 1].

    >>> normalized_size_entropy(torch.tensor([3, 3]))
    1.0
    """
    p = sizes.float() / sizes.sum().clamp_min(1)
    return float(entropy(p) / math.log(len(sizes)))


def total_loss(l_i: torch.Tensor, l_d: torch.Tensor, anti: torch.Tensor, eta: float, epsilon: float,
               lam: float) -> torch.Tensor:
    """L = η L_I + ε L_D (Sec. III-B) + λ · anti-collapse.

    Args:
        l_i: L_I (eq. 2), scalar.
        l_d: L_D (eq. 4), scalar.
        anti: the anti-collapse term, scalar.
        eta: η.
        epsilon: ε.
        lam: λ.

    Returns:
        A scalar.

    >>> float(total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.5), 1.0, 1.0, 2.0))
    4.0
    """
    return eta * l_i + epsilon * l_d + lam * anti


class TeacherLoss(nn.Module):
    """L = η L_I (eq. 2) + ε L_D (eq. 4, through P_il of eq. 3) + λ · anti-collapse, with its named terms.

    Args:
        tau: τ of eq. 2 and 3.
        eta: η, weight of L_I.
        epsilon: ε, weight of L_D.
        cluster_loss: ablation switch for L_D (eq. 3-4).
        anti_collapse: ablation switch for the marginal-entropy term.
        anti_collapse_weight: λ.
        cluster_aware_negatives: ablation switch: eq. 2's negatives from clusters other than i's (else the whole
            bank).
        min_negatives: the floor of :func:`cluster_aware_negative_mask`.

    ``forward(a, b, keys, query_clusters, bank_logits)``:
        a: queries ψ_κ(χ1(X_i)), B×d; b: keys ψ_κ̃(χ2(X_i)), B×d; keys: the bank's stale keys b̃, K×d;
        query_clusters: i's cluster per query, (B,); bank_logits: the cluster head's logits of the bank keys,
        K×M — None during warm-up, when only L_I with plain negatives applies.

    Returns:
        ``{"loss", "l_i", "l_d", "anti_collapse"}``, scalars (``loss`` carries the gradient).

    >>> crit = TeacherLoss(tau=0.1)
    >>> a = b = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    >>> keys = torch.nn.functional.normalize(torch.randn(32, 8), dim=1)
    >>> sorted(crit(a, b, keys, torch.zeros(4, dtype=torch.long), torch.randn(32, 3)))
    ['anti_collapse', 'l_d', 'l_i', 'loss']
    """

    def __init__(self, tau: float = 0.1, eta: float = 1.0, epsilon: float = 1.0, *, cluster_loss: bool = True,
                 anti_collapse: bool = True, anti_collapse_weight: float = 5.0,
                 cluster_aware_negatives: bool = True, min_negatives: int = 256):
        super().__init__()
        self.tau, self.eta, self.epsilon = tau, eta, epsilon
        self.cluster_loss, self.anti_collapse, self.anti_collapse_weight = cluster_loss, anti_collapse, \
            anti_collapse_weight
        self.cluster_aware_negatives, self.min_negatives = cluster_aware_negatives, min_negatives

    def forward(self, a: torch.Tensor, b: torch.Tensor, keys: torch.Tensor, query_clusters: torch.Tensor,
                bank_logits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The named terms of L for one step (see the class docstring for the arguments' shapes)."""
        zero = a.new_zeros(())
        l_d = anti = zero
        mask = None
        logits = similarity_logits(a, keys, self.tau)  # B×K cos/τ, computed once for eq. 2 and eq. 3
        if bank_logits is not None:
            if self.cluster_loss:
                membership = torch.softmax(bank_logits, dim=1)
                l_d = cluster_discrimination(cluster_probabilities(a, keys, membership, self.tau, logits))
                if self.anti_collapse:
                    anti = marginal_entropy_deficit(membership)
            if self.cluster_aware_negatives:
                mask = cluster_aware_negative_mask(query_clusters, bank_logits.detach().argmax(dim=1),
                                                   self.min_negatives, bank_logits.shape[1])
        l_i = instance_discrimination(a, b, keys, self.tau, mask, logits)
        lam = self.anti_collapse_weight if self.anti_collapse else 0.0
        loss = total_loss(l_i, l_d, anti, self.eta, self.epsilon, lam)
        return {"loss": loss, "l_i": l_i, "l_d": l_d, "anti_collapse": anti}


__all__ = [
    "TeacherLoss",
    "entropy",
    "cluster_aware_negative_mask",
    "cluster_discrimination",
    "cluster_probabilities",
    "instance_discrimination",
    "marginal_entropy_deficit",
    "normalized_marginal_entropy",
    "normalized_size_entropy",
    "similarity_logits",
    "total_loss",
]
