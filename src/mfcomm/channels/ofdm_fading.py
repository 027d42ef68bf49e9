"""3GPP fading on an OFDM resource grid: Sionna's TDL and CDL models through ``GenerateOFDMChannel``.

Each slot (batch row) gets its own channel realisation: the frequency response on every resource element,
``h`` of shape (batch, symbols, subcarriers), normalised to unit average energy per slot, varying across the
slot's OFDM symbols with the users' ``speed`` (m/s, Doppler at ``carrier_frequency``). ``y = h * x`` per
resource element (``ApplyOFDMChannel``: no inter-carrier interference, as Sionna's frequency-domain channel);
the time-domain form is the ``tdl`` chain stage on the slot's samples (:mod:`mfcomm.channels.ofdm_link`).

CDL is one single-polarised omnidirectional antenna at each end (the uplink), so that CDL's clusters shape the
channel's delay profile and Doppler, not an array's gain. The realisations draw from ``generator`` (the run's
channel generator), never from Sionna's unseeded ones.

Example
-------
>>> import torch
>>> from mfcomm.channels.ofdm_grid import Grid
>>> fading = GridFading("tdl", Grid(), model="A", speed=3.0, generator=torch.Generator().manual_seed(0))
>>> h = fading.draw(4)
>>> h.shape, h.dtype, round(float(h.abs().square().mean()), 3)
(torch.Size([4, 14, 72]), torch.complex64, 1.0)
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.stage_bounds import check
from mfcomm.errors import ChannelError
from mfcomm.sionna_import import drawing_from, phy

MODELS = {"tdl": ("A", "B", "C", "D", "E", "A30", "B100", "C300"), "cdl": ("A", "B", "C", "D", "E")}
"""The 3GPP TR 38.901 models Sionna provides, by family."""


class GridFading:
    """``tdl`` or ``cdl`` fading on ``grid``. Keys: ``model``, ``delay_spread`` (s), ``speed`` (m/s),
    ``carrier_frequency`` (Hz); ``normalize=False`` keeps the model's own power (for tests). :meth:`draw` gives
    a batch of frequency responses; calling it on a grid
    (batch, symbols, subcarriers) complex64 multiplies by a fresh one. Differentiable in ``x``."""

    differentiable = True

    def __init__(
        self,
        family: str,
        grid: Grid,
        model: str = "A",
        delay_spread: float = 100e-9,
        speed: float = 0.0,
        carrier_frequency: float = 3.5e9,
        generator: torch.Generator | None = None,
        normalize: bool = True,
    ):
        if model not in MODELS[family]:
            raise ChannelError(
                f"channel stage {family}: model must be one of {', '.join(MODELS[family])}, not {model!r}"
            )
        check("tdl", delay_spread=delay_spread, carrier_frequency=carrier_frequency, speed=speed)
        self.family, self.grid, self.model, self.delay_spread = family, grid, model, delay_spread
        self.speed, self.carrier_frequency, self.generator, self.normalize = (
            speed,
            carrier_frequency,
            generator,
            normalize,
        )
        keys = f"model={model},delay_spread={delay_spread:g},speed={speed:g},carrier_frequency={carrier_frequency:g}"
        self.name = f"{family}({keys})"

    @functools.cached_property
    def _generate(self) -> Any:
        channel, device = phy().channel, self.grid.device
        speeds = {"min_speed": self.speed, "max_speed": self.speed, "device": device}
        if self.family == "tdl":
            model = channel.tr38901.TDL(self.model, self.delay_spread, self.carrier_frequency, **speeds)
        else:
            antenna = {"polarization": "single", "polarization_type": "V", "antenna_pattern": "omni"}
            arrays = [
                channel.tr38901.PanelArray(1, 1, **antenna, carrier_frequency=self.carrier_frequency, device=device)
                for _ in range(2)
            ]
            model = channel.tr38901.CDL(
                self.model, self.delay_spread, self.carrier_frequency, *arrays, direction="uplink", **speeds
            )
        return channel.GenerateOFDMChannel(
            model, self.grid.resource_grid, normalize_channel=self.normalize, device=device
        )

    def draw(self, batch: int) -> torch.Tensor:
        """``batch`` frequency responses, (batch, symbols, subcarriers) complex64, from the run's generator."""
        with drawing_from(self.generator, torch.device(self.grid.device)):
            return self._generate(batch)[:, 0, 0, 0, 0].to(torch.complex64)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.draw(x.shape[0]) * x
