"""Semantic encoder/decoder: representations Z ↔ one range-coded bitstream (constriction).

The whole stream is coded as one message (docs/protocol.md §4: a stream coder's per-message overhead is a few
32-bit words, so code the stream and divide): all content elements (categorical, the language's prior), all
ladder steps and lengths (uniform), then all coefficients (quantised Laplace with per-coefficient scales
b_j/Δ_s).
The decoder needs nothing but the language and the item count. Probabilities come from the language, which
was fitted on its own items only.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from semready.comm.language import STEPS, Representations, SemanticLanguage

_model = constriction.stream.model


@dataclass
class Bitstream:
    """A range-coded stream of representations.

    Attributes:
        words: uint32 (W,), what goes on the wire.
        items: how many representations it carries (the decoder needs it).
    """

    words: np.ndarray  # uint32, what goes on the wire
    items: int

    @property
    def bits(self) -> int:
        """The stream's length on the wire: 32 bits per word."""
        return 32 * len(self.words)


def _models(lang: SemanticLanguage):
    probs = np.exp(lang.logits.double().numpy())
    elements = _model.Categorical(probs / probs.sum(), perfect=False) if len(probs) > 1 else None
    return (elements, _model.Uniform(STEPS),
            _model.Uniform(lang.n_values + 1), _model.QuantizedLaplace(-lang.q_max, lang.q_max))


def encode(lang: SemanticLanguage, rep: Representations) -> Bitstream:
    """Range-code all representations as one stream under the language's probability model.

    Args:
        lang: the shared language.
        rep: the representations, N items (content elements outside 0..M−1 are clipped into range).

    Returns:
        The :class:`Bitstream`.

    >>> from semready.comm.complexity import initial_language
    >>> lang = initial_language((1, 4, 4), 2, 30.0)
    >>> rep = Representations(np.array([0, 1]), np.array([0, 3]), np.array([2, 0]), np.array([1, -2], np.int32))
    >>> back = decode(lang, encode(lang, rep))
    >>> back.cluster.tolist(), back.step.tolist(), back.q.tolist()
    ([0, 1], [0, 3], [1, -2])
    """
    clusters, steps, lengths, coefs = _models(lang)
    enc = constriction.stream.queue.RangeEncoder()
    if lang.n_clusters > 1:  # one content element: both ends know it, it costs nothing
        enc.encode(np.clip(rep.cluster, 0, lang.n_clusters - 1).astype(np.int32), clusters)
    enc.encode(rep.step.astype(np.int32), steps)
    enc.encode(rep.k.astype(np.int32), lengths)
    if len(rep.q):
        scales = lang.coefficient_scales(rep).numpy()
        enc.encode(rep.q.astype(np.int32), coefs, np.zeros(len(rep.q)), scales)
    return Bitstream(enc.get_compressed(), len(rep))


def decode(lang: SemanticLanguage, stream: Bitstream) -> Representations:
    """The apprentice's side: the stream back to representations, exactly.

    Args:
        lang: the shared language (the same one :func:`encode` used).
        stream: the received stream.

    Returns:
        The representations, ``stream.items`` of them.
    """
    clusters, steps, lengths, coefs = _models(lang)
    dec = constriction.stream.queue.RangeDecoder(stream.words)
    n = stream.items
    cluster = dec.decode(clusters, n).astype(np.int64) if lang.n_clusters > 1 else np.zeros(n, dtype=np.int64)
    step = dec.decode(steps, n).astype(np.int64)
    k = dec.decode(lengths, n).astype(np.int64)
    rep = Representations(cluster, step, k, np.zeros(int(k.sum()), dtype=np.int32))
    if len(rep.q):
        scales = lang.coefficient_scales(rep).numpy()
        rep.q = dec.decode(coefs, np.zeros(len(rep.q)), scales).astype(np.int32)
    return rep
