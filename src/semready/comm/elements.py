"""What the language takes from the teacher: per content element, its own axes for the coarse structure.

Each of the teacher's clusters l is a content element with a mean μ_l and its own orientation of the K_l leading
shared directions: W_l (K_l×K_l, orthonormal) holds the principal axes of the element's items within the span of
the first K_l rows of the shared basis U, so the element's complete orthonormal basis is
B_l = blockdiag(W_l, I) U — the shared basis with its coarse, high-variance part re-oriented where items of one
kind agree, and the same fine part. K_l is chosen from ``SPANS`` to minimise the element's two-part code length:
its items' coefficient bits at the reference step plus 16·K_l² bits for W_l in the dictionary (float16).
K_l = 0 is the shared fallback: the element speaks in the shared basis. A cluster whose items share structure
earns its axes and shorter Z_i; one that does not costs nothing extra. The code-length proxy codes every
coefficient at one reference step Δ_ref = √(12·MSE_target) (the step whose uniform rounding alone meets the
fidelity target); the teacher's per-item step choice happens later, in :meth:`SemanticLanguage.represent`.
Each element also has its own Laplace scale per coefficient, shrunk toward the pooled ones.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from semready.comm.representation import laplace_log2_pmf

SPANS = (0, 4, 8, 16, 32, 64)  # candidate re-oriented spans K_l, doubling: the choice is coarse by design
SCALE_PRIOR_ITEMS = 8.0  # an element's coefficient scales shrink toward the pooled ones with this many items' weight
DICTIONARY_BITS_PER_VALUE = 16  # float16 on the link


def laplace_scales(coeffs: torch.Tensor) -> torch.Tensor:
    """Per-column maximum-likelihood scale of a zero-mean Laplace, floored at 1e-3 (pixel units).

    Args:
        coeffs: float N×K.

    Returns:
        float (K,).

    >>> laplace_scales(torch.tensor([[1.0, -2.0], [-3.0, 0.0]])).tolist()
    [2.0, 1.0]
    """
    if len(coeffs) == 0:
        return torch.full((coeffs.shape[1],), 1e-3)
    return coeffs.abs().mean(0).clamp_min(1e-3)


def code_bits(coeffs: torch.Tensor, scales: torch.Tensor, step: float, q_max: int) -> float:
    """Bits of coefficients quantised at ``step`` under quantised-Laplace models of the given scales.

    Args:
        coeffs: float N×K (pixel units).
        scales: Laplace scales, float (K,) (pixel units).
        step: the quantiser step Δ.
        q_max: the largest symbol magnitude.

    Returns:
        The total code length in bits.

    >>> round(code_bits(torch.zeros(3, 2), torch.tensor([0.01, 0.01]), 1.0, 10), 3)
    0.0
    """
    if coeffs.numel() == 0:
        return 0.0
    q = torch.round(coeffs.double() / step)
    return float(-laplace_log2_pmf(q, scales.double() / step, q_max).sum())


def principal_axes(a: torch.Tensor) -> torch.Tensor:
    """The principal axes (uncentred) of the rows of ``a``, most variance first: a K×K orthonormal matrix.

    Args:
        a: float n×K, n ≥ K.

    Returns:
        float K×K, one axis per row.

    >>> principal_axes(torch.tensor([[0.0, 3.0], [0.0, -3.0], [1.0, 0.0]])).abs().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    _, _, vh = torch.linalg.svd(a.double(), full_matrices=True)
    return vh.float()


