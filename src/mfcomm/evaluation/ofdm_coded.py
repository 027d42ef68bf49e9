"""The OFDM task's coded evaluation: BER and BLER of one 5G LDPC codeword per slot, and the goodput.

Each slot carries one transport block of the slot's data bits (``data * b``) whose ``k`` information bits give the
run's code rate, coded by Sionna's 5G LDPC code: one codeword where ``k`` fits one 5G code block (8448 bits), else
5G's code-block segmentation into the fewest equal code blocks that do (without their CRCs: errors are counted
against the bits sent), so a 5G-sized grid is coded as 5G codes it. The encoder's rate-matching interleaver
spreads each codeword over ``b`` bits per symbol as Sionna's 5G chain does; a slot is a block error when any of
its bits is wrong. A *grid system* maps coded bits to the slot's data
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

import math
from collections.abc import Sequence
from typing import Protocol

import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.evaluation.coded import CodedPoint, LdpcCode
from mfcomm.system.bitwise import LearnedConstellation, bits_to_indices, group_bits
from mfcomm.system.ofdm_receiver import GridReceiver

MAX_BLOCK_K = 8448
"""The most information bits one 5G LDPC code block carries (base graph 1, TS 38.212 5.2.2)."""
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


def segmentation(data: int, bits_per_symbol: int, code_rate: float) -> tuple[int, int, int]:
    """``(blocks, n, k)`` per code block of a slot with ``data`` data resource elements: the fewest blocks that
    split the resource elements evenly with at most :data:`MAX_BLOCK_K` information bits each.

    >>> segmentation(864, 4, 0.5)  # 72 x 14, Kronecker pilots: one codeword
    (1, 3456, 1728)
    >>> segmentation(612 * 12, 4, 0.5)  # 51 resource blocks (20 MHz at 30 kHz): two code blocks
    (2, 14688, 7344)
    """
    if not 0.2 <= code_rate <= 0.95:
        raise ValueError(f"5G LDPC codes take rates from 1/5 to 0.95, not code_rate {code_rate:g}")
    least = math.ceil(round(data * bits_per_symbol * code_rate) / MAX_BLOCK_K)
    for blocks in range(max(least, 1), data + 1):
        n = data // blocks * bits_per_symbol
        if data % blocks == 0 and 12 <= round(n * code_rate) <= MAX_BLOCK_K:
            return blocks, n, round(n * code_rate)
    raise ValueError(f"{data} data resource elements do not split into 5G code blocks of 12 to {MAX_BLOCK_K} bits")


class SlotCode:
    """A slot's transport block: ``blocks`` equal 5G LDPC code blocks (:func:`segmentation`) side by side.

    ``encoder``: (rows, k) information bits -> (rows, n) coded bits; ``decoder``: (rows, n) LLRs -> (rows, k) hard
    bits; ``k`` and ``n`` count the whole slot.
    """

    def __init__(self, data: int, bits_per_symbol: int, code_rate: float, device: str = "cpu"):
        self.blocks, n, k = segmentation(data, bits_per_symbol, code_rate)
        self.block = LdpcCode(k, n, bits_per_symbol, device=device)
        self.k, self.n = self.blocks * k, self.blocks * n

    def encoder(self, info: torch.Tensor) -> torch.Tensor:
        return self.block.encoder(info.reshape(-1, self.block.k)).reshape(info.shape[0], self.n)

    def decoder(self, llrs: torch.Tensor) -> torch.Tensor:
        return self.block.decoder(llrs.reshape(-1, self.block.n)).reshape(llrs.shape[0], self.k)


def slot_code(grid: Grid, bits_per_symbol: int, code_rate: float) -> SlotCode:
    """The 5G LDPC coding of one slot of ``grid``: ``n = data * b`` coded bits, ``k`` at ``code_rate``."""
    return SlotCode(grid.data, bits_per_symbol, code_rate, device=grid.device)


@torch.no_grad()
def coded_curve(
    system: GridSystem,
    link: OfdmLink,
    code: SlotCode,
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
