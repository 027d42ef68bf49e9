"""The OFDM baseline against Sionna's own reference chain, written out block by block as Sionna's OFDM tutorials
do, on the same grid and the same draws: identical transmitted grids, LLRs and decoded bits (so identical BER)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mfcomm.channels.ofdm_grid import Grid
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.evaluation.coded import LdpcCode
from mfcomm.evaluation.ofdm_coded import coded_curve, slot_code
from mfcomm.sionna_import import phy
from mfcomm.system.ofdm_baseline import QamGrid

pytestmark = pytest.mark.integration


def sionna_reference(
    grid: Grid, bits: torch.Tensor, h: torch.Tensor, noise: torch.Tensor, no: torch.Tensor, perfect: bool
):
    """Sionna's chain on [batch, tx, streams, ...] shapes: Mapper -> ResourceGridMapper -> y = h x + noise ->
    LSChannelEstimator('lin') (or the true h) -> LMMSEEqualizer -> Demapper('app')."""
    sp = phy()
    rg = grid.resource_grid
    constellation = sp.mapping.Constellation("qam", 4)
    x = sp.mapping.Mapper(constellation=constellation)(bits[:, None, None, :])
    tx_grid = sp.ofdm.ResourceGridMapper(rg)(x)
    h7 = h[:, None, None, None, None]
    y = sp.channel.ApplyOFDMChannel()(tx_grid, h7) + noise[:, None, None]
    no3 = no.reshape(-1, 1, 1)
    if perfect:
        h_hat, err = h7, torch.zeros_like(h7.real)
    else:
        h_hat, err = sp.ofdm.LSChannelEstimator(rg, interpolation_type="lin")(y, no3)
    streams = sp.mimo.StreamManagement(np.ones([1, 1], int), 1)
    x_hat, no_eff = sp.ofdm.LMMSEEqualizer(rg, streams)(y, h_hat, err, no3)
    return tx_grid[:, 0, 0], y[:, 0, 0], sp.mapping.Demapper("app", constellation=constellation)(x_hat, no_eff)[:, 0, 0]


@pytest.mark.parametrize("perfect", [False, True])
def test_baseline_is_sionnas_reference_chain(perfect):
    grid = Grid(subcarriers=36)
    link = OfdmLink(grid, "tdl(model=C,speed=10) | awgn", 4, 0.5, (7.0, 7.0), torch.Generator().manual_seed(3))
    qam = QamGrid(grid, 4, perfect_csi=perfect)
    code = LdpcCode(grid.data * 2, grid.data * 4, 4)
    info = torch.randint(0, 2, (64, code.k), generator=torch.Generator().manual_seed(4)).float()
    coded = code.encoder(info)
    y, n0, h = link.transmit(qam.modulate(coded))
    assert h is not None
    tx_grid, y_ref, llr_ref = sionna_reference(grid, coded, h, y - h * grid.map(qam.modulate(coded)), n0, perfect)
    assert torch.equal(grid.map(qam.modulate(coded)), tx_grid)
    assert torch.allclose(y, y_ref, atol=1e-6)
    llr = qam.demap(y, n0, h)
    assert torch.allclose(llr, llr_ref, rtol=1e-4, atol=1e-3)
    decoded, decoded_ref = code.decoder(llr), code.decoder(llr_ref)
    assert torch.equal(decoded, decoded_ref)
    errors = int((decoded != info).sum())
    assert 0 < errors < info.numel() // 4  # neither error-free nor broken at 7 dB: the BER says something


def test_baseline_error_rates_order_as_expected():
    """Perfect CSI beats LS estimation at the same Eb/N0; both improve with Eb/N0 (fixed seed, 200 slots)."""
    grid = Grid(subcarriers=36)
    code = slot_code(grid, 4, 0.5)
    bler = {}
    for perfect in (False, True):
        link = OfdmLink(grid, "tdl(model=A,speed=3) | awgn", 4, 0.5, (0.0, 0.0), torch.Generator().manual_seed(5))
        points = coded_curve(
            QamGrid(grid, 4, perfect), link, code, [6.0, 10.0], 10**6, 200, 100, torch.Generator().manual_seed(6)
        )
        bler[perfect] = [p.bler for p in points]
    assert bler[True][0] < bler[False][0] and bler[False][1] < bler[False][0] and bler[True][1] <= bler[True][0]
