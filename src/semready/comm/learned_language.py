"""The learned semantic language (``comm.language: learned``): a trained codec (:mod:`semready.comm.learned`) and
a prior conditioned on the teacher's content element, shared by teacher and apprentice.

A representation Z_i = (l, s, ŷ): the content element l (the teacher's cluster), a step index s on the ladder
Δ_s = 2^(−s/2) (latent units) and the quantised latent ŷ = round(g_a(x) / Δ_s), C×h×w integers (h = H/4). The
apprentice regenerates x̂ = round(clip(g_s(ŷ·Δ_s))). As in the linear language (:mod:`semready.comm.language`) the
teacher picks the coarsest step whose regeneration meets the fidelity target (else the finest, and the item
fails), so one trained codec spans the whole rate range and a fidelity sweep traces its rate–distortion curve.

Prior: l ~ π (the element shares of the language's items), s uniform, ŷ_c ~ QuantizedLaplace(0, b_{l,c}/Δ_s) per
element l and latent channel c, the scales fitted on the language's own items (maximum likelihood E|y|, shrunk
toward the pooled scale by ``SCALE_PRIOR_ITEMS`` items: :func:`~semready.comm.elements.shrunk_scales`, the linear
language's rule). One range-coded stream (constriction) carries all items.

Dictionary: the synthesis g_s and the prior, float16, lzma — what the apprentice must hold; it is counted in
every total, as the linear language's is. Γ̂ = E[cross-entropy] + the dictionary (θ a point estimate: no KL term).
"""

from __future__ import annotations

import io as _bytes_io
import lzma
import math
from dataclasses import dataclass, replace
from pathlib import Path

import constriction
import numpy as np
import torch

from semready.comm.elements import shrunk_scales
from semready.comm.entropy import Bitstream
from semready.comm.kpi import psnr_db
from semready.comm.language_files import load_language_files, save_language_files
from semready.comm.learned import Q_MAX, STEPS, Codec, fit_codec, ladder
from semready.comm.representation import MIN_SCALE, laplace_log2_pmf
from semready.errors import SemreadyError

FORMAT_VERSION = 1
LN2 = math.log(2.0)


@dataclass
class LearnedRepresentations:
    """Z for a batch: content element int64 (N,), ladder step int64 (N,), quantised latents int32 N×C×h×w."""

    cluster: np.ndarray
    step: np.ndarray
    q: np.ndarray

    def __len__(self) -> int:
        return len(self.cluster)

    def subset(self, mask: np.ndarray) -> LearnedRepresentations:
        """The items where ``mask`` (bool (N,)) is true."""
        return LearnedRepresentations(self.cluster[mask], self.step[mask], self.q[mask])


