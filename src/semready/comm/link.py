"""The link (docs/protocol.md §5): packets of a stated payload over a rate-R channel, optional errors, retransmission.

A message of B bits travels as ⌈B / (8·payload)⌉ packets (the last one partial). A packet is lost with
probability 1 − (1 − packet_loss)·(1 − BER)^(bits in the packet) and sent again until it arrives or
``max_transmissions`` tries are spent; a message with a lost packet is undelivered. Time on the link is the
bits of every transmission divided by R. The error draws come from a seeded generator, so a simulation repeats.

With a physical :class:`~semready.comm.channel.Channel` (``comm.channel: awgn | rayleigh``), each transmission
also has to survive the channel: its success probability is (1 − BER)^bits on AWGN, and on Rayleigh block fading
the BER at a fade drawn for that transmission; R is then the channel's Rs · log2 M.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semready.comm.channel import Channel, channel_from_config
from semready.comm.kpi import packets_for
from semready.config import CommConfig
from semready.errors import SemreadyError


@dataclass
class Transfer:
    """What sending one message cost.

    Attributes:
        bits: the message length.
        packets: packets it was cut into.
        transmissions: packet transmissions, retransmissions included.
        seconds: time on the link, every transmission's bits / R.
        delivered: whether every packet arrived within ``max_transmissions`` tries.
    """

    bits: int
    packets: int
    transmissions: int
    seconds: float
    delivered: bool


@dataclass
class Link:
    """A packet link of rate R with seeded packet loss and bit errors (docs/protocol.md §5).

    Args:
        rate_bps: link rate R in bit/s.
        payload_bytes: packet payload.
        packet_loss: probability a packet is erased, in [0, 1).
        bit_error_rate: probability a bit is flipped, in [0, 1); one flipped bit loses the packet.
        max_transmissions: tries per packet before the message counts as undelivered.
        seed: seeds the error draws.
        channel: a physical channel under the packets (None: none, today's packet link); it sets ``rate_bps`` to
            its Rs · log2 M, and its errors come on top of ``packet_loss`` and ``bit_error_rate``.

    >>> link = Link(rate_bps=1e6, payload_bytes=1472)
    >>> t = link.send(20000)
    >>> t.packets, t.transmissions, t.delivered, round(t.seconds, 4)
    (2, 2, True, 0.02)
    """

    rate_bps: float = 1e6
    payload_bytes: int = 1472
    packet_loss: float = 0.0
    bit_error_rate: float = 0.0
    max_transmissions: int = 16
    seed: int = 0
    channel: Channel | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.payload_bytes <= 0:
            raise SemreadyError(f"packet payload {self.payload_bytes} bytes is not positive: use e.g. 1472")
        if not self.rate_bps > 0:
            raise SemreadyError(f"link rate {self.rate_bps} bit/s is not positive: set comm.rate_bps > 0")
        if not (0 <= self.packet_loss < 1 and 0 <= self.bit_error_rate < 1):
            raise SemreadyError("packet_loss and bit_error_rate must lie in [0, 1): fix comm.* in the config")
        if self.channel is not None:
            self.rate_bps = self.channel.rate_bps
        self._rng = np.random.default_rng(self.seed)

    @classmethod
    def from_config(cls, cfg: CommConfig, seed: int = 0, snr_db: float | None = None) -> Link:
        """The link a :class:`~semready.config.CommConfig` describes, physical channel included.

        Args:
            cfg: the comm settings.
            seed: seeds the error draws.
            snr_db: Es/N0 in dB instead of ``cfg.snr_db`` (the SNR sweep).

        Returns:
            The link.

        >>> from semready.config import CommConfig
        >>> Link.from_config(CommConfig(channel="awgn", modulation="16qam", symbol_rate=1e5)).rate_bps
        400000.0
        """
        return cls(cfg.rate_bps, cfg.payload_bytes, cfg.packet_loss, cfg.bit_error_rate, cfg.max_transmissions,
                   seed, channel_from_config(cfg, snr_db))

    @property
    def packet_bits(self) -> int:
        """Bits in a full packet: 8·payload."""
        return 8 * self.payload_bytes

    def packets(self, bits: int) -> int:
        """Packets a message of ``bits`` bits needs: ⌈bits / (8·payload)⌉."""
        return int(packets_for(bits, self.payload_bytes))

    @property
    def packet_rate(self) -> float:
        """Packets per second an error-free link carries: R / (8·payload)."""
        return self.rate_bps / self.packet_bits

    def send(self, bits: int) -> Transfer:
        """Send one message, drawing losses and retransmissions from the link's generator.

        Args:
            bits: the message length.

        Returns:
            The :class:`Transfer`.
        """
        n = self.packets(bits)
        sizes = np.full(n, self.packet_bits)
        if n:
            sizes[-1] = bits - self.packet_bits * (n - 1)
        p_ok = (1 - self.packet_loss) * (1 - self.bit_error_rate) ** sizes
        if self.channel is not None:  # each transmission's own chance through the channel (its own fade)
            ok = self._rng.random((n, self.max_transmissions)) < (
                p_ok[:, None] * self.channel.transmission_success(sizes, self.max_transmissions, self._rng))
            tries = np.where(ok.any(axis=1), ok.argmax(axis=1) + 1, self.max_transmissions + 1)
        elif self.packet_loss == 0 and self.bit_error_rate == 0:
            tries = np.ones(n, dtype=np.int64)
        else:  # geometric number of tries, capped
            tries = self._rng.geometric(np.clip(p_ok, 1e-300, 1.0))
        lost = tries > self.max_transmissions
        tries = np.minimum(tries, self.max_transmissions)
        sent_bits = int((tries * sizes).sum())
        return Transfer(int(bits), n, int(tries.sum()), sent_bits / self.rate_bps, not bool(lost.any()))
