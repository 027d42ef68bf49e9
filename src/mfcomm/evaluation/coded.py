"""Coded evaluation: BER and BLER through Sionna's 5G LDPC code, and the BMD rate, per Eb/N0.

A *modem* is what sits between the code and the channel: ``modulate(coded bits) -> symbols`` and
``demap(y, n0) -> LLRs`` (logits, Sionna's convention). Two are provided: a trained bit-wise system
(:class:`LearnedModem`) and the baseline, Gray-labelled QAM with Sionna's exact APP demapper
(:class:`QamModem`). The code is Sionna's ``LDPC5GEncoder(k, n, b)`` (with its rate-matching interleaver
for ``b`` bits per symbol) and ``LDPC5GDecoder`` (belief propagation, 20 iterations, hard output).

Blocks are simulated until ``target_block_errors`` block errors or ``max_blocks`` blocks, and each rate
carries an exact Clopper-Pearson interval.

Example
-------
>>> import torch
>>> modem = QamModem(bits_per_symbol=2)
>>> code = LdpcCode(k=60, n=120, bits_per_symbol=2)
>>> point = simulate_coded(modem, code, ebno_db=10.0, target_block_errors=10, max_blocks=200, batch=100)
>>> point.block_errors, point.blocks
(0, 200)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from mfcomm.channels.contract import AWGN
from mfcomm.conventions import ebno_db_to_n0
from mfcomm.evaluation.ser import clopper_pearson
from mfcomm.sionna_import import phy
from mfcomm.system.bitwise import (
    LearnedConstellation,
    NeuralDemapper,
    bits_to_indices,
    bmd_rate,
    group_bits,
    symbol_bce,
)


def sionna_device(device: str) -> str:
    """Sionna names devices exactly (``cuda:0``, not ``cuda``)."""
    return f"cuda:{torch.cuda.current_device()}" if device == "cuda" else device


class Modem(Protocol):
    """Coded bits to symbols and back to LLRs."""

    bits_per_symbol: int

    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """(batch, s*b) bits -> (batch, s) complex64 symbols."""
        ...

    def demap(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        """(batch, s) symbols, N0 broadcastable -> (batch, s*b) LLRs (logits)."""
        ...


class LearnedModem:
    """A trained constellation and neural demapper."""

    def __init__(self, const: LearnedConstellation, demapper: NeuralDemapper):
        self.const, self.demapper = const, demapper
        self.bits_per_symbol = const.bits_per_symbol

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        return self.const(bits_to_indices(group_bits(bits, self.bits_per_symbol)))

    @torch.no_grad()
    def demap(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        return self.demapper(y, n0).flatten(-2)


class QamModem:
    """The baseline: Gray-labelled square QAM with Sionna's APP (exact) demapper."""

    def __init__(self, bits_per_symbol: int, device: str = "cpu"):
        self.bits_per_symbol = bits_per_symbol
        device = sionna_device(device)
        mapping = phy().mapping
        self.constellation = mapping.Constellation("qam", bits_per_symbol, device=device)
        self.mapper = mapping.Mapper(constellation=self.constellation, device=device)
        self.demapper = mapping.Demapper("app", constellation=self.constellation, device=device)

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        return self.mapper(bits)

    @torch.no_grad()
    def demap(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        return self.demapper(y, n0)


class LdpcCode:
    """Sionna's 5G NR LDPC code with ``k`` information bits per ``n``-bit codeword."""

    def __init__(self, k: int, n: int, bits_per_symbol: int, device: str = "cpu", iterations: int = 20):
        self.k, self.n = k, n
        device = sionna_device(device)
        ldpc = phy().fec.ldpc
        self.encoder = ldpc.LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device=device)
        self.decoder = ldpc.LDPC5GDecoder(self.encoder, hard_out=True, num_iter=iterations, device=device)

    @property
    def rate(self) -> float:
        return self.k / self.n


