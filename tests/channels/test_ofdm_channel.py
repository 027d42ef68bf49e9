"""The OFDM link and its 3GPP fading: the frequency response against TR 38.901's power-delay profile, the grid's
pilots and counts, each domain's stages, and the one-line errors."""

from __future__ import annotations

import math

import pytest
import torch

from mfcomm.channels.ofdm_fading import GridFading
from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.errors import ChannelError

TDL_A_DELAYS = [0.0, 0.3819, 0.4025, 0.5868, 0.4610, 0.5375, 0.6708, 0.5750, 0.7618, 1.5375, 1.8978, 2.2242]
TDL_A_DELAYS += [2.1718, 2.4942, 2.5119, 3.0582, 4.0810, 4.4579, 4.5695, 4.7966, 5.0066, 5.3043, 9.6586]
TDL_A_POWERS_DB = [-13.4, 0.0, -2.2, -4.0, -6.0, -8.2, -9.9, -10.5, -7.5, -15.9, -6.6, -16.7, -12.4, -15.2, -10.8]
TDL_A_POWERS_DB += [-11.3, -12.7, -16.2, -18.3, -18.9, -16.6, -19.9, -29.7]
"""TR 38.901 Table 7.7.2-1, TDL-A: normalised delays and powers (dB), typed in from the standard."""


def pdp_correlation(lag_hz: float, delay_spread: float) -> complex:
    """E[h(f) h*(f + lag)] of a unit-power channel with TDL-A's profile (h(f) = sum_p a_p e^(-j2 pi f tau_p))."""
    powers = [10 ** (p / 10) for p in TDL_A_POWERS_DB]
    total = sum(powers)
    phases = [2 * math.pi * lag_hz * d * delay_spread for d in TDL_A_DELAYS]
    return sum(p / total * complex(math.cos(a), math.sin(a)) for p, a in zip(powers, phases, strict=True))


def test_tdl_frequency_response_follows_the_power_delay_profile():
    """Frequency correlation at lags of 1, 8 and 24 subcarriers (30 kHz) with 300 ns of delay spread, over 4000
    independent slots (static users), within 4 standard errors of the PDP's Fourier transform; power 1."""
    grid, spread = Grid(), 300e-9
    fading = GridFading("tdl", grid, "A", spread, 0.0, generator=torch.Generator().manual_seed(1), normalize=False)
    h = torch.cat([fading.draw(500)[:, 0, :] for _ in range(8)]).to(torch.complex128)  # (slots, subcarriers)
    power = h.abs().square().mean(dim=1)
    assert abs(power.mean().item() - 1.0) < 4 * power.std().item() / math.sqrt(len(power))
    for lag in (1, 8, 24):
        per_slot = (h[:, :-lag] * h[:, lag:].conj()).mean(dim=1)
        expected = pdp_correlation(lag * grid.spacing, spread)
        for part, want in ((per_slot.real, expected.real), (per_slot.imag, expected.imag)):
            error = 4 * part.std().item() / math.sqrt(len(part))
            assert abs(part.mean().item() - want) < error, (lag, part.mean().item(), want, error)


def test_tdl_correlation_is_not_flat_at_this_delay_spread():
    """The test above can fail: the PDP's correlation at 24 subcarriers is far from 1 (and from a flat channel's)."""
    assert abs(pdp_correlation(24 * 30e3, 300e-9)) < 0.8


def test_grid_counts_and_pilots():
    assert (Grid().data, Grid(pilots="single").data, Grid(pilots="none").data) == (864, 936, 1008)
    grid = Grid(subcarriers=24, symbols=14)
    y = grid.map(torch.zeros(3, grid.data, dtype=torch.complex64))
    pilots = y[:, ~grid.data_mask]
    assert torch.allclose(pilots.abs().square().mean(), torch.tensor(1.0), atol=1e-5)  # unit-energy QPSK
    assert torch.equal(Grid(subcarriers=24).map(torch.zeros(1, grid.data)), y[:1])  # the same pilots every time


@pytest.mark.parametrize("spec", ["awgn", "tdl(model=C,speed=30) | awgn", "cdl(model=C,delay_spread=300e-9) | awgn"])
def test_frequency_domain_link_is_h_x_plus_noise(spec):
    grid = Grid(subcarriers=24)
    link = OfdmLink(grid, spec, 4, 0.5, (6.0, 6.0), torch.Generator().manual_seed(0))
    x = torch.randn(50, grid.data, dtype=torch.complex64)
    y, n0, h = link.transmit(x)
    assert h is not None and link.knows_channel
    noise = y - h * grid.map(x)
    expected = grid.n0(6.0, 4, 0.5).item()
    assert torch.allclose(n0, torch.full((50, 1), expected))
    assert abs(noise.abs().square().mean().item() / expected - 1) < 0.05  # 50 x 336 samples: std about 0.3%
    assert link.channel_uses(x) == 50 * grid.resource_elements


def test_time_domain_round_trip_without_impairments():
    """A time-domain link with no stage but a flat channel returns the grid it sent (OFDM modulator, cyclic prefix,
    demodulator); the impairments act on the samples."""
    grid = Grid(subcarriers=24)
    x = torch.randn(4, grid.data, dtype=torch.complex64)
    link = OfdmLink(grid, "phase(max_deg=0)", 4, 0.5, (6.0, 6.0), domain="time")
    y, _, h = link.transmit(x)
    assert h is None and not link.knows_channel
    assert torch.allclose(y, grid.map(x), atol=1e-5)
    cfo = OfdmLink(grid, "cfo(offset=0.01)", 4, 0.5, (6.0, 6.0), domain="time")
    assert not torch.allclose(cfo.transmit(x)[0], grid.map(x), atol=1e-2)


def test_bad_specs_are_one_line():
    grid = Grid()
    for spec, words in [
        ("rbf", "over OFDM use tdl or cdl"),
        ("cdl(model=Z) | awgn", "model must be one of"),
        ("tdl(nosuch=1)", "unknown parameter 'nosuch'"),
    ]:
        with pytest.raises(ChannelError, match=words):
            OfdmLink(grid, spec, 4, 0.5, (6.0, 6.0))
    with pytest.raises(ChannelError, match="frequency domain only"):
        OfdmLink(grid, "cdl | awgn", 4, 0.5, (6.0, 6.0), domain="time")
    with pytest.raises(ChannelError, match="need more than 11 OFDM symbols"):
        Grid(symbols=7)
