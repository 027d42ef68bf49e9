"""Classical baselines at the same rate (M messages in n channel uses), with ML detection.

- ``k/n`` bits per complex use, even: square QAM on each use (16-QAM for M=16, n=1; QPSK twice for
  M=16, n=2); ``k/n = 1``: BPSK on each use. Points and hard ML decisions come from Sionna PHY.
  Odd ``k/n >= 3``: PSK on each use (8-PSK for M=64, n=2), nearest-point (ML) decisions.
- Real signalling with M=16, n=7: Hamming(7,4) with BPSK and soft ML (brute-force nearest codeword),
  the classic AE(7,4) comparison.
- On block fading whose ``h`` the receiver does not know (``fading=True``): a pilot use, then the message on
  the fewest uses that carry it (QPSK x2 for M=16, n=4), with non-coherent ML detection (it knows the
  fading's law, not ``h``): pilot-symbol-assisted modulation, the textbook answer where ``h`` must be learnt
  from the block itself. With one use there is no room for a pilot, and the per-symbol code is detected
  coherently (it knows ``h``): a bound for a receiver that does not.

Example
-------
>>> b = classical_baseline(16, 2)
>>> b.name, tuple(b.codebook.shape)
('QPSK x2', (16, 2))
>>> classical_baseline(16, 4, fading=True, n0=0.01).name
'pilot + QPSK x2'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate
from scipy.stats import norm

from mfcomm.channels.contract import Channel, RayleighBlockFading
from mfcomm.sionna_import import phy

HAMMING74_G = np.array([[1, 0, 0, 0, 1, 1, 0], [0, 1, 0, 0, 1, 0, 1], [0, 0, 1, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 1]])
"""Systematic generator matrix of the Hamming(7,4) code (d_min = 3)."""


@dataclass
class Baseline:
    """A fixed codebook (M, n) complex64 and its ML detector ``detect(y, h) -> m_hat``.

    ``bits_per_symbol`` is set for per-symbol QAM/BPSK baselines (closed forms exist), else None.
    """

    name: str
    codebook: torch.Tensor
    detect: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    bits_per_symbol: int | None = None


def qam_points(bits_per_symbol: int) -> torch.Tensor:
    """Sionna's unit-energy Gray-labelled constellation: BPSK for 1 bit, square QAM for even bits."""
    kind = "pam" if bits_per_symbol == 1 else "qam"
    return phy().mapping.Constellation(kind, bits_per_symbol, device="cpu")().detach().to(torch.complex64)


