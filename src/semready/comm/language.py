"""The semantic language L = (X_l,i → Z_i) shared by teacher and apprentice (Sec. II, Fig. 1).

Geometry (the dictionary both sides hold), built on the teacher's knowledge:
- content elements: the teacher's deep clusters l, each with its mean item μ_l (pixel units, 0–255);
- a complete orthonormal shared basis U (D×D, rows = principal directions of x − μ_{l(x)} over all the
  language's items, most variance first);
- per element, its own axes for the coarse structure: W_l re-orients the K_l leading shared directions, so the
  element's basis is B_l = blockdiag(W_l, I)·U, K_l chosen by description length (:mod:`semready.comm.elements`;
  K_l = 0, the shared fallback, when the axes do not pay for their dictionary entries).

A representation Z_i = (l, s, k, q_1 … q_k): content element l; quantiser step index s on the ladder
Δ_s = Δ_0·2^(−s/2); q_j = round(c_j / Δ_s) for the coefficients c = B_l(x − μ_l); k = 1 + the index of the last
non-zero q (the rest are zero). The apprentice regenerates x̂ = round(clip(μ_l + Σ_j Δ_s q_j B_l,j)). The
teacher picks the coarsest step whose regeneration meets the fidelity target — the shortest refinement that
regenerates the item well enough (docs/kpis.md).

Probability model θ (what Γ's Λ and ζ are over; fitted on the language's own items only):
π = softmax(a) over content elements, and per element and coefficient Laplace scales b_{l,j} in pixel units (the
re-oriented ones fitted on the element's items, the others shrunk toward the pooled scales);
q_j ~ QuantizedLaplace(0, b_{l,j} / Δ_s); s and k uniform over their ranges. :mod:`semready.comm.entropy` turns
these models into real range-coded bitstreams;
:mod:`semready.comm.complexity` estimates the language's complexity Γ̂.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semready.comm.elements import element_axes, reference_step, refinement_basis
from semready.comm.kpi import psnr_db, target_mse
from semready.comm.language_files import load_language_files, save_language_files
from semready.comm.representation import MIN_SCALE, Representations, laplace_log2_pmf
from semready.data.pixels import cluster_means
from semready.errors import SemreadyError

FORMAT_VERSION = 2
MAX_VALUES = 4096  # a complete D×D basis: 32×32 RGB items (3,072 values) fit, 64×64 do not
STEPS = 16  # quantiser ladder length: Δ_0 down to Δ_0·2^(−7.5)
DEFAULT_MAX_SPAN = 64  # the largest per-element re-oriented span K_l (comm.element_span_max)
LN2 = math.log(2.0)
_TENSORS = ("means", "basis", "axes", "spans", "log_scales", "logits", "counts")


def ladder(fidelity_psnr_db: float) -> torch.Tensor:
    """The quantiser ladder Δ_s (pixel units), coarsest first; Δ_0 = 2·√(12·MSE_target).

    >>> [round(float(x), 3) for x in ladder(30.0)[:2]]
    [55.868, 39.504]
    """
    delta0 = 2 * math.sqrt(12 * target_mse(fidelity_psnr_db))
    return delta0 * 2.0 ** (-torch.arange(STEPS, dtype=torch.float64) / 2)


def symbol_bound(n_values: int, fidelity_psnr_db: float) -> int:
    """The largest coefficient magnitude at the finest step: |c_j| ≤ ‖x − μ‖ ≤ 255·√D.

    >>> symbol_bound(16, 30.0)  # 255·4 / Δ_15 + 1, Δ_15 = 55.868·2^(−7.5)
    3306
    """
    return int(math.ceil(255 * math.sqrt(n_values) / float(ladder(fidelity_psnr_db)[-1]))) + 1


@dataclass
class SemanticLanguage:
    """The dictionary and probability model that teacher and apprentice share.

    Attributes:
        means: float (M + 1)×D, content-element means μ_l, then the global mean (for unseen elements).
        basis: float D×D, the shared basis U, orthonormal rows.
        axes: float (M + 1)×K×K, each element's W_l in the top-left K_l×K_l block (row M: none).
        spans: int64 (M + 1,), K_l.
        log_scales: float (M + 1)×D, ln b_{l,j} in pixel units.
        logits: float (M,), the content-element prior a (normalised log-probabilities).
        counts: float (M,), items per content element the language was built on.
        shape: the items' C×H×W.
        fidelity_psnr_db: the fidelity target that sets the quantiser ladder.
        n_items: how many items the language was built on.
        built_on: which items: ``all`` (vanilla) or ``learnable`` (disentangled).

    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8, generator=g)
    >>> clusters = np.arange(20) % 2
    >>> lang = SemanticLanguage.build(images, clusters, 2, fidelity_psnr_db=30.0)
    >>> rep, capped = lang.represent(images, clusters)
    >>> bool((psnr_db(lang.regenerate(rep), images.reshape(20, -1)) >= 30).all()), int(capped.sum())
    (True, 0)
    """

    means: torch.Tensor
    basis: torch.Tensor
    axes: torch.Tensor
    spans: torch.Tensor
    log_scales: torch.Tensor
    logits: torch.Tensor
    counts: torch.Tensor
    shape: tuple[int, int, int]
    fidelity_psnr_db: float
    n_items: int
    built_on: str = "all"

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def build(cls, images: torch.Tensor, clusters: np.ndarray, n_clusters: int, fidelity_psnr_db: float,
              built_on: str = "all", max_span: int = DEFAULT_MAX_SPAN) -> SemanticLanguage:
        """Fit the dictionary and the probability model on items and their content elements.

        Args:
            images: uint8 N×C×H×W, at most ``MAX_VALUES`` values per item.
            clusters: content element per item, int (N,), in 0..n_clusters−1.
            n_clusters: M.
            fidelity_psnr_db: the fidelity target.
            built_on: a label recorded with the language (``all`` or ``learnable``).
            max_span: the largest per-element re-oriented span; 0 gives every element the shared basis as it is.

        Returns:
            The language.
        """
        if len(images) == 0:
            raise SemreadyError(f"cannot build the {built_on} semantic language from zero items: lower the "
                                "split threshold (semready split --policy budget --value 0.2) or add data")
        shape = tuple(int(s) for s in images.shape[1:])
        d = int(np.prod(shape))
        if d > MAX_VALUES:
            raise SemreadyError(f"the semantic language handles items of at most {MAX_VALUES} values, these have "
                                f"{d} ({'×'.join(map(str, shape))}): train on smaller items (data.image_size: 32)")
        x = images.reshape(len(images), -1).float()
        cl = np.asarray(clusters, dtype=np.int64)
        means, counts = cluster_means(x, cl, n_clusters)  # row M: the global mean
        resid = x - means[torch.from_numpy(cl)]
        basis = refinement_basis(resid.T @ resid / len(x))
        axes, spans, log_scales = element_axes(resid @ basis.T, cl, n_clusters, max_span,
                                               reference_step(target_mse(fidelity_psnr_db)),
                                               symbol_bound(d, fidelity_psnr_db))
        logits = torch.log(counts + 1.0)
        return cls(means.float(), basis.float(), axes.float(), spans, log_scales.float(),
                   (logits - logits.logsumexp(0)).float(), counts.float(), shape, float(fidelity_psnr_db),
                   len(x), built_on)

    # -- constants shared by both ends -----------------------------------------------------------------------
    @property
    def n_values(self) -> int:
        """D, values per item."""
        return self.basis.shape[0]

    @property
    def n_clusters(self) -> int:
        """M, content elements."""
        return len(self.logits)

    @property
    def steps(self) -> torch.Tensor:
        """The quantiser ladder Δ_s (pixel units), coarsest first (:func:`ladder`)."""
        return ladder(self.fidelity_psnr_db)

    @property
    def q_max(self) -> int:
        """The largest coefficient magnitude at the finest step (:func:`symbol_bound`)."""
        return symbol_bound(self.n_values, self.fidelity_psnr_db)

    def rows(self, clusters: np.ndarray) -> torch.Tensor:
        """Dictionary row per item: its content element, or M (the global mean) outside 0..M−1.

        Args:
            clusters: content elements, int (N,).

        Returns:
            int64 (N,).
        """
        cl = torch.from_numpy(np.asarray(clusters, dtype=np.int64))
        return torch.where((cl >= 0) & (cl < self.n_clusters), cl, torch.full_like(cl, self.n_clusters))

    def element(self, clusters: np.ndarray) -> torch.Tensor:
        """μ for content elements; elements outside 0..M−1 map to the global mean.

        Args:
            clusters: content elements, int (N,).

        Returns:
            float N×D.
        """
        return self.means[self.rows(clusters)]

    def _orient(self, rows: torch.Tensor, c: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """Shared-basis coefficients → each item's element axes (B_l = blockdiag(W_l, I)·U), or back.

        Args:
            rows: dictionary row per item, int64 (N,).
            c: coefficients, float N×D.
            inverse: rotate back (element axes → shared basis).

        Returns:
            float N×D.
        """
        out = c.clone()
        for r in torch.unique(rows).tolist():
            k = int(self.spans[r])
            if k:
                at = rows == r
                w = self.axes[r, :k, :k]
                out[at, :k] = c[at, :k] @ (w if inverse else w.T)
        return out

    # -- information content -----------------------------------------------------------------------------
    def coefficient_scales(self, rep: Representations, log_scales: torch.Tensor | None = None) -> torch.Tensor:
        """b_{l,j} / Δ_s for every coded coefficient, in the flat order of rep.q.

        Args:
            rep: the representations.
            log_scales: ln b, float (M + 1)×D; the fitted ones unless given.

        Returns:
            float64 (Σk,), floored at ``MIN_SCALE``.
        """
        ls = self.log_scales if log_scales is None else log_scales
        j = torch.from_numpy(np.arange(len(rep.q)) - np.repeat(rep.offsets[:-1], rep.k))
        row = torch.repeat_interleave(self.rows(rep.cluster), torch.from_numpy(rep.k))
        step = self.steps[torch.from_numpy(np.repeat(rep.step, rep.k))]
        return (ls.double()[row, j].exp() / step).clamp_min(MIN_SCALE)

    def information_bits(self, rep: Representations, log_scales: torch.Tensor | None = None,
                         logits: torch.Tensor | None = None) -> np.ndarray:
        """−log2 p(Z_i) per item under θ: what an ideal coder would spend.

        Args:
            rep: the representations, N items.
            log_scales: ln b, float (M + 1)×D; the fitted ones unless given.
            logits: content-element logits, float (M,); the fitted ones unless given.

        Returns:
            float64 (N,), bits.
        """
        lg = (self.logits if logits is None else logits).double()
        lg = lg - lg.logsumexp(0)
        cl = torch.from_numpy(np.clip(rep.cluster, 0, self.n_clusters - 1))
        bits = -lg[cl] / LN2 + math.log2(STEPS) + math.log2(self.n_values + 1)
        per_coef = torch.from_numpy(self._coefficient_bits(rep, log_scales))
        item = torch.from_numpy(np.repeat(np.arange(len(rep)), rep.k))
        bits = bits + torch.zeros(len(rep), dtype=torch.float64).index_add_(0, item, per_coef)
        return bits.numpy()

    # -- teacher and apprentice ----------------------------------------------------------------------------
    def _quantise(self, coeffs: torch.Tensor, choice: np.ndarray, cluster: np.ndarray) -> Representations:
        q = torch.round(coeffs / self.steps[torch.from_numpy(choice)].float()[:, None]).to(torch.int64)
        nz = q != 0
        k = torch.where(nz.any(1), self.n_values - nz.flip(1).int().argmax(1), 0)  # 1 + last non-zero index
        mask = torch.arange(self.n_values)[None, :] < k[:, None]
        return Representations(np.asarray(cluster, dtype=np.int64), choice.astype(np.int64).copy(),
                               k.numpy().astype(np.int64), q[mask].numpy().astype(np.int32))

    def represent(self, images: torch.Tensor, clusters: np.ndarray, bit_cap: float | None = None
                  ) -> tuple[Representations, np.ndarray]:
        """The teacher's Z for each item, and whether it had to be cut at the bit cap.

        Per item: the coarsest ladder step whose regeneration meets the fidelity target; if that Z is longer
        than ``bit_cap`` bits, its refinement is cut to the longest prefix that fits, and the item is marked
        capped (it will fail the fidelity check).

        Args:
            images: uint8 N×C×H×W of the language's shape.
            clusters: content element per item, int (N,).
            bit_cap: the longest Z in bits; default 8 bits per value (the raw item).

        Returns:
            (the representations, capped: bool (N,)).
        """
        self._check_items(images)
        cl = np.asarray(clusters)
        if len(cl) and (cl.min() < 0 or cl.max() >= self.n_clusters):  # Z_i can only name a known element
            raise SemreadyError(f"content element {int(cl.min() if cl.min() < 0 else cl.max())} is outside "
                                f"0..{self.n_clusters - 1}: route the items through the run's teacher first")
        cap = 8.0 * self.n_values if bit_cap is None else float(bit_cap)
        x = images.reshape(len(images), -1).float()
        rows = self.rows(clusters)
        coeffs = self._orient(rows, (x - self.means[rows]) @ self.basis.T)
        budget = self.n_values * (target_mse(self.fidelity_psnr_db) - 1 / 12)  # 1/12: the uint8 rounding
        steps = self.steps.float()
        choice = np.full(len(x), STEPS - 1)
        for s in range(STEPS - 1, -1, -1):  # coarsest passing step wins (B_l orthonormal: error is exact)
            err = (coeffs - steps[s] * torch.round(coeffs / steps[s])).pow(2).sum(1)
            choice[(err <= budget).numpy()] = s
        for _ in range(STEPS):
            rep = self._quantise(coeffs, choice, clusters)
            ok = (psnr_db(self.regenerate(rep), x) >= self.fidelity_psnr_db).numpy()
            finer = ~ok & (choice < STEPS - 1)
            if not finer.any():
                break
            choice = np.where(finer, choice + 1, choice)  # uint8 rounding/clipping cost it: one step finer
        capped = self.information_bits(rep) > cap
        return (self._truncate(rep, capped, cap) if capped.any() else rep), capped

    def _coefficient_bits(self, rep: Representations, log_scales: torch.Tensor | None = None) -> np.ndarray:
        """−log2 p(q_j) for every coded coefficient, in the flat order of rep.q."""
        scales = self.coefficient_scales(rep, log_scales)
        return (-laplace_log2_pmf(torch.from_numpy(rep.q), scales, self.q_max)).numpy()

    def _truncate(self, rep: Representations, capped: np.ndarray, cap: float) -> Representations:
        """Cut the refinement of ``capped`` items to the longest prefix whose Z fits in ``cap`` bits."""
        header = self.information_bits(Representations(rep.cluster, rep.step, np.zeros_like(rep.k),
                                                        np.zeros(0, dtype=np.int32)))
        cum = np.cumsum(self._coefficient_bits(rep))
        start = np.concatenate([[0.0], cum])[rep.offsets[:-1]]
        within = cum - np.repeat(start, rep.k)
        keep = ~np.repeat(capped, rep.k) | (within <= np.repeat(cap - header, rep.k))
        k = np.bincount(np.repeat(np.arange(len(rep)), rep.k)[keep], minlength=len(rep)).astype(np.int64)
        return Representations(rep.cluster, rep.step, k, rep.q[keep])

    def regenerate(self, rep: Representations) -> torch.Tensor:
        """The apprentice: x̂ = round(clip(μ_l + Δ_s·q·B_l)).

        Args:
            rep: the representations, N items.

        Returns:
            uint8 N×D (reshape to N×C×H×W with ``shape``).
        """
        step = self.steps[torch.from_numpy(rep.step)].float()
        rows = self.rows(rep.cluster)
        shared = self._orient(rows, rep.dense(self.n_values) * step[:, None], inverse=True)
        x = self.means[rows] + shared @ self.basis
        return x.round().clamp(0, 255).to(torch.uint8)

    def _check_items(self, images: torch.Tensor) -> None:
        if tuple(images.shape[1:]) != self.shape:
            raise SemreadyError(f"items of shape {tuple(images.shape[1:])} cannot use a language built on "
                                f"{self.shape}: load the data at the training size")

    # -- artifact ------------------------------------------------------------------------------------------
    def dictionary_bytes(self, coded_values: int | None = None, with_model: bool = True) -> bytes:
        """The dictionary as the apprentice needs it (float16; element axes, shared rows actually used), lzma.

        Args:
            coded_values: the longest k sent (basis rows beyond it and beyond every K_l are left out); all rows
                unless given.
            with_model: include the probability model θ (log-scales, logits); Γ̂ prices θ in its KL term and
                takes the rest only.

        Returns:
            The compressed bytes; their length is the dictionary's cost on the link.
        """
        import lzma

        spans = self.spans.tolist()
        # the inverse rotation of element l mixes its first K_l coefficients over K_l basis rows
        rows = self.n_values if coded_values is None else min(max(int(coded_values), *spans), self.n_values)
        parts = [self.spans.to(torch.float16), self.means, *(self.axes[e, :k, :k] for e, k in enumerate(spans)),
                 self.basis[:rows]] + ([self.log_scales, self.logits] if with_model else [])
        raw = b"".join(p.to(torch.float16).numpy().tobytes() for p in parts)
        return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])

    def save(self, path: str | Path) -> None:
        """Write ``path``.safetensors (tensors) and ``path``.json (metadata), each atomically."""
        meta = {"format": "semready-language", "format_version": FORMAT_VERSION, "shape": list(self.shape),
                "fidelity_psnr_db": self.fidelity_psnr_db, "n_items": self.n_items, "built_on": self.built_on}
        save_language_files(path, {name: getattr(self, name) for name in _TENSORS}, meta)

    @classmethod
    def load(cls, path: str | Path) -> SemanticLanguage:
        """Read a language :meth:`save` wrote; raises SemreadyError with a fix if it is missing or foreign."""
        t, meta = load_language_files(path, "semready-language", FORMAT_VERSION, "semantic language",
                                      "rebuild it (semready simulate)")
        if set(_TENSORS) - t.keys():
            raise SemreadyError(f"{Path(path).with_suffix('.safetensors')} is not a semready language (tensors "
                                "missing): rebuild it (semready simulate)")
        return cls(*(t[name] for name in _TENSORS), tuple(meta["shape"]), float(meta["fidelity_psnr_db"]),
                   int(meta["n_items"]), str(meta["built_on"]))

