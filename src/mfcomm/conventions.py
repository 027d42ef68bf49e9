"""SNR and dtype conventions, stated once (the same as Sionna PHY).

- ``N0`` is the noise variance per complex symbol (``N0/2`` per real dimension), with ``Es = 1``.
- ``snr_db`` is Es/N0 in dB: ``N0 = 10**(-snr_db/10)``.
- ``ebno_db`` is Eb/N0 in dB with ``k/n`` bits per channel use: ``N0 = 1 / (10**(ebno_db/10) * k/n)``.
- Real signalling puts energy 1 on each real channel use and keeps ``N0/2`` of noise on it, so the same
  two formulas hold with ``n`` real channel uses (the AE(7,4) versus Hamming(7,4) axis).

Example
-------
>>> round(snr_db_to_n0(10.0), 6)
0.1
>>> round(ebno_db_to_n0(0.0, bits=4, channel_uses=2), 6)
0.5
"""

import math

import torch

SYMBOL_DTYPE = torch.complex64
"""Baseband symbols are complex64, batch-first: shape ``(batch, n)``."""


def snr_db_to_n0(snr_db: float) -> float:
    """Noise variance per complex symbol for Es/N0 = ``snr_db`` dB with Es = 1."""
    return 10.0 ** (-snr_db / 10.0)


def ebno_db_to_n0(ebno_db: float, bits: float, channel_uses: int) -> float:
    """Noise variance per complex symbol for Eb/N0 = ``ebno_db`` dB at ``bits/channel_uses`` bits per use."""
    return 1.0 / (10.0 ** (ebno_db / 10.0) * bits / channel_uses)


def ebno_db_to_snr_db(ebno_db: float, bits: float, channel_uses: int) -> float:
    """Es/N0 in dB that corresponds to Eb/N0 = ``ebno_db`` dB at ``bits/channel_uses`` bits per use."""
    return ebno_db + 10.0 * math.log10(bits / channel_uses)


def snr_db_to_ebno_db(snr_db: float, bits: float, channel_uses: int) -> float:
    """Inverse of :func:`ebno_db_to_snr_db`."""
    return snr_db - 10.0 * math.log10(bits / channel_uses)
