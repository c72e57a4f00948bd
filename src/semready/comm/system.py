"""Transmitter (the teacher's semantic side) → link → receiver (the apprentice), and the three schemes of the
paper's simulations (Fig. 2, Fig. 3).

- ``classical``: every item through the classical codec;
- ``vanilla``: a language built on *all* the language items (no pre-processing), every item sent semantically;
- ``disentangled``: a language built on the learnable items X_l only; learnable items semantic, memorizable
  items X_m classical.
All three use the teacher's deep clusters as content elements, the same link and the same fidelity check at
the receiver; only what the language is built on and which items take which path differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numpy as np
import torch

from semready.comm import entropy
from semready.comm.classical import decode_item, encode_item
from semready.comm.complexity import language_complexity, prequential_code_length
from semready.comm.kpi import (
    attribute_stream_bits,
    classical_impact,
    finite_mean,
    packets_for,
    psnr_db,
    semantic_impact,
)
from semready.comm.language import Representations, SemanticLanguage
from semready.comm.learned_language import LearnedLanguage
from semready.comm.link import Link
from semready.config import CommConfig
from semready.errors import SemreadyError

SCHEMES = ("classical", "vanilla", "disentangled")
LANGUAGES = ("linear", "learned")  # comm.language: the semantic path's language
Language = SemanticLanguage | LearnedLanguage


@dataclass
class Items:
    """A stream: items with the teacher's content element and split for each.

    Attributes:
        images: uint8 N×C×H×W.
        clusters: content element per item, int (N,).
        learnable: whether each item is in X_l, bool (N,).
        index: position in the source stream, int (N,); 0..N−1 unless given.

    >>> items = Items(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), np.array([0, 1, 0]), np.array([True, False, True]))
    >>> learnable = items.subset(items.learnable)
    >>> len(learnable), learnable.index.tolist()
    (2, [0, 2])
    """

    images: torch.Tensor
    clusters: np.ndarray
    learnable: np.ndarray
    index: np.ndarray | None = None  # position in the source stream (default 0..N-1)

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = np.arange(len(self.clusters))

    def subset(self, mask: np.ndarray) -> Items:
        """The items where ``mask`` (bool (N,)) is true, keeping their source positions."""
        idx = torch.from_numpy(np.flatnonzero(mask))
        return Items(self.images[idx], self.clusters[mask], self.learnable[mask], self.index[mask])

    def __len__(self) -> int:
        return len(self.clusters)


def check_schemes(schemes: list[str]) -> list[str]:
    """Validate scheme names: ``all`` (or none) means every scheme; duplicates are dropped.

    Args:
        schemes: names from ``SCHEMES``, or ``all``.

    Returns:
        The schemes to run, in the order given.

    >>> check_schemes(["all"])
    ['classical', 'vanilla', 'disentangled']
    >>> check_schemes(["vanilla", "classical", "vanilla"])
    ['vanilla', 'classical']
    """
    if not schemes or "all" in schemes:
        return list(SCHEMES)
    bad = [s for s in schemes if s not in SCHEMES]
    if bad:
        raise SemreadyError(f"unknown scheme {bad[0]!r}: choose all, {', '.join(SCHEMES)}")
    return list(dict.fromkeys(schemes))


def language_items(scheme: str, fit: Items) -> Items:
    """What a scheme's language is built on: every language item (vanilla) or the learnable ones.

    Args:
        scheme: ``vanilla`` or ``disentangled``.
        fit: the items set aside to build languages.

    Returns:
        The chosen items.
    """
    return fit if scheme == "vanilla" else fit.subset(fit.learnable)


def build_language(scheme: str, fit: Items, n_clusters: int, cfg: CommConfig, seed: int = 0) -> Language:
    """Build a scheme's language on :func:`language_items` of ``fit``: linear or learned (``comm.language``).

    Args:
        scheme: ``vanilla`` or ``disentangled``.
        fit: the items set aside to build languages.
        n_clusters: M, the teacher's clusters.
        cfg: the comm settings (fidelity target, the learned codec's size and training budget).
        seed: seeds the learned codec's training (the same budget for both schemes).

    Returns:
        The language.
    """
    chosen = language_items(scheme, fit)
    built_on = "all" if scheme == "vanilla" else "learnable"
    if cfg.language == "learned":
        return LearnedLanguage.build(chosen.images, chosen.clusters, n_clusters, cfg.fidelity_psnr_db, built_on,
                                     steps=cfg.learned_steps, width=cfg.learned_width, latent=cfg.learned_latent,
                                     rate_weight=cfg.learned_rate_weight, seed=seed)
    return SemanticLanguage.build(chosen.images, chosen.clusters, n_clusters, cfg.fidelity_psnr_db,
                                  built_on="all" if scheme == "vanilla" else "learnable",
                                  max_span=cfg.element_span_max)


def send_classical(items: Items, cfg: CommConfig, link: Link) -> dict[str, np.ndarray]:
    """Each item its own message through the classical codec; decoded and checked at the receiver.

    Args:
        items: the N items to send.
        cfg: the comm settings (codec, fidelity target).
        link: the link (its error draws advance).

    Returns:
        Per item, each (N,): ``bits``, ``stripped_bits``, ``psnr``, ``impact``, ``seconds``, ``passed``,
        ``delivered``; and ``received``, the decoded items (uint8 N×C×H×W).
    """
    n = len(items)
    out = {k: np.zeros(n) for k in ("bits", "stripped_bits", "psnr", "impact", "seconds")}
    shape = tuple(items.images.shape[1:])
    arr = items.images.numpy()
    delivered = np.ones(n, dtype=bool)
    received = torch.empty_like(items.images)
    for i in range(n):
        enc = encode_item(arr[i], cfg.classical_codec, cfg.fidelity_psnr_db)
        tr = link.send(enc.bits)
        back = decode_item(enc, shape)
        received[i] = torch.from_numpy(back)
        out["bits"][i], out["stripped_bits"][i] = enc.bits, 8 * enc.header_stripped_bytes
        out["seconds"][i] = tr.seconds
        out["psnr"][i] = float(psnr_db(torch.from_numpy(back)[None], items.images[i:i + 1])[0])
        out["impact"][i] = classical_impact(link.packet_rate, np.array([tr.packets]),
                                            np.array([tr.transmissions]))[0]
        delivered[i] = tr.delivered
    out["passed"] = delivered & (out["psnr"] >= cfg.fidelity_psnr_db)
    out["impact"] = np.where(delivered, out["impact"], 0.0)
    out["delivered"], out["received"] = delivered, received
    return out


@dataclass
class Transmitter:
    """The teacher's semantic side: items -> representations Z -> one range-coded stream.

    Args:
        language: the shared language.
        bit_cap: the longest Z in bits (see :meth:`SemanticLanguage.represent`).
    """

    language: Language
    bit_cap: float | None = None

    def speak(self, items: Items) -> tuple[entropy.Bitstream, Representations, np.ndarray]:
        """Represent and range-code a stream of items.

        Args:
            items: the N items.

        Returns:
            (the stream, the Z it carries, capped: bool (N,), the items cut at the bit cap; a learned language
            has no cap).
        """
        if isinstance(self.language, LearnedLanguage):
            rep = self.language.represent(items.images, items.clusters)
            return self.language.encode(rep), rep, np.zeros(len(items), dtype=bool)
        rep, capped = self.language.represent(items.images, items.clusters, self.bit_cap)
        return entropy.encode(self.language, rep), rep, capped


@dataclass
class Receiver:
    """The apprentice: decodes the stream with the shared language and regenerates every item.

    Args:
        language: the shared language.
    """

    language: Language

    def listen(self, stream: entropy.Bitstream) -> tuple[Representations, torch.Tensor]:
        """Decode a stream.

        Args:
            stream: the received stream of N items.

        Returns:
            (the representations, the regenerated items: uint8 N×D).
        """
        if isinstance(self.language, LearnedLanguage):
            received = self.language.decode(stream)
            return received, self.language.regenerate(received).reshape(stream.items, -1)
        received = entropy.decode(self.language, stream)
        return received, self.language.regenerate(received)


def _complexity(lang: Language, rep, cfg: CommConfig, seed: int) -> dict[str, float]:
    """Γ̂ of either language on held-out representations (:func:`~semready.comm.complexity.language_complexity`)."""
    if isinstance(lang, LearnedLanguage):
        return lang.complexity(rep, cfg.beta)
    return language_complexity(lang, rep, cfg.beta, cfg.gamma_samples, seed)


def send_semantic(lang: Language, items: Items, cfg: CommConfig, link: Link) -> dict:
    """Transmitter -> link -> receiver for one stream of semantic items, checked at the receiver.

    Args:
        lang: the shared language.
        items: the N items to send semantically.
        cfg: the comm settings.
        link: the link (its error draws advance).

    Returns:
        ``rep``, ``stream_bits``, ``link`` (the :class:`~semready.comm.link.Transfer`), ``generation_seconds``
        (per item), ``received`` (the regenerated items, uint8 N×C×H×W), and per item, each (N,): ``bits``
        (|Z_i|), ``information_bits``, ``psnr``, ``passed``, ``delivered``, ``capped``, ``impact``,
        ``generated_packets``.
    """
    stream, rep, capped = Transmitter(lang, cfg.bit_cap).speak(items)
    tr = link.send(stream.bits)
    receiver, timings = Receiver(lang), []
    for _ in range(3):  # generation time: best of 3, as the machine's noise would otherwise show up in ι
        t0 = time.perf_counter()
        received, regenerated = receiver.listen(stream)
        timings.append(time.perf_counter() - t0)
    gen_seconds = min(timings) / max(len(items), 1)
    if not all(np.array_equal(getattr(received, f.name), getattr(rep, f.name)) for f in fields(rep)):
        raise SemreadyError("internal error: the semantic stream did not decode to what was sent; please report it")
    info = lang.information_bits(rep)
    bits = attribute_stream_bits(info, stream.bits)
    psnr = psnr_db(regenerated, items.images.reshape(len(items), -1)).numpy()
    passed = (psnr >= cfg.fidelity_psnr_db) & tr.delivered
    regen_imgs = regenerated.reshape(items.images.shape).numpy()
    generated_bits = np.array([encode_item(x, cfg.classical_codec, cfg.fidelity_psnr_db).bits for x in regen_imgs])
    generated = packets_for(generated_bits, cfg.payload_bytes)
    # link bits sent per stream bit (retransmissions included; a resent partial last packet costs its own size)
    resend = tr.seconds * link.rate_bps / tr.bits if tr.bits else 1.0  # the link's R: a channel sets its own
    impact = semantic_impact(generated, passed, bits, link.rate_bps, gen_seconds, resend)
    return {"rep": rep, "stream_bits": stream.bits, "bits": bits, "information_bits": info, "psnr": psnr,
            "passed": passed, "capped": capped, "impact": impact, "generation_seconds": gen_seconds,
            "link": tr, "generated_packets": generated, "received": torch.from_numpy(regen_imgs),
            "delivered": np.full(len(items), tr.delivered)}


def run_scheme(scheme: str, fit: Items, stream: Items, n_clusters: int, cfg: CommConfig, seed: int = 0,
               judge=None, lang: Language | None = None) -> tuple[dict, dict[str, np.ndarray], Language | None]:
    """One scheme on a stream: build its language, send every item, measure the KPIs.

    Args:
        scheme: one of ``SCHEMES``.
        fit: the items set aside to build languages.
        stream: the N items to send.
        n_clusters: M, the teacher's clusters.
        cfg: the comm settings.
        seed: seeds the link's errors and Γ̂'s draws.
        judge: semantic fidelity (:class:`~semready.comm.semantic.SemanticJudge`), called as
            ``judge(originals, received)`` on every item; None skips it.
        lang: the scheme's language, already built (e.g. a learned one at another target:
            ``LearnedLanguage.at_target``); built here unless given.

    Returns:
        (summary KPIs, per-item table of (N,) arrays, the language; None for ``classical``). The summary's
        ``mean_representation_bits_learnable`` is mean |Z_i| over the stream's learnable items sent semantically
        — the items every semantic scheme sends, so schemes compare on the same items there.

    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    >>> items = Items(images, np.arange(40) % 2, np.arange(40) % 4 != 3)
    >>> fit, stream = items.subset(np.arange(40) < 20), items.subset(np.arange(40) >= 20)
    >>> summary, table, lang = run_scheme("disentangled", fit, stream, 2, CommConfig())
    >>> summary["semantic_items"], summary["classical_items"], lang.built_on, table["path"][:4].tolist()
    (15, 5, 'learnable', ['semantic', 'semantic', 'semantic', 'classical'])
    """
    link = Link.from_config(cfg, seed)
    n = len(stream)
    semantic = np.zeros(n, dtype=bool) if scheme == "classical" else (
        np.ones(n, dtype=bool) if scheme == "vanilla" else stream.learnable.copy())
    table = {"index": stream.index, "path": np.where(semantic, "semantic", "classical"),
             "bits": np.zeros(n), "psnr": np.zeros(n), "passed": np.zeros(n, dtype=bool), "impact": np.zeros(n)}
    summary: dict = {"scheme": scheme, "items": n, "semantic_items": int(semantic.sum()),
                     "classical_items": int(n - semantic.sum())}
    dictionary_bits, link_seconds = 0, 0.0
    received, delivered = torch.empty_like(stream.images), np.ones(n, dtype=bool)
    if scheme == "classical":
        lang = None
    elif lang is None:  # built even when no item of this stream needs it: X_l must be able to speak
        lang = build_language(scheme, fit, n_clusters, cfg, seed)
    learned = isinstance(lang, LearnedLanguage)
    if semantic.any():
        sem = send_semantic(lang, stream.subset(semantic), cfg, link)
        for key in ("bits", "psnr", "passed", "impact"):
            table[key][semantic] = sem[key]
        received[torch.from_numpy(semantic)], delivered[semantic] = sem["received"], sem["delivered"]
        same = semantic & stream.learnable
        dictionary_bits = 8 * len(lang.dictionary_bytes() if learned else
                                  lang.dictionary_bytes(int(sem["rep"].k.max(initial=0))))
        link_seconds += sem["link"].seconds
        summary.update({
            "mean_representation_bits": float(sem["bits"].mean()),
            "mean_representation_bits_learnable": float(table["bits"][same].mean()) if same.any() else None,
            "mean_representation_information_bits": float(sem["information_bits"].mean()),
            "semantic_stream_bits": sem["stream_bits"], "capped_items": int(sem["capped"].sum()),
            "generation_seconds_per_item": sem["generation_seconds"],
            "semantic_impact_semantic_items": float(sem["impact"].mean()),
            # P_i > 1 anywhere? if not, ι_i = 1/τ_i for every semantic item (docs/kpis.md)
            "multi_packet_share": float((sem["generated_packets"] > 1).mean()),
            "language_items": lang.n_items, "dictionary_bits": dictionary_bits,
            **_complexity(lang, sem["rep"], cfg, seed),
        })
        learnable = stream.learnable[semantic]  # the items both languages describe: compare them there
        if learnable.any():
            summary["gamma_nats_per_learnable_item"] = (
                summary["gamma_nats_per_item"] if learnable.all() else _complexity(
                    lang, sem["rep"].subset(learnable), cfg, seed)["gamma_nats_per_item"])
        chosen = language_items(scheme, fit)
        if not learned:  # a learned codec would be retrained per chunk: no prequential length for it
            summary.update(prequential_code_length(chosen.images, chosen.clusters, n_clusters, cfg.fidelity_psnr_db,
                                                   cfg.prequential_chunks, seed, cfg.bit_cap, cfg.element_span_max))
    else:
        summary["mean_representation_bits"] = summary["mean_representation_bits_learnable"] = None
    if (~semantic).any():
        cls = send_classical(stream.subset(~semantic), cfg, link)
        for key in ("bits", "psnr", "passed", "impact"):
            table[key][~semantic] = cls[key]
        received[torch.from_numpy(~semantic)], delivered[~semantic] = cls["received"], cls["delivered"]
        link_seconds += float(cls["seconds"].sum())
        summary.update({"mean_classical_bits": float(cls["bits"].mean()),
                        "mean_classical_header_stripped_bits": float(cls["stripped_bits"].mean())})
    payload_bits = float(table["bits"].sum())
    summary.update({
        "total_bits_per_item": (payload_bits + dictionary_bits) / max(n, 1),
        "total_bits_per_item_excluding_dictionary": payload_bits / max(n, 1),
        "semantic_impact": float(table["impact"].mean()) if n else 0.0,
        "fidelity_pass_rate": float(table["passed"].mean()) if n else 0.0,
        "mean_psnr_db": finite_mean(table["psnr"]),
        "link_seconds": link_seconds,
    })
    if judge is not None:  # an item the link lost fails semantic fidelity too
        verdict = judge(stream.images, received)
        verdict["semantic_cosine_pass"] = verdict["semantic_cosine_pass"] & delivered
        verdict["semantic_cluster_pass"] = verdict["semantic_cluster_pass"] & delivered
        table.update(verdict)
        for key in ("semantic_cosine_pass", "semantic_cluster_pass"):
            summary[f"{key}_rate"] = float(verdict[key].mean()) if n else 0.0
    return summary, table, lang
