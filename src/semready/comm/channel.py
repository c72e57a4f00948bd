"""A physical channel under the link (docs/kpis.md, "Physical channel"): BPSK, QPSK or Gray 16-QAM over AWGN or
Rayleigh block fading, coherent detection with perfect channel knowledge.

**SNR.** ``snr_db`` is Es/N0, the energy per *symbol* over the noise density, in dB; everything here derives from
it: Eb/N0 = (Es/N0) / log2 M, with log2 M the bits per symbol (1, 2, 4). The rate is R = Rs · log2 M for a
symbol rate Rs (baud).

**BER on AWGN** (exact per-bit averages, Gray mapping), with γb = Eb/N0 and Q(x) = erfc(x/√2)/2:

- BPSK and QPSK: Pb = Q(√(2γb)) (Proakis & Salehi, *Digital Communications*, 5th ed., eqs. 4.3-13, 4.3-37);
- 16-QAM: Pb = ¾ Q(a) + ½ Q(3a) − ¼ Q(5a), a = √(⅘ γb) — the exact average over the 4 bits of square Gray
  16-QAM (K. Cho and D. Yoon, "On the general BER expression of one- and two-dimensional amplitude
  modulations", IEEE Trans. Commun. 50(7), 2002, eq. 16 with M = 16).

Each is a sum Σ w_j Q(c_j √γb); the table :data:`BER_TERMS` holds the (w_j, c_j).

**BER on Rayleigh fading**, averaged over the fade |h|² ~ Exp(1): E[Q(c√(γ̄b|h|²))] = ½(1 − √(g/(1+g))) with
g = c²γ̄b/2 (M. K. Simon and M.-S. Alouini, *Digital Communication over Fading Channels*, 2nd ed., eq. 5.6), so
BPSK/QPSK give ½(1 − √(γ̄b/(1+γ̄b))) and 16-QAM the same three-term sum.

**Packets.** A packet of b bits fails with 1 − (1 − Pb)^b on AWGN. With block fading one fade is drawn per
packet *transmission* (the block is one transmission): the packet then fails with 1 − (1 − Pb(γ̄b|h|²))^b, so its
bit errors come in bursts and a retransmission sees a new fade.

>>> ch = Channel("awgn", "qpsk", snr_db=10.0)
>>> ch.bits_per_symbol, ch.rate_bps, round(ch.ebn0_db, 2)
(2, 2000000.0, 6.99)
>>> f"{Channel('awgn', 'bpsk', snr_db=9.6).ber():.2e}"
'9.74e-06'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

from semready.config import CommConfig
from semready.errors import SemreadyError

CHANNELS = ("packet", "awgn", "rayleigh")
MODULATIONS = ("bpsk", "qpsk", "16qam")
BITS_PER_SYMBOL = {"bpsk": 1, "qpsk": 2, "16qam": 4}
_A16 = math.sqrt(4 / 5)
# Pb(γb) = Σ w · Q(c·√γb) on AWGN (module docstring)
BER_TERMS: dict[str, tuple[tuple[float, float], ...]] = {
    "bpsk": ((1.0, math.sqrt(2)),),
    "qpsk": ((1.0, math.sqrt(2)),),
    "16qam": ((0.75, _A16), (0.5, 3 * _A16), (-0.25, 5 * _A16)),
}


def q_function(x):
    """The Gaussian tail Q(x) = P(N(0, 1) > x) = erfc(x/√2)/2.

    Args:
        x: a float or an array.

    Returns:
        Q(x), the same shape.

    >>> round(float(q_function(0.0)), 3), f"{q_function(4.0):.3e}"
    (0.5, '3.167e-05')
    """
    return 0.5 * special.erfc(np.asarray(x, dtype=float) / math.sqrt(2))


def ber_awgn(modulation: str, ebn0):
    """Bit error rate on AWGN at Eb/N0 = ``ebn0`` (linear), Gray mapping (module docstring).

    Args:
        modulation: ``bpsk``, ``qpsk`` or ``16qam``.
        ebn0: γb, linear; a float or an array.

    Returns:
        Pb, the shape of ``ebn0``.

    >>> round(float(ber_awgn("bpsk", 0.0)), 3)  # no signal: a coin flip
    0.5
    """
    g = np.sqrt(np.maximum(np.asarray(ebn0, dtype=float), 0.0))
    return sum(w * q_function(c * g) for w, c in BER_TERMS[_check(modulation)])


def ber_rayleigh(modulation: str, mean_ebn0):
    """Bit error rate averaged over Rayleigh fading (|h|² ~ Exp(1)) at mean Eb/N0 = ``mean_ebn0`` (linear).

    Args:
        modulation: ``bpsk``, ``qpsk`` or ``16qam``.
        mean_ebn0: γ̄b, linear; a float or an array.

    Returns:
        E[Pb], the shape of ``mean_ebn0``.

    >>> round(float(ber_rayleigh("bpsk", 1.0)), 4)  # ½(1 − √½)
    0.1464
    """
    gbar = np.maximum(np.asarray(mean_ebn0, dtype=float), 0.0)
    total = 0.0
    for w, c in BER_TERMS[_check(modulation)]:
        g = c * c * gbar / 2
        total = total + w * 0.5 * (1 - np.sqrt(g / (1 + g)))
    return total


def packet_success(ber, bits):
    """Probability that all ``bits`` bits of a packet arrive right: (1 − Pb)^b, computed as exp(b·log1p(−Pb)).

    Args:
        ber: Pb, a float or an array.
        bits: b, broadcast against ``ber``.

    Returns:
        The probability, the broadcast shape.

    >>> round(float(packet_success(0.01, 100)), 4)
    0.366
    """
    return np.exp(np.asarray(bits, dtype=float) * np.log1p(-np.minimum(np.asarray(ber, dtype=float), 1.0 - 1e-16)))


def _check(modulation: str) -> str:
    if modulation not in BITS_PER_SYMBOL:
        raise SemreadyError(f"unknown modulation {modulation!r}: choose one of {', '.join(MODULATIONS)}")
    return modulation


@dataclass(frozen=True)
class Channel:
    """A physical channel: modulation, AWGN or Rayleigh block fading, SNR (Es/N0) and symbol rate.

    Args:
        kind: ``awgn`` or ``rayleigh``.
        modulation: ``bpsk``, ``qpsk`` or ``16qam``.
        snr_db: Es/N0 in dB (the mean over the fades for ``rayleigh``).
        symbol_rate: Rs in symbols per second.
    """

    kind: str
    modulation: str = "qpsk"
    snr_db: float = 10.0
    symbol_rate: float = 1e6

    def __post_init__(self) -> None:
        if self.kind not in CHANNELS[1:]:
            raise SemreadyError(f"unknown physical channel {self.kind!r}: choose awgn or rayleigh")
        _check(self.modulation)
        if not (math.isfinite(self.snr_db) and self.symbol_rate > 0):
            raise SemreadyError(f"SNR {self.snr_db} dB / symbol rate {self.symbol_rate} Bd is not usable: give a "
                                "finite SNR and a positive comm.symbol_rate")

    @property
    def bits_per_symbol(self) -> int:
        """log2 M: 1 (BPSK), 2 (QPSK), 4 (16-QAM)."""
        return BITS_PER_SYMBOL[self.modulation]

    @property
    def rate_bps(self) -> float:
        """R = Rs · log2 M, bit/s."""
        return self.symbol_rate * self.bits_per_symbol

    @property
    def ebn0(self) -> float:
        """γb = (Es/N0) / log2 M, linear (the mean over fades for ``rayleigh``)."""
        return 10 ** (self.snr_db / 10) / self.bits_per_symbol

    @property
    def ebn0_db(self) -> float:
        """γb in dB."""
        return 10 * math.log10(self.ebn0)

    def ber(self) -> float:
        """The bit error rate: on AWGN at γb, on Rayleigh averaged over the fade."""
        f = ber_awgn if self.kind == "awgn" else ber_rayleigh
        return float(f(self.modulation, self.ebn0))

    def packet_error(self, bits: int) -> float:
        """Probability that one transmission of a ``bits``-bit packet fails (on Rayleigh: averaged over the fade,
        1 − E[(1 − Pb(γ̄b|h|²))^b], integrated numerically over u = 1 − e^(−|h|²) ∈ [0, 1)).

        Args:
            bits: the packet's length b.

        Returns:
            The probability, in [0, 1].
        """
        if self.kind == "awgn":
            return float(1 - packet_success(self.ber(), bits))

        def fail(u: float) -> float:
            fade = -math.log1p(-u)  # |h|² whose CDF is u
            return 1 - float(packet_success(ber_awgn(self.modulation, self.ebn0 * fade), bits))

        value, _ = integrate.quad(fail, 0.0, 1.0, limit=200)
        return min(max(value, 0.0), 1.0)

    def transmission_success(self, bits: np.ndarray, tries: int, rng: np.random.Generator) -> np.ndarray:
        """Success probability of each of ``tries`` transmissions of each packet; on Rayleigh each transmission
        draws its own fade |h|² ~ Exp(1) from ``rng`` (so the draws advance), on AWGN nothing is drawn.

        Args:
            bits: the packets' lengths, (P,).
            tries: transmissions per packet to draw for, T.
            rng: the link's generator.

        Returns:
            Probabilities, (P, T).
        """
        bits = np.asarray(bits, dtype=float)[:, None]
        if self.kind == "awgn":
            return np.broadcast_to(packet_success(self.ber(), bits), (len(bits), tries))
        fade = rng.exponential(1.0, size=(len(bits), tries))
        return packet_success(ber_awgn(self.modulation, self.ebn0 * fade), bits)

def channel_from_config(cfg: CommConfig, snr_db: float | None = None) -> Channel | None:
    """The :class:`Channel` a :class:`~semready.config.CommConfig` sets; None for ``channel: packet``.

    Args:
        cfg: the comm settings.
        snr_db: Es/N0 in dB instead of ``cfg.snr_db`` (the SNR sweep).

    Returns:
        The channel, or None.

    >>> from semready.config import CommConfig
    >>> channel_from_config(CommConfig()) is None, channel_from_config(CommConfig(channel="awgn")).rate_bps
    (True, 2000000.0)
    """
    if cfg.channel == "packet":
        return None
    return Channel(cfg.channel, cfg.modulation, cfg.snr_db if snr_db is None else snr_db, cfg.symbol_rate)