@dataclass(frozen=True)
class CodedPoint:
    """Bit and block error counts at one Eb/N0, with rates and Clopper-Pearson intervals."""

    ebno_db: float
    bit_errors: int
    bits: int
    block_errors: int
    blocks: int

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits

    @property
    def bler(self) -> float:
        return self.block_errors / self.blocks

    def bler_ci(self) -> tuple[float, float]:
        est = clopper_pearson(self.block_errors, self.blocks)
        return est.ci_low, est.ci_high

    def ber_ci(self) -> tuple[float, float]:
        est = clopper_pearson(self.bit_errors, self.bits)
        return est.ci_low, est.ci_high


def ebno_at_bler(points: Sequence[CodedPoint], target: float = 1e-2) -> float | None:
    """The Eb/N0 (dB) where a BLER curve (ascending Eb/N0) first falls below ``target``, interpolated linearly in
    log BLER between the two points around it; None if it does not cross within the points.

    A point with no block errors stands in with its 95% Clopper-Pearson upper bound, so the crossing found is
    conservative (never earlier than the measurement allows); where even that bound is above ``target`` the
    crossing is read at that point's Eb/N0.

    >>> ebno_at_bler([CodedPoint(5.0, 0, 1, 10, 100), CodedPoint(6.0, 0, 1, 1, 1000)])
    5.5
    >>> round(ebno_at_bler([CodedPoint(5.0, 0, 1, 10, 100), CodedPoint(6.0, 0, 1, 0, 1000)]), 3)
    5.697
    """
    for a, b in itertools.pairwise(points):
        if a.bler >= target > b.bler:
            b_bler = b.bler if b.block_errors else b.bler_ci()[1]  # no errors: its upper bound
            if b_bler >= target:
                return b.ebno_db
            t = (math.log10(a.bler) - math.log10(target)) / (math.log10(a.bler) - math.log10(b_bler))
            return round(a.ebno_db + t * (b.ebno_db - a.ebno_db), 6)
    return None


def awgn(x: torch.Tensor, n0: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x + CN(0, n0)`` noise (:class:`mfcomm.channels.contract.AWGN` at ``n0``)."""
    return AWGN(n0, generator)(x)


@torch.no_grad()
def simulate_coded(
    modem: Modem,
    code: LdpcCode,
    ebno_db: float,
    target_block_errors: int = 100,
    max_blocks: int = 100_000,
    batch: int = 1000,
    device: str = "cpu",
    channel: Callable[[torch.Tensor, float], torch.Tensor] = awgn,
) -> CodedPoint:
    """Monte Carlo BER/BLER of ``modem`` with ``code`` at Eb/N0 = ``ebno_db`` (information bits)."""
    n0 = ebno_db_to_n0(ebno_db, modem.bits_per_symbol * code.rate, 1)
    n0_t = torch.tensor(n0, device=device)
    bit_errors = block_errors = blocks = 0
    while block_errors < target_block_errors and blocks < max_blocks:
        rows = min(batch, max_blocks - blocks)
        info = torch.randint(0, 2, (rows, code.k), device=device).float()
        y = channel(modem.modulate(code.encoder(info)), n0)
        decoded = code.decoder(modem.demap(y, n0_t))
        wrong = decoded != info
        bit_errors += int(wrong.sum())
        block_errors += int(wrong.any(dim=1).sum())
        blocks += rows
    return CodedPoint(ebno_db, bit_errors, blocks * code.k, block_errors, blocks)


@torch.no_grad()
def bmd_rate_at(
    modem: Modem,
    ebno_db: float,
    code_rate: float,
    symbols: int = 200_000,
    device: str = "cpu",
    channel: Callable[[torch.Tensor, float], torch.Tensor] = awgn,
) -> float:
    """Estimated BMD rate (bits per channel use) of ``modem`` on ``channel`` (AWGN) at Eb/N0 = ``ebno_db``.

    ``b - sum_i E[BCE_i] / ln 2`` over uncoded uniform bits; Eb/N0 counts ``b * code_rate`` information bits
    per symbol, as the coded curves do.
    """
    b = modem.bits_per_symbol
    n0 = ebno_db_to_n0(ebno_db, b * code_rate, 1)
    bits = torch.randint(0, 2, (1, symbols * b), device=device).float()
    llr = modem.demap(channel(modem.modulate(bits), n0), torch.tensor(n0, device=device))
    return bmd_rate(float(symbol_bce(group_bits(llr, b), group_bits(bits, b)).mean()), b)
