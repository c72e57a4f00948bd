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
    """cos(a_i, b̃_j)/τ for every query and bank key, B×K: computed once per step, shared by eq. 2 and eq. 3."""
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
    ``negative_mask`` (B×K, True = in B̃_i) restricts the negatives; None uses the whole bank. ``logits``:
    :func:`similarity_logits` of (a, bank_keys, tau) when already computed.
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
    Rows of the result sum to 1. Shape B×M. ``logits``: :func:`similarity_logits` when already computed.
    """
    logits = similarity_logits(a, bank_keys, tau) if logits is None else logits
    weights = torch.softmax(logits, dim=1)  # exp(cos/τ) / Σ over all keys: the common denominator of eq. 3
    return weights @ membership


def cluster_discrimination(p: torch.Tensor) -> torch.Tensor:
    """L_D, eq. 4: the mean entropy (nats) of the cluster probabilities, (1/N) Σ_i Σ_l −P_il log P_il.

    Args:
        p: P_il, B×M, rows summing to 1.

    Returns:
        A scalar.
    """
    return entropy(p, dim=1).mean()


def marginal_entropy_deficit(p: torch.Tensor) -> torch.Tensor:
    """Anti-collapse term: log M − H(mean_i P_i), in [0, log M]; 0 when clusters are used uniformly.

    L_D alone is minimised by putting everything in one cluster. Maximising the entropy of the marginal
    cluster distribution (Contrastive Clustering, Li et al. 2021; SCAN, Van Gansbeke et al. 2020) prevents it.
    We write it as a deficit so that the term is ≥ 0 and reads "how far from balanced".
    """
    return math.log(p.shape[1]) - entropy(p.mean(dim=0))


def normalized_marginal_entropy(labels: torch.Tensor, clusters: int) -> float:
    """H(cluster sizes)/log M in [0, 1] for hard labels: 1 = balanced, 0 = collapsed to one cluster."""
    return normalized_size_entropy(torch.bincount(labels, minlength=clusters))


def normalized_size_entropy(sizes: torch.Tensor) -> float:
    """H(sizes / Σ sizes)/log M for M cluster sizes (the collapse check logged every epoch)."""
    p = sizes.float() / sizes.sum().clamp_min(1)
    return float(entropy(p) / math.log(len(sizes)))


def total_loss(l_i: torch.Tensor, l_d: torch.Tensor, anti: torch.Tensor, eta: float, epsilon: float,
               lam: float) -> torch.Tensor:
    """L = η L_I + ε L_D (Sec. III-B) + λ · anti-collapse."""
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
