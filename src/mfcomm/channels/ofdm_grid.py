"""An OFDM resource grid (Sionna's ``ResourceGrid``): where the data and the pilots sit, and Eb/N0 on it.

One slot is ``symbols`` OFDM symbols of ``subcarriers`` subcarriers (the FFT size; no guard carriers, no DC
null), ``spacing`` Hz apart, each with a cyclic prefix of ``cp`` samples. The pilot patterns (``pilots``):

- ``kronecker``: Sionna's Kronecker pattern on OFDM symbols 2 and 11 (the 5G-like default; 144 of 1008 REs on
  72 x 14), QPSK pilots drawn once from a fixed seed, so every run and process sees the same pilots;
- ``single``: the same on OFDM symbol 2 only (half the pilot overhead, no tracking across the slot);
- ``none``: every resource element carries data (pilotless).

The transmitter's data symbols are a row of ``data`` complex values per slot; :meth:`Grid.map` places them on
the grid (Sionna's ``ResourceGridMapper``, differentiable) around the pilots. Eb/N0 follows Sionna's
``ebnodb2no`` with the resource grid: the energy of the pilots and of the cyclic prefix counts against the
information bits, so a pilotless system is not handed its pilots' energy for free.

Example
-------
>>> import torch
>>> grid = Grid(subcarriers=72, symbols=14, pilots="kronecker")
>>> grid.data, grid.resource_elements
(864, 1008)
>>> grid.map(torch.ones(2, grid.data, dtype=torch.complex64)).shape
torch.Size([2, 14, 72])
>>> Grid(pilots="none").data
1008
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from mfcomm.errors import ChannelError
from mfcomm.sionna_import import drawing_from, phy

PILOTS: dict[str, tuple[int, ...]] = {"kronecker": (2, 11), "single": (2,), "none": ()}
"""The pilot patterns by name: the OFDM symbols that carry pilots (Kronecker pattern)."""
PILOT_SEED = 24
"""The seed of the pilots' QPSK values: fixed, so that transmitter and receiver agree on them in any process."""


@dataclass(frozen=True)
class Grid:
    """A slot's resource grid; ``device``: where its tensors live."""

    subcarriers: int = 72
    symbols: int = 14
    pilots: str = "kronecker"
    spacing: float = 30e3
    cp: int = 6
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.pilots not in PILOTS:
            raise ChannelError(f"pilots must be one of {', '.join(PILOTS)}, not {self.pilots!r}")
        if max(PILOTS[self.pilots], default=0) >= self.symbols:
            raise ChannelError(f"pilots {self.pilots} need more than {max(PILOTS[self.pilots])} OFDM symbols")

    @functools.cached_property
    def resource_grid(self) -> Any:
        """Sionna's ``ResourceGrid`` (one transmitter, one stream), its pilots drawn from :data:`PILOT_SEED`."""
        ofdm = phy().ofdm
        pattern = PILOTS[self.pilots]
        with drawing_from(torch.Generator(self.device).manual_seed(PILOT_SEED), torch.device(self.device)):
            return ofdm.ResourceGrid(
                num_ofdm_symbols=self.symbols,
                fft_size=self.subcarriers,
                subcarrier_spacing=self.spacing,
                cyclic_prefix_length=self.cp,
                pilot_pattern="kronecker" if pattern else None,
                pilot_ofdm_symbol_indices=list(pattern) if pattern else None,
                device=self.device,
            )

    @functools.cached_property
    def mapper(self) -> Any:
        return phy().ofdm.ResourceGridMapper(self.resource_grid, device=self.device)

    @property
    def data(self) -> int:
        """Data resource elements per slot."""
        return int(self.resource_grid.num_data_symbols)

    @property
    def resource_elements(self) -> int:
        """Resource elements per slot, pilots included."""
        return self.subcarriers * self.symbols

    @functools.cached_property
    def data_mask(self) -> torch.Tensor:
        """(symbols, subcarriers) bool: True where a data symbol sits (in :meth:`map`'s order, row-major)."""
        return self.resource_grid.pilot_pattern.mask[0, 0].to(self.device) == 0

    @functools.cached_property
    def pilot_grid(self) -> torch.Tensor:
        """(symbols, subcarriers) complex64: the pilots where they sit, 0 on the data resource elements."""
        return self.map(torch.zeros(1, self.data, device=self.device))[0]

    def map(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, data) complex64 data symbols -> (batch, symbols, subcarriers) complex64 grid, pilots in place."""
        return self.mapper(x[:, None, None, :].to(torch.complex64))[:, 0, 0]

    def n0(self, ebno_db: torch.Tensor | float, bits_per_symbol: int, code_rate: float) -> torch.Tensor:
        """Noise variance per resource element at Eb/N0 = ``ebno_db`` dB (Sionna's ``ebnodb2no`` on this grid)."""
        ebno = torch.as_tensor(ebno_db, dtype=torch.float32, device=self.device)
        return phy().utils.ebnodb2no(ebno, bits_per_symbol, code_rate, self.resource_grid, device=self.device)

    def with_device(self, device: str) -> Grid:
        """The same grid on ``device``."""
        return Grid(self.subcarriers, self.symbols, self.pilots, self.spacing, self.cp, device)
