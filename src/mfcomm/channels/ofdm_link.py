"""An OFDM link: data symbols -> the resource grid -> a channel spec's stages -> the received grid and its N0.

The OFDM task's channel, in the :class:`~mfcomm.channels.contract.Sampler` contract: the transmitter's data
symbols, (batch, data) complex64 with one slot per row, are placed on the grid with the pilots
(:class:`~mfcomm.channels.ofdm_grid.Grid`), sent through the stages of a channel spec, and come back as the
received grid (batch, symbols, subcarriers) complex64 with the noise variance of each slot, (batch, 1) float32,
which the neural receiver is told (as the bits task's channels do).

The spec is a chain (``tdl(model=A,speed=3) | awgn``, docs/ofdm.md) whose stages run in one of two domains:

- ``frequency`` (default): ``tdl`` and ``cdl`` are 3GPP fading on the grid
  (:class:`~mfcomm.channels.ofdm_fading.GridFading`), every other stage (``awgn``, the impairments) acts on each
  resource element; a ``PATH.py:FUNC`` black box gets the grid as (batch, symbols * subcarriers), OFDM symbol
  after OFDM symbol;
- ``time``: the grid is OFDM-modulated (Sionna's ``OFDMModulator``, cyclic prefix included) into a slot of
  ``symbols * (subcarriers + cp)`` samples, every stage acts on the samples (``tdl`` as the single-carrier
  chain stage at the sample rate ``subcarriers * spacing``; CFO, phase noise, an ADC or an amplifier where they
  physically act; a ``gnuradio`` flowgraph), and the receiver demodulates.

``awgn`` adds the noise of each slot's Eb/N0, drawn uniformly from ``ebno_db`` (the range's ends: the same
value for one Eb/N0), by Sionna's ``ebnodb2no`` on the grid. A channel uses one channel use per resource element,
pilots included (:meth:`OfdmLink.channel_uses`).

Example
-------
>>> import torch
>>> from mfcomm.channels.ofdm_grid import Grid
>>> link = OfdmLink(Grid(), "tdl(model=A,speed=3) | awgn", 4, 0.5, (5.0, 5.0), torch.Generator().manual_seed(0))
>>> y, n0 = link(torch.ones(2, 864, dtype=torch.complex64))
>>> y.shape, n0.shape, link.channel_uses(torch.ones(2, 864))
(torch.Size([2, 14, 72]), torch.Size([2, 1]), 2016)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from mfcomm.channels import chain
from mfcomm.channels.contract import Channel, complex_normal
from mfcomm.channels.field_models import TDL
from mfcomm.channels.ofdm_fading import GridFading
from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.spec import kind, make_channel
from mfcomm.errors import ChannelError
from mfcomm.sionna_import import phy

DOMAINS = ("frequency", "time")


class SlotNoise:
    """AWGN whose N0 is the slot's (set by :class:`OfdmLink` before each call): ``y = x + CN(0, n0_row)``."""

    differentiable = True
    name = "awgn"

    def __init__(self, generator: torch.Generator | None):
        self.generator, self.n0 = generator, torch.zeros(1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x + complex_normal(tuple(x.shape), 1.0, x.device, self.generator) * self.n0.sqrt()


def _stage(piece: str, grid: Grid, domain: str, generator: torch.Generator | None, timeout: float | None) -> Any:
    """One stage of an OFDM chain, built for ``domain``."""
    match = chain.STAGE.match(piece.strip())
    name = match.group(1) if match else ""
    if name == "awgn":
        return SlotNoise(generator)
    if name == "rbf":
        raise ChannelError("channel stage rbf is for single-carrier blocks: over OFDM use tdl or cdl fading")
    if name in ("tdl", "cdl") and domain == "frequency":
        assert match is not None  # the name came from a match
        values = _keys(name, match.group(2) or "")
        return GridFading(name, grid, **values, generator=generator)  # type: ignore[arg-type]
    if name == "cdl":
        raise ChannelError("channel stage cdl runs in the frequency domain only (use tdl in the time domain)")
    if name == "tdl":  # the single-carrier stage at the slot's sample rate
        stage = chain.parse(piece)[0][1]
        return TDL(**{"bandwidth": grid.subcarriers * grid.spacing, **stage}, generator=generator)  # type: ignore[arg-type]
    return chain.build(piece, None, generator, timeout)


def _keys(name: str, args: str) -> dict[str, float | str]:
    """A fading stage's ``key=value`` pairs, typed by :class:`GridFading`'s defaults."""
    defaults = {
        k: p.default
        for k, p in inspect.signature(GridFading).parameters.items()
        if k not in ("family", "grid", "generator", "normalize")
    }
    values: dict[str, float | str] = {}
    for item in filter(str.strip, args.split(",")):
        key, _, text = (part.strip() for part in item.partition("="))
        if key not in defaults:
            raise ChannelError(f"channel stage {name}: unknown parameter {key!r} (parameters: {', '.join(defaults)})")
        values[key] = chain._value(name, key, text, defaults[key])  # the chain's own typing
    return values


class OfdmLink:
    """Data symbols -> grid -> the stages of ``spec`` -> ``(y, n0)`` (see the module docstring).

    ``given``: a channel object to use instead of ``spec`` (``mfcomm.train(cfg, channel=f)``), on the grid.
    ``ebno_db``: the (low, high) range each slot's Eb/N0 is drawn from. Differentiable if every stage is.
    """

    def __init__(
        self,
        grid: Grid,
        spec: str,
        bits_per_symbol: int,
        code_rate: float,
        ebno_db: tuple[float, float],
        generator: torch.Generator | None = None,
        domain: str = "frequency",
        timeout: float | None = None,
        given: Channel | None = None,
    ):
        if domain not in DOMAINS:
            raise ChannelError(f"domain must be frequency or time, not {domain!r}")
        self.grid, self.bits_per_symbol, self.code_rate, self.ebno_db = grid, bits_per_symbol, code_rate, ebno_db
        self.domain, self.generator = domain, generator
        if given is not None or kind(spec) in ("function", "object"):
            self.stages = [given or make_channel(spec, None, timeout=timeout)]
        else:
            self.stages = [_stage(piece, grid, domain, generator, timeout) for piece in spec.split("|")]
        self.name = " | ".join(stage.name for stage in self.stages)
        self.differentiable = all(stage.differentiable for stage in self.stages)

    @property
    def knows_channel(self) -> bool:
        """Whether :meth:`transmit` gives the true frequency response: frequency domain, fading and noise only."""
        return self.domain == "frequency" and all(isinstance(s, (GridFading, SlotNoise)) for s in self.stages)

    def slot_n0(self, batch: int) -> torch.Tensor:
        """Each slot's N0, (batch, 1) float32, at an Eb/N0 drawn uniformly from the range."""
        low, high = self.ebno_db
        u = torch.rand(batch, 1, device=self.grid.device, generator=self.generator) if high > low else 0.0
        return (
            self.grid.n0(low + (high - low) * u, self.bits_per_symbol, self.code_rate).reshape(-1, 1).expand(batch, 1)
        )

    def transmit(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(y, n0, h)``: the received grid, each slot's N0 and the frequency response the data went through
        (None when no stage is a known fading or noise, or in the time domain: no perfect CSI to give)."""
        grid, n0 = self.grid.map(x), self.slot_n0(x.shape[0])
        h: torch.Tensor | None = torch.ones_like(grid)
        s = grid if self.domain == "frequency" else self._modulate(grid)
        for stage in self.stages:
            if isinstance(stage, SlotNoise):
                stage.n0 = n0
                s = stage(s.flatten(1)).view_as(s)
            elif isinstance(stage, GridFading):
                fading = stage.draw(x.shape[0])
                h, s = (h * fading if h is not None else None), fading * s
            else:
                h, s = None, stage(s.flatten(1)).view_as(s)
        if self.domain == "time":
            return self._demodulate(s), n0, None
        return s, n0, h

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (batch, data) complex64 -> ``y`` (batch, symbols, subcarriers) complex64, ``n0`` (batch, 1)."""
        y, n0, _ = self.transmit(x)
        return y, n0

    def channel_uses(self, x: torch.Tensor) -> int:
        """Resource elements a call spends: every one of each slot's, pilots included."""
        return x.shape[0] * self.grid.resource_elements

    def _modulate(self, grid: torch.Tensor) -> torch.Tensor:
        """(batch, symbols, subcarriers) -> (batch, symbols * (subcarriers + cp)) samples, energy per sample 1."""
        return phy().ofdm.OFDMModulator(self.grid.cp, device=self.grid.device)(grid)

    def _demodulate(self, samples: torch.Tensor) -> torch.Tensor:
        ofdm = phy().ofdm
        return ofdm.OFDMDemodulator(self.grid.subcarriers, 0, self.grid.cp, device=self.grid.device)(samples)

    def close(self) -> None:
        """Ends a black box's worker process or a flowgraph, if a stage has one."""
        for stage in self.stages:
            getattr(stage, "close", lambda: None)()