def per_symbol_baseline(messages: int, channel_uses: int, bits_per_symbol: int) -> Baseline:
    """Message bits split over the n uses, ``bits_per_symbol`` each, mapped with Sionna's constellation."""
    points = qam_points(bits_per_symbol)
    shifts = bits_per_symbol * torch.arange(channel_uses - 1, -1, -1)
    mask = (1 << bits_per_symbol) - 1
    indices = (torch.arange(messages).unsqueeze(1) >> shifts) & mask
    kind = "pam" if bits_per_symbol == 1 else "qam"
    demapper = phy().mapping.SymbolDemapper(kind, bits_per_symbol, hard_out=True, device="cpu")

    def detect(y: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        y_eq = y if h is None else y / h  # coherent: per-symbol ML on y/h is ML on y = h x + w
        symbol_hat = demapper(y_eq.cpu(), torch.tensor(1.0)).long()  # hard decisions ignore N0
        return (symbol_hat << shifts).sum(dim=1).to(y.device)

    order = 1 << bits_per_symbol
    name = "BPSK" if bits_per_symbol == 1 else "QPSK" if order == 4 else f"{order}-QAM"
    name += f" x{channel_uses}" if channel_uses > 1 else ""
    return Baseline(name, points[indices], detect, bits_per_symbol)


def hamming74_baseline() -> Baseline:
    """Hamming(7,4) with BPSK on 7 real channel uses, soft ML (nearest codeword) decoding."""
    messages = np.arange(16)
    info_bits = (messages[:, None] >> np.arange(3, -1, -1)) & 1
    codewords = info_bits @ HAMMING74_G % 2
    bpsk = torch.tensor(1.0 - 2.0 * codewords, dtype=torch.float32)
    codebook = torch.complex(bpsk, torch.zeros_like(bpsk))

    def detect(y: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        received = (y if h is None else y / h).real
        return (received @ bpsk.to(y.device).T).argmax(dim=1)  # equal energies: max correlation = ML

    return Baseline("Hamming(7,4) soft ML", codebook, detect)


def psk_baseline(messages: int, channel_uses: int, bits_per_symbol: int) -> Baseline:
    """2^b-PSK on each of the n uses (unit energy), with nearest-point (ML on AWGN) decisions per use."""
    order = 1 << bits_per_symbol
    points = torch.polar(torch.ones(order), 2 * math.pi * torch.arange(order) / order).to(torch.complex64)
    shifts = bits_per_symbol * torch.arange(channel_uses - 1, -1, -1)
    indices = (torch.arange(messages).unsqueeze(1) >> shifts) & (order - 1)

    def detect(y: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        y_eq = y if h is None else y / h
        symbol_hat = (y_eq.unsqueeze(-1) - points.to(y.device)).abs().argmin(dim=-1)
        return (symbol_hat << shifts.to(y.device)).sum(dim=1)

    name = f"{order}-PSK" + (f" x{channel_uses}" if channel_uses > 1 else "")
    return Baseline(name, points[indices], detect)


def pilot_baseline(messages: int, channel_uses: int, n0: float) -> Baseline | None:
    """For block fading ``y = h x + w``, ``h ~ CN(0, 1)`` unknown to the receiver, ``w ~ CN(0, n0 I)``: the
    pilot ``1`` on the first use, the classical code of :func:`classical_baseline` on the fewest of the other
    uses that carry ``log2(M)`` bits, nothing on the rest, scaled to unit average energy per use; None if
    no such split exists. Its detector is ML over ``h``: ``y ~ CN(0, x x^H + n0 I)``, so it maximises
    ``|x^H y|^2 / (n0 (n0 + |x|^2)) - log(n0 + |x|^2)``.

    >>> b = pilot_baseline(16, 4, 0.01)
    >>> b.name, [round(float(v), 3) for v in b.codebook[5].abs()]
    ('pilot + QPSK x2', [1.155, 1.155, 1.155, 0.0])
    """
    for data_uses in range(channel_uses - 1, 0, -1):
        inner = classical_baseline(messages, data_uses)
        if inner is not None:
            break
    else:
        return None
    codebook = torch.zeros(messages, channel_uses, dtype=torch.complex64)
    codebook[:, 0] = 1.0
    codebook[:, 1 : 1 + data_uses] = inner.codebook
    codebook *= math.sqrt(channel_uses / (1 + data_uses))
    energy = codebook.abs().square().sum(dim=1)
    offset = torch.log(n0 + energy)

    def detect(y: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        correlation = (y @ codebook.to(y.device).conj().T).abs().square()  # |x^H y|^2 for every codeword
        return (correlation / (n0 * (n0 + energy.to(y.device))) - offset.to(y.device)).argmax(dim=1)

    return Baseline(f"pilot + {inner.name}", codebook, detect)


def classical_baseline(
    messages: int, channel_uses: int, signalling: str = "complex", fading: bool = False, n0: float = 1.0
) -> Baseline | None:
    """The baseline for (M, n), or None where none is defined. ``fading``: the channel fades with an ``h``
    the receiver does not know, so complex signalling over n >= 2 uses gets :func:`pilot_baseline` (whose
    detector needs the noise variance ``n0``)."""
    if fading and signalling == "complex" and channel_uses > 1:
        pilot = pilot_baseline(messages, channel_uses, n0)
        if pilot is not None:
            return pilot
    if signalling == "real":
        return hamming74_baseline() if (messages, channel_uses) == (16, 7) else None
    bits = math.log2(messages)
    if not bits.is_integer() or int(bits) % channel_uses:
        return None
    per_use = int(bits) // channel_uses
    if per_use == 1 or per_use % 2 == 0:
        return per_symbol_baseline(messages, channel_uses, per_use)
    return psk_baseline(messages, channel_uses, per_use)


def baseline_errors(
    baseline: Baseline, channel: Channel, generator: torch.Generator | None = None
) -> Callable[[int], int]:
    """Error counter for ``monte_carlo``: coherent detection where the channel reveals ``h``. Messages
    come from ``generator`` (a CPU one; None: torch's global generator)."""
    codebook = baseline.codebook

    def count(batch: int) -> int:
        m = torch.randint(len(codebook), (batch,), generator=generator)
        x = codebook[m]
        if isinstance(channel, RayleighBlockFading):
            y, h = channel.sample(x)
        else:
            y, h = channel(x), None
        return int((baseline.detect(y, h) != m).sum())

    return count


def symbol_error_awgn(bits_per_symbol: int, n0: float) -> float:
    """Closed-form SER of BPSK or square QAM (unit energy) on AWGN with noise variance n0."""
    if bits_per_symbol == 1:
        return float(norm.sf(math.sqrt(2.0 / n0)))
    order = 2**bits_per_symbol
    p = 2.0 * (1.0 - 1.0 / math.sqrt(order)) * norm.sf(math.sqrt(3.0 / ((order - 1) * n0)))
    return 1.0 - (1.0 - p) ** 2


def coherent_bound(
    messages: int, channel_uses: int, signalling: str, n0: float
) -> tuple[Baseline, float | None] | None:
    """On Rayleigh block fading: the per-symbol code of (M, n) and its closed-form SER with a detector told ``h``
    (None where it has no closed form), the bound reported beside the pilot-aided baseline; None without a code.

    >>> code, ser = coherent_bound(16, 4, "complex", 0.01)
    >>> code.name, f"{ser:.3g}"
    ('BPSK x4', '0.00765')
    """
    code = classical_baseline(messages, channel_uses, signalling)
    return None if code is None else (code, closed_form_ser(code, "rbf", n0))


def closed_form_ser(baseline: Baseline, channel: str, n0: float) -> float | None:
    """Exact message error rate of a per-symbol baseline: on AWGN, and coherent on Rayleigh block fading
    (averaged over ``|h|^2 ~ Exp(1)``); None for other baselines or channels."""
    b, n = baseline.bits_per_symbol, baseline.codebook.shape[1]
    if b is None:
        return None

    def block(gain: float) -> float:
        return 1.0 - (1.0 - symbol_error_awgn(b, n0 / max(gain, 1e-300))) ** n

    if channel == "awgn":
        return block(1.0)
    if channel == "rbf":
        return integrate.quad(lambda g: block(g) * math.exp(-g), 0.0, math.inf, limit=200)[0]
    return None
