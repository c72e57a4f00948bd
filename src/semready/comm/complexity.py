"""Language complexity Γ (Sec. II; docs/protocol.md §7), estimated in its tractable form Γ̂:

    Γ̂(L, ζ, Λ) = E_{θ~Λ}[ Σ_i −ln p_θ(Z_i | X_i) ]  +  β · KL(Λ ‖ ζ)        (nats)

- θ is the language's probability model (:class:`~semready.comm.language.SemanticLanguage`): content-element
  logits a (M) and per-element, per-coefficient log-scales ln b_{l,j} ((M + 1)×D; row M: the pooled scales).
  Z_i is the representation the teacher sends for X_i, so −ln p_θ(Z_i | X_i) is its code length in nats under θ;
  the sum runs over *held-out* items (not used to build the language).
- Λ, the post-distribution: a Gaussian around the fitted θ̂ with the Laplace-approximation variances — 1/n for
  each ln b_{l,j} (the Fisher information of a Laplace log-scale is 1 per observation; n = the element's items
  plus the shrinkage weight, or all items for the pooled row) and 1/(n_l + 1) for each logit a_l.
- ζ, the pre-distribution: the language at initialisation, before it has seen data — uniform content
  elements (a_l = −ln M) and every coefficient at the scale of uniform pixel noise, b_0 = (255/√12)·√(2/π) —
  with unit variance.
- β = 1 by default (``comm.beta``), which makes Γ̂ a two-part code length (PAC-Bayes/MDL reading of the tractable form).
- The dictionary's geometry (element means and axes, the shared basis rows in use) is a deterministic part of the
  language with no distribution to draw from: its length on the link (``dictionary_bytes`` without θ, which the
  KL term prices) is added to the model cost, so Γ̂ = E[cross-entropy] + β·KL + |geometry|·ln 2.
The expectation is a Monte Carlo mean over ``samples`` draws θ ~ Λ (seeded).

Second estimate, the prequential code length: cut the items into chunks; code chunk 1 with the initial
language (grey mean, pixel basis, ζ's means), chunk t+1 with a language built on chunks 1..t; sum.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from semready.comm.elements import SCALE_PRIOR_ITEMS
from semready.comm.language import DEFAULT_MAX_SPAN, Representations, SemanticLanguage

B0 = 255 / math.sqrt(12) * math.sqrt(2 / math.pi)  # E|c| of a coefficient of uniform pixel noise
LN2 = math.log(2.0)


def posterior(lang: SemanticLanguage) -> tuple[torch.Tensor, torch.Tensor]:
    """Λ, the post-distribution: its mean and variance over θ = (logits, log-scales).

    Args:
        lang: the fitted language (M content elements, D values).

    Returns:
        (mean, variance), each float64 (M + the scale parameters,).

    >>> mean, var = posterior(initial_language((1, 4, 4), 2, 30.0))
    >>> tuple(mean.shape), tuple(var.shape)  # 2 logits, 3 rows of 16 scales
    ((50,), (50,))
    """
    counts = lang.counts.double()
    items = torch.cat([counts + SCALE_PRIOR_ITEMS * (counts > 0),  # shrunk toward the pooled scales
                       torch.tensor([lang.n_items], dtype=torch.float64)]).clamp_min(1.0)
    mean = torch.cat([lang.logits.double(), lang.log_scales.double().flatten()])
    var = torch.cat([1.0 / (counts + 1.0), (1.0 / items)[:, None].expand(lang.log_scales.shape).flatten()])
    return mean, var


def prior_mean(lang: SemanticLanguage) -> torch.Tensor:
    """ζ, the pre-distribution: its mean, uniform content elements and noise-scale coefficients.

    Args:
        lang: the language (only M and D are used).

    Returns:
        float64, the shape of :func:`posterior`'s; ζ's variance is ``prior_var`` of :func:`kl_to_prior`.
    """
    return torch.cat([torch.full((lang.n_clusters,), -math.log(lang.n_clusters), dtype=torch.float64),
                      torch.full((lang.log_scales.numel(),), math.log(B0), dtype=torch.float64)])


def kl_to_prior(lang: SemanticLanguage, prior_var: float = 1.0) -> float:
    """KL(Λ ‖ ζ) in nats for diagonal Gaussians.

    Args:
        lang: the fitted language.
        prior_var: ζ's variance, the same for every parameter.

    Returns:
        The divergence in nats.

    >>> round(kl_to_prior(initial_language((1, 4, 4), 2, 30.0)), 6)  # ζ's own language has not moved
    0.0
    """
    mu1, v1 = posterior(lang)
    mu0 = prior_mean(lang)
    return float(0.5 * (v1 / prior_var + (mu1 - mu0) ** 2 / prior_var - 1 - torch.log(v1 / prior_var)).sum())


def expected_cross_entropy(lang: SemanticLanguage, rep: Representations, samples: int = 8, seed: int = 0
                           ) -> float:
    """E_{θ~Λ}[Σ_i −ln p_θ(Z_i|X_i)] over the items of ``rep`` (nats), by Monte Carlo.

    Args:
        lang: the fitted language, Λ centred on it.
        rep: held-out representations.
        samples: draws θ ~ Λ.
        seed: seeds the draws.

    Returns:
        The expected code length in nats (0 for no items).
    """
    if len(rep) == 0:
        return 0.0
    mean, var = posterior(lang)
    g = torch.Generator().manual_seed(seed)
    m = lang.n_clusters
    total = 0.0
    for _ in range(samples):
        theta = mean + var.sqrt() * torch.randn(len(mean), generator=g, dtype=torch.float64)
        bits = lang.information_bits(rep, log_scales=theta[m:].reshape(lang.log_scales.shape), logits=theta[:m])
        total += float(bits.sum()) * LN2
    return total / samples


def language_complexity(lang: SemanticLanguage, heldout: Representations, beta: float = 1.0,
                        samples: int = 8, seed: int = 0) -> dict[str, float]:
    """Γ̂, eq. 1 (tractable form): E_Λ[cross-entropy] + β·KL(Λ‖ζ) + the dictionary, on held-out items (nats).

    Args:
        lang: the fitted language.
        heldout: representations of items the language was not built on.
        beta: β.
        samples: Monte Carlo draws θ ~ Λ.
        seed: seeds the draws.

    Returns:
        ``gamma_nats``, ``gamma_nats_per_item``, ``cross_entropy_nats_per_item``, ``kl_nats``,
        ``dictionary_nats`` (the dictionary rows the held-out items use, as sent), ``beta``, ``heldout_items``.

    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8, generator=g)
    >>> clusters = np.arange(40) % 2
    >>> lang = SemanticLanguage.build(images[:20], clusters[:20], 2, 30.0)
    >>> rep, _ = lang.represent(images[20:], clusters[20:])
    >>> gamma = language_complexity(lang, rep)
    >>> gamma["heldout_items"], abs(gamma["gamma_nats"] - 20 * gamma["cross_entropy_nats_per_item"]
    ...                             - gamma["kl_nats"] - gamma["dictionary_nats"]) < 1e-6
    (20, True)
    """
    ce = expected_cross_entropy(lang, heldout, samples, seed)
    kl = kl_to_prior(lang)
    dictionary = 8 * len(lang.dictionary_bytes(int(heldout.k.max(initial=0)), with_model=False)) * LN2
    n = max(len(heldout), 1)
    gamma = ce + beta * kl + dictionary
    return {"gamma_nats": gamma, "gamma_nats_per_item": gamma / n, "cross_entropy_nats_per_item": ce / n,
            "kl_nats": kl, "dictionary_nats": dictionary, "beta": beta, "heldout_items": len(heldout)}


def initial_language(shape: tuple[int, int, int], n_clusters: int,
                     fidelity_psnr_db: float) -> SemanticLanguage:
    """ζ's language: every content element the grey image, the pixel basis, noise-scale coefficients.

    Args:
        shape: the items' C×H×W.
        n_clusters: M.
        fidelity_psnr_db: the fidelity target.

    Returns:
        A language built on no items.
    """
    d = int(np.prod(shape))
    m = n_clusters
    return SemanticLanguage(torch.full((m + 1, d), 127.5), torch.eye(d), torch.zeros(m + 1, 0, 0),
                            torch.zeros(m + 1, dtype=torch.int64), torch.full((m + 1, d), math.log(B0)),
                            torch.full((m,), -math.log(m)), torch.zeros(m), shape, fidelity_psnr_db, 0, "nothing")


def prequential_code_length(images: torch.Tensor, clusters: np.ndarray, n_clusters: int, fidelity_psnr_db: float,
                            chunks: int = 5, seed: int = 0, bit_cap: float | None = None,
                            max_span: int = DEFAULT_MAX_SPAN) -> dict[str, float]:
    """The prequential code length: chunk t+1 coded with a language built on chunks 1..t.

    Chunk 1 is coded with :func:`initial_language`; the items are cut into chunks in a seeded order.

    Args:
        images: uint8 N×C×H×W.
        clusters: content element per item, int (N,).
        n_clusters: M.
        fidelity_psnr_db: the fidelity target.
        chunks: number of chunks (at most N).
        seed: seeds the order.
        bit_cap: the longest Z in bits (see :meth:`SemanticLanguage.represent`).
        max_span: the largest per-element re-oriented span of the languages built.

    Returns:
        ``prequential_nats``, ``prequential_nats_per_item``, ``chunks``.

    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8, generator=g)
    >>> out = prequential_code_length(images, np.arange(20) % 2, 2, 30.0, chunks=4)
    >>> out["chunks"], out["prequential_nats"] > 0
    (4, True)
    """
    n = len(images)
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.linspace(0, n, min(chunks, n) + 1).astype(int)
    shape = tuple(int(s) for s in images.shape[1:])
    total_bits = 0.0
    for t in range(len(bounds) - 1):
        seen, now = order[:bounds[t]], order[bounds[t]:bounds[t + 1]]
        if len(now) == 0:
            continue
        lang = (initial_language(shape, n_clusters, fidelity_psnr_db) if len(seen) == 0 else
                SemanticLanguage.build(images[seen], clusters[seen], n_clusters, fidelity_psnr_db,
                                       max_span=max_span))
        rep, _ = lang.represent(images[now], clusters[now], bit_cap)
        total_bits += float(lang.information_bits(rep).sum())
    nats = total_bits * LN2
    return {"prequential_nats": nats, "prequential_nats_per_item": nats / max(n, 1), "chunks": len(bounds) - 1}


def heldout_complexity_per_item(images: torch.Tensor, clusters: np.ndarray, n_clusters: int, cfg, seed: int = 0
                                ) -> float:
    """Γ̂ per item, without the dictionary, of a language built on a seeded half of the items, measured on the
    other half (nats).

    Used by the ``complexity`` split policy. The dictionary is left out on purpose: it is a one-off cost whose
    share per item falls with the stream's length, so with it a larger learnable set would always look simpler;
    the policy budgets what describing each item costs (E[cross-entropy] + β·KL per item).

    Args:
        images: uint8 N×C×H×W.
        clusters: content element per item, int (N,).
        n_clusters: M.
        cfg: the run's :class:`~semready.config.CommConfig` (fidelity target, β, draws, bit cap).
        seed: seeds the halving and the draws.

    Returns:
        nats per held-out item; inf for fewer than 2 items.
    """
    n = len(images)
    if n < 2:
        return float("inf")
    order = np.random.default_rng(seed).permutation(n)
    fit, held = order[: n // 2], order[n // 2:]
    lang = SemanticLanguage.build(images[fit], clusters[fit], n_clusters, cfg.fidelity_psnr_db,
                                  max_span=cfg.element_span_max)
    rep, _ = lang.represent(images[held], clusters[held], cfg.bit_cap)
    gamma = language_complexity(lang, rep, cfg.beta, cfg.gamma_samples, seed)
    return (gamma["gamma_nats"] - gamma["dictionary_nats"]) / len(held)