def shrunk_scales(c: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """An element's Laplace scales shrunk toward the pooled ones with ``SCALE_PRIOR_ITEMS`` items' weight.

    Args:
        c: the element's coefficients, float n×K.
        pooled: the pooled scales, float (K,).

    Returns:
        float (K,): (Σ|c| + 8·pooled) / (n + 8).

    >>> shrunk_scales(torch.full((8, 1), 2.0), torch.tensor([4.0])).tolist()
    [3.0]
    """
    return (c.abs().sum(0) + SCALE_PRIOR_ITEMS * pooled) / (len(c) + SCALE_PRIOR_ITEMS)


def choose_span(a: torch.Tensor, pooled: torch.Tensor, step: float, q_max: int, candidates: tuple[int, ...]
                ) -> tuple[int, torch.Tensor, dict[int, float]]:
    """The re-oriented span with the shortest two-part code for one element's items.

    For span K: the first K coefficients rotated to the element's axes (scales fitted on them), the next ones
    as they are (scales shrunk toward the pooled ones); cost = their bits + 16·K². Coefficients beyond the
    largest candidate are the same for every K and left out.

    Args:
        a: the element's items (minus its mean) in the leading shared directions, float n×K_max.
        pooled: the pooled Laplace scales of those directions, float (K_max,).
        step: the reference step Δ_ref.
        q_max: the largest symbol magnitude.
        candidates: spans to try (0 among them), each ≤ K_max.

    Returns:
        (the chosen span K, its axes W: float K×K, span → code length in bits up to a constant).

    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(200, 4, generator=g) + 40 * torch.randn(200, 1, generator=g)  # one shared direction
    >>> k, w, costs = choose_span(a, torch.full((4,), 30.0), 1.0, 4000, (0, 4))
    >>> k, round(float(w[0].abs().mean()), 2)
    (4, 0.5)
    """
    width = a.shape[1]
    costs, axes = {}, {}
    for k in candidates:
        w = principal_axes(a[:, :k]) if k else torch.zeros(0, 0)
        rotated = a[:, :k] @ w.T
        rest = a[:, k:width]
        costs[k] = (code_bits(rotated, laplace_scales(rotated), step, q_max)
                    + code_bits(rest, shrunk_scales(rest, pooled[k:width]), step, q_max)
                    + DICTIONARY_BITS_PER_VALUE * k * k)
        axes[k] = w
    best = min(costs, key=lambda k: (costs[k], k))
    return best, axes[best], costs


def element_axes(coeffs: torch.Tensor, clusters: np.ndarray, n_clusters: int, max_span: int, step: float,
                 q_max: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every content element's re-oriented span and axes (:func:`choose_span`), and its coefficient scales.

    Args:
        coeffs: items minus their element's mean in the shared basis, float N×D.
        clusters: content element per item, int (N,), in 0..n_clusters−1.
        n_clusters: M.
        max_span: the largest span allowed (0: every element uses the shared basis as it is).
        step: the reference step Δ_ref.
        q_max: the largest symbol magnitude.

    Returns:
        (axes: float (M + 1)×K×K, element l's W_l in the top-left K_l×K_l block, zero elsewhere, row M —
        unseen elements — empty; spans: int64 (M + 1,), K_l; log_scales: float (M + 1)×D, ln b_{l,j} of the
        element's own coefficients — rotated ones fitted on its items, the rest shrunk toward the pooled scales,
        row M the pooled scales), K = the largest span chosen.

    >>> g = torch.Generator().manual_seed(0)
    >>> c = torch.randn(400, 6, generator=g)
    >>> c[:200, :4] += 40 * torch.randn(200, 1, generator=g)  # element 0: its four leading coefficients move together
    >>> axes, spans, scales = element_axes(c, np.repeat([0, 1], 200), 2, 8, 1.0, 4000)
    >>> spans.tolist(), tuple(axes.shape), tuple(scales.shape)
    ([4, 0, 0], (3, 4, 4), (3, 6))
    """
    d = coeffs.shape[1]
    cl = torch.from_numpy(np.asarray(clusters, dtype=np.int64))
    pooled = laplace_scales(coeffs)
    top = min(max_span, max(SPANS), d)
    chosen: list[torch.Tensor] = []
    spans = torch.zeros(n_clusters + 1, dtype=torch.int64)
    scales = pooled.repeat(n_clusters + 1, 1)
    for el in range(n_clusters):
        c = coeffs[cl == el]
        candidates = tuple(k for k in SPANS if k <= min(top, len(c) // 2))
        k, w = 0, torch.zeros(0, 0)
        if len(candidates) > 1:
            k, w, _ = choose_span(c[:, :top], pooled[:top], step, q_max, candidates)
        spans[el] = k
        chosen.append(w)
        rotated = c[:, :k] @ w.T
        scales[el] = torch.cat([laplace_scales(rotated), shrunk_scales(c[:, k:], pooled[k:])])
    width = int(spans.max())
    axes = torch.zeros(n_clusters + 1, width, width)
    for el, w in enumerate(chosen):
        axes[el, :len(w), :len(w)] = w
    return axes, spans, scales.log()


def refinement_basis(cov: torch.Tensor) -> torch.Tensor:
    """All D principal directions of a covariance, most variance first: a complete orthonormal basis.

    Complete, so every item — semantic-poor ones included — is reachable at some length. The exact
    eigendecomposition is deliberate: a randomised top-r solver is faster but changes the representation
    lengths it is meant to measure.

    Args:
        cov: float D×D, symmetric.

    Returns:
        float D×D, one direction per row.

    >>> refinement_basis(torch.diag(torch.tensor([1.0, 3.0, 2.0]))).abs().argmax(1).tolist()
    [1, 2, 0]
    """
    evals, evecs = torch.linalg.eigh(cov)
    return evecs[:, torch.argsort(evals, descending=True)].T.contiguous()


def reference_step(mse_target: float) -> float:
    """Δ_ref = √(12·MSE_target): uniform rounding at this step alone meets the fidelity target.

    >>> round(reference_step(1.0), 4)
    3.4641
    """
    return math.sqrt(12 * mse_target)