@dataclass
class LearnedLanguage:
    """The codec and its element-conditioned prior.

    Attributes:
        codec: the trained :class:`~semready.comm.learned.Codec`.
        log_scales: log b_{l,c}, float (M + 1)×C; row M is the pooled scale.
        logits: log π_l, float (M,).
        shape: the items' C×H×W the codec was trained on.
        fidelity_psnr_db: the target each item's step is chosen for.
        n_items: the items the language was built on.
        built_on: ``all`` (vanilla) or ``learnable`` (disentangled).
    """

    codec: Codec
    log_scales: torch.Tensor
    logits: torch.Tensor
    shape: tuple[int, int, int]
    fidelity_psnr_db: float
    n_items: int
    built_on: str = "all"

    @classmethod
    def build(cls, images: torch.Tensor, clusters: np.ndarray, n_clusters: int, fidelity_psnr_db: float,
              built_on: str = "all", codec: Codec | None = None, **train) -> LearnedLanguage:
        """Train the codec (unless given) and fit the prior on the language's items.

        Args:
            images: uint8 N×C×H×W, the language's items (H, W multiples of 4).
            clusters: their content elements, int (N,).
            n_clusters: M.
            fidelity_psnr_db: the fidelity target.
            built_on: recorded (``all`` or ``learnable``).
            codec: an already trained codec to reuse (e.g. the same language at another target).
            **train: :func:`~semready.comm.learned.fit_codec`'s options (steps, seed, ...).

        Returns:
            The language.
        """
        if len(images) == 0:
            raise SemreadyError("no items to build the learned language on: lower the memorizable share or raise "
                                "comm.language_fraction")
        codec = codec or fit_codec(images, **train)
        with torch.no_grad():
            y = torch.cat([codec.analysis(images[i:i + 256]) for i in range(0, len(images), 256)])
        mag = y.abs().mean(dim=(2, 3))  # N×C: E|y|, the Laplace scale's maximum-likelihood estimate
        pooled = mag.mean(0)
        counts = torch.from_numpy(np.bincount(clusters, minlength=n_clusters)).float()
        # the linear language's shrinkage (an element with no items gets the pooled scales)
        per = torch.stack([shrunk_scales(mag[torch.from_numpy(np.asarray(clusters) == e)], pooled)
                           for e in range(n_clusters)])
        scales = torch.cat([per, pooled[None]]).clamp_min(1e-3)
        logits = torch.log((counts + 0.5) / (counts.sum() + 0.5 * n_clusters))
        return cls(codec, scales.log(), logits, tuple(images.shape[1:]), float(fidelity_psnr_db), len(images),
                   built_on)

    def at_target(self, fidelity_psnr_db: float) -> LearnedLanguage:
        """The same language choosing steps for another fidelity target (nothing is retrained)."""
        return replace(self, fidelity_psnr_db=float(fidelity_psnr_db))

    @property
    def n_clusters(self) -> int:
        return len(self.logits)

    def _check(self, images: torch.Tensor, clusters: np.ndarray) -> None:
        if tuple(images.shape[1:]) != self.shape:
            c, h, w = self.shape
            raise SemreadyError(f"the learned language was trained on {c}×{h}×{w} items, not "
                                f"{'×'.join(map(str, images.shape[1:]))}: send items of its size (--image-size "
                                f"{w}) or rebuild it")
        if len(clusters) and (clusters.min() < 0 or clusters.max() >= self.n_clusters):
            raise SemreadyError(f"content elements outside 0..{self.n_clusters - 1}: route the items through the "
                                "teacher that built the language")

    @torch.no_grad()
    def represent(self, images: torch.Tensor, clusters: np.ndarray) -> LearnedRepresentations:
        """Z of every item: the coarsest step whose regeneration meets the target (else the finest).

        Args:
            images: uint8 N×C×H×W of the language's size.
            clusters: content elements, int (N,), in 0..M−1.

        Returns:
            The representations.
        """
        self._check(images, clusters)
        steps, values = [], []
        for start in range(0, len(images), 256):  # memory bounded by the batch, not the stream
            x = images[start:start + 256]
            y = self.codec.analysis(x)
            step = np.full(len(x), STEPS - 1)
            found = np.zeros(len(x), dtype=bool)
            for s, delta in enumerate(ladder().tolist()):
                q = torch.round(y / delta).clamp(-Q_MAX, Q_MAX)  # what is sent is what is judged
                ok = (psnr_db(self._pixels(q * delta), x) >= self.fidelity_psnr_db).numpy()
                step[ok & ~found] = s
                found |= ok
                if found.all():
                    break
            deltas = ladder()[torch.from_numpy(step)].view(-1, 1, 1, 1)
            steps.append(step)
            values.append(torch.round(y / deltas).clamp(-Q_MAX, Q_MAX).to(torch.int32).numpy())
        c, h, w = self.shape
        q = np.concatenate(values) if values else np.zeros((0, self.log_scales.shape[1], h // 4, w // 4), np.int32)
        return LearnedRepresentations(np.asarray(clusters, np.int64),
                                      np.concatenate(steps).astype(np.int64) if steps else np.zeros(0, np.int64), q)

    def _pixels(self, latents: torch.Tensor) -> torch.Tensor:
        return self.codec.synthesis(latents).round().clamp(0, 255).to(torch.uint8)

    @torch.no_grad()
    def regenerate(self, rep: LearnedRepresentations) -> torch.Tensor:
        """The apprentice's items x̂ = round(clip(g_s(ŷ·Δ_s))), uint8 N×C×H×W."""
        deltas = ladder()[torch.from_numpy(rep.step)].view(-1, 1, 1, 1)
        return self._pixels(torch.from_numpy(rep.q).float() * deltas)

    def _scales(self, rep: LearnedRepresentations) -> np.ndarray:
        """Each latent value's Laplace scale in steps, b_{l,c}/Δ_s, float64 (contiguous) of ``rep.q``'s shape."""
        b = self.log_scales.exp()[torch.from_numpy(rep.cluster)].double()
        scale = b[:, :, None, None] / ladder().double()[torch.from_numpy(rep.step)].view(-1, 1, 1, 1)
        return np.ascontiguousarray(np.broadcast_to(scale.clamp_min(MIN_SCALE).numpy(), rep.q.shape))

    def information_bits(self, rep: LearnedRepresentations) -> np.ndarray:
        """−log2 P(Z_i) per item under the language: element, step (uniform) and latents, float (N,)."""
        log2_pi = (self.logits - torch.logsumexp(self.logits, 0)).double() / LN2
        element = -log2_pi[torch.from_numpy(rep.cluster)].numpy() if self.n_clusters > 1 else 0.0
        latents = -laplace_log2_pmf(torch.from_numpy(rep.q), torch.from_numpy(self._scales(rep)), Q_MAX)
        return element + math.log2(STEPS) + latents.flatten(1).sum(1).numpy()

    def _models(self):
        m = constriction.stream.model
        probs = torch.softmax(self.logits.double(), 0).numpy()
        elements = m.Categorical(probs, perfect=False) if self.n_clusters > 1 else None
        return elements, m.Uniform(STEPS), m.QuantizedLaplace(-Q_MAX, Q_MAX)

    def encode(self, rep: LearnedRepresentations) -> Bitstream:
        """All representations as one range-coded stream."""
        enc = constriction.stream.queue.RangeEncoder()
        elements, steps, values = self._models()
        if elements is not None:  # one content element: both ends know it, it costs nothing
            enc.encode(rep.cluster.astype(np.int32), elements)
        enc.encode(rep.step.astype(np.int32), steps)
        if rep.q.size:
            enc.encode(rep.q.ravel(), values, np.zeros(rep.q.size), self._scales(rep).ravel())
        return Bitstream(enc.get_compressed(), len(rep))

    def decode(self, stream: Bitstream) -> LearnedRepresentations:
        """The apprentice's side: the stream back to its representations, exactly."""
        dec = constriction.stream.queue.RangeDecoder(stream.words)
        elements, steps, values = self._models()
        n = stream.items
        cluster = dec.decode(elements, n).astype(np.int64) if elements is not None else np.zeros(n, np.int64)
        step = dec.decode(steps, n).astype(np.int64)
        c, h, w = self.shape
        rep = LearnedRepresentations(cluster, step, np.zeros((n, self.log_scales.shape[1], h // 4, w // 4), np.int32))
        if rep.q.size:
            rep.q = dec.decode(values, np.zeros(rep.q.size), self._scales(rep).ravel()).astype(np.int32).reshape(
                rep.q.shape)
        return rep

    def dictionary_bytes(self) -> bytes:
        """What the apprentice must hold: g_s's weights and the prior, float16, lzma-compressed."""
        parts = [*self.codec.g_s.state_dict().values(), self.log_scales, self.logits]
        raw = _bytes_io.BytesIO()
        for p in parts:
            raw.write(p.detach().to(torch.float16).numpy().tobytes())
        return lzma.compress(raw.getvalue(), format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])

    def complexity(self, heldout: LearnedRepresentations, beta: float = 1.0) -> dict[str, float]:
        """Γ̂ of the learned language on held-out items, nats: Σ cross-entropy + the dictionary (no KL: θ is a
        point estimate, so β has nothing to weigh; recorded). The keys of
        :func:`~semready.comm.complexity.language_complexity`."""
        ce = float(self.information_bits(heldout).sum()) * LN2
        dictionary = 8 * len(self.dictionary_bytes()) * LN2
        n = max(len(heldout), 1)
        return {"gamma_nats": ce + dictionary, "gamma_nats_per_item": (ce + dictionary) / n,
                "cross_entropy_nats_per_item": ce / n, "kl_nats": 0.0, "dictionary_nats": dictionary,
                "beta": beta, "heldout_items": len(heldout)}

    def save(self, path: str | Path) -> None:
        """Write ``path``.safetensors (the codec, the prior) and ``path``.json (metadata), each atomically."""
        tensors = {f"codec.{k}": v for k, v in self.codec.state_dict().items()}
        tensors.update(log_scales=self.log_scales, logits=self.logits)
        meta = {"format": "semready-learned-language", "format_version": FORMAT_VERSION, "shape": list(self.shape),
                "fidelity_psnr_db": self.fidelity_psnr_db, "n_items": self.n_items, "built_on": self.built_on}
        save_language_files(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> LearnedLanguage:
        """Read a language :meth:`save` wrote; a missing or foreign one is refused in one line."""
        fix = "rebuild it (semready simulate with comm.language: learned)"
        t, meta = load_language_files(path, "semready-learned-language", FORMAT_VERSION, "learned language", fix)
        tensor_path = Path(path).with_suffix(".safetensors")
        state = {k.removeprefix("codec."): v for k, v in t.items() if k.startswith("codec.")}
        try:
            if {"log_scales", "logits"} - t.keys():
                raise KeyError("prior")
            width, channels = state["g_a.0.weight"].shape[:2]
            codec = Codec(channels, width, state["g_a.4.weight"].shape[0])
            codec.load_state_dict(state)
        except (KeyError, RuntimeError):
            raise SemreadyError(f"{tensor_path} is not a learned language (tensors missing or misshapen): "
                                f"{fix}") from None
        return cls(codec.eval(), t["log_scales"], t["logits"], tuple(meta["shape"]), float(meta["fidelity_psnr_db"]),
                   int(meta["n_items"]), str(meta["built_on"]))


__all__ = ["LearnedLanguage", "LearnedRepresentations"]
