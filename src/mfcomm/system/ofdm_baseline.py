"""The OFDM task's classical systems, all Sionna blocks: Gray QAM with pilots, LS channel estimation, LMMSE
equalisation and the APP demapper; and the same with perfect channel knowledge, the bound.

:class:`QamGrid` is what a 5G receiver does with the grid's pilots: least-squares estimates at the pilot
resource elements, linearly interpolated across subcarriers and OFDM symbols (Sionna's ``LSChannelEstimator``
with ``interpolation_type="lin"``), an LMMSE equaliser that accounts for the estimate's error variance, and the
exact APP demapper on the equalised symbols and their effective noise. With ``perfect_csi`` the equaliser gets
the true frequency response (error variance 0), which needs no pilots: on a pilotless grid it is the only
classical reference.

Example
-------
>>> import torch
>>> from mfcomm.channels.ofdm_grid import Grid
>>> grid = Grid()
>>> qam = QamGrid(grid, bits_per_symbol=4)
>>> x = qam.modulate(torch.zeros(2, grid.data * 4))
>>> y = grid.map(x)
>>> llr = qam.demap(y, torch.full((2, 1), 0.01), None)
>>> llr.shape, bool((llr < 0).all())
(torch.Size([2, 3456]), True)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.errors import ConfigError
from mfcomm.sionna_import import phy


class QamGrid:
    """Gray QAM of ``bits_per_symbol`` bits on ``grid``'s data resource elements; LS + LMMSE + APP, or
    (``perfect_csi``) LMMSE + APP with the true channel."""

    def __init__(self, grid: Grid, bits_per_symbol: int, perfect_csi: bool = False):
        if not perfect_csi and grid.pilots == "none":
            raise ConfigError("LS channel estimation needs pilots: a pilotless grid has only the perfect-CSI bound")
        self.grid, self.bits_per_symbol, self.perfect_csi = grid, bits_per_symbol, perfect_csi
        self.name = f"{2**bits_per_symbol}-QAM, " + ("perfect CSI" if perfect_csi else f"{grid.pilots} pilots, LS")
        self.name += ", LMMSE, APP"

    @functools.cached_property
    def _blocks(self) -> dict[str, Any]:
        sp, rg, device = phy(), self.grid.resource_grid, self.grid.device
        constellation = sp.mapping.Constellation("qam", self.bits_per_symbol, device=device)
        streams = sp.mimo.StreamManagement(np.ones([1, 1], int), 1)
        return {
            "mapper": sp.mapping.Mapper(constellation=constellation, device=device),
            "demapper": sp.mapping.Demapper("app", constellation=constellation, device=device),
            "equalizer": sp.ofdm.LMMSEEqualizer(rg, streams, device=device),
            **({} if self.perfect_csi else {"ls": sp.ofdm.LSChannelEstimator(rg, "lin", device=device)}),
        }

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """(batch, data * b) coded bits -> (batch, data) complex64 QAM symbols."""
        return self._blocks["mapper"](bits)

    @torch.no_grad()
    def demap(self, y: torch.Tensor, n0: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """Received grid (batch, symbols, subcarriers), N0 (batch, 1) and, for perfect CSI, the true frequency
        response (same shape as ``y``) -> (batch, data * b) LLRs."""
        blocks, y5, no = self._blocks, y[:, None, None], n0.reshape(-1, 1, 1)
        if self.perfect_csi:
            if h is None:
                raise ConfigError("perfect CSI needs a known channel model in the frequency domain")
            h_hat = h[:, None, None, None, None]
            err = torch.zeros_like(h_hat.real)
        else:
            h_hat, err = blocks["ls"](y5, no)
        x_hat, no_eff = blocks["equalizer"](y5, h_hat, err, no)
        return blocks["demapper"](x_hat, no_eff)[:, 0, 0]
