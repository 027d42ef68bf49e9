"""The OFDM task's coded evaluation: BER and BLER of one 5G LDPC codeword per slot, and the goodput.

Each slot carries one codeword of Sionna's 5G LDPC code whose length is the slot's data bits (``data * b``) and
whose ``k`` information bits give the run's code rate; the encoder's rate-matching interleaver spreads each
codeword over ``b`` bits per symbol as Sionna's 5G chain does. A *grid system* maps coded bits to the slot's data
symbols and a received grid back to LLRs: the learned one (a constellation and the convolutional receiver) or a
classical one (:class:`~mfcomm.system.ofdm_baseline.QamGrid`). All go through the same link
(:class:`~mfcomm.channels.ofdm_link.OfdmLink`) at each Eb/N0, until ``target_block_errors`` block errors or
``max_slots`` slots, with Clopper-Pearson intervals (:class:`~mfcomm.evaluation.coded.CodedPoint`).

The *goodput* is information bits delivered per resource element, pilots counted as overhead:
``(1 - BLER) k / (symbols * subcarriers)``.

Example
-------
>>> import torch
>>> from mfcomm.channels.ofdm_grid import Grid
>>> from mfcomm.channels.ofdm_link import OfdmLink
>>> from mfcomm.system.ofdm_baseline import QamGrid
>>> grid = Grid(subcarriers=24, symbols=14)
>>> link = OfdmLink(grid, "awgn", 2, 0.5, (0.0, 0.0), torch.Generator().manual_seed(0))
>>> code = slot_code(grid, 2, 0.5)
>>> [p.blocks for p in coded_curve(QamGrid(grid, 2), link, code, [20.0], max_slots=40, batch=20)]
[40]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.evaluation.coded import CodedPoint, LdpcCode
from mfcomm.system.bitwise import LearnedConstellation, bits_to_indices, group_bits
from mfcomm.system.ofdm_receiver import GridReceiver

TARGET_BLOCK_ERRORS, MAX_SLOTS = 100, 1000
"""A point of ``mfcomm train --task ofdm``'s evaluation: slots until 100 block errors or 1000 slots."""


class GridSystem(Protocol):
    """Coded bits to a slot's data symbols, and a received grid back to LLRs."""

    name: str

    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """(batch, data * b) coded bits -> (batch, data) complex64."""
        ...

    def demap(self, y: torch.Tensor, n0: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """Received grid (batch, symbols, subcarriers), N0 (batch, 1), the true response or None -> LLRs."""
        ...


class LearnedGrid:
    """A trained constellation and grid receiver as a :class:`GridSystem`."""

    def __init__(self, const: LearnedConstellation, rx: GridReceiver, name: str = "learned"):
        self.const, self.rx, self.name = const, rx, name

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        return self.const(bits_to_indices(group_bits(bits, self.const.bits_per_symbol)))

    @torch.no_grad()
    def demap(self, y: torch.Tensor, n0: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        return self.rx(y, n0).flatten(1)


def slot_code(grid: Grid, bits_per_symbol: int, code_rate: float) -> LdpcCode:
    """The 5G LDPC code of one codeword per slot: ``n = data * b``, ``k = round(n * code_rate)``."""
    n = grid.data * bits_per_symbol
    return LdpcCode(round(n * code_rate), n, bits_per_symbol, device=grid.device)


@torch.no_grad()
def coded_curve(
    system: GridSystem,
    link: OfdmLink,
    code: LdpcCode,
    ebno_db: Sequence[float],
    target_block_errors: int = TARGET_BLOCK_ERRORS,
    max_slots: int = MAX_SLOTS,
    batch: int = 100,
    generator: torch.Generator | None = None,
) -> list[CodedPoint]:
    """BER and BLER of ``system`` through ``link`` at each Eb/N0 (the link's range is restored afterwards);
    the information bits are drawn from ``generator`` (None: torch's default)."""
    kept, points = link.ebno_db, []
    try:
        for e in ebno_db:
            link.ebno_db = (e, e)
            bit_errors = block_errors = slots = 0
            while block_errors < target_block_errors and slots < max_slots:
                rows = min(batch, max_slots - slots)
                info = torch.randint(0, 2, (rows, code.k), device=link.grid.device, generator=generator).float()
                y, n0, h = link.transmit(system.modulate(code.encoder(info)))
                wrong = code.decoder(system.demap(y, n0, h)) != info
                bit_errors += int(wrong.sum())
                block_errors += int(wrong.any(dim=1).sum())
                slots += rows
            points.append(CodedPoint(e, bit_errors, slots * code.k, block_errors, slots))
    finally:
        link.ebno_db = kept
    return points


def goodput(point: CodedPoint, k: int, grid: Grid) -> float:
    """Information bits delivered per resource element at ``point``, pilots counted as overhead."""
    return (1.0 - point.bler) * k / grid.resource_elements
