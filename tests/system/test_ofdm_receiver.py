"""The pilotless receiver's reference, :func:`local_mean`, against what it must be: exactly the channel where the
channel holds still over the window, and on a flat channel an error of the data's mean, whose variance is known in
closed form (``benchmarks/ofdm_estimate.py`` measures both on the 3GPP channels)."""

from __future__ import annotations

import math

import torch

from mfcomm.channels.contract import complex_normal
from mfcomm.experiment.ofdm_task import PILOT_SHARE
from mfcomm.system.bitwise import LearnedConstellation
from mfcomm.system.ofdm_receiver import WINDOW, local_mean


def pilotless_points() -> torch.Tensor:
    """The pilotless system's 16 points, the superimposed pilot their mean."""
    return LearnedConstellation(4, pilot=PILOT_SHARE).points().detach()


def test_a_channel_constant_over_the_slot_is_read_exactly_edges_included():
    h = complex_normal((8, 1, 1), 1.0, "cpu", torch.Generator().manual_seed(0)).expand(8, 14, 72)
    pilot = pilotless_points().mean()
    assert torch.allclose(local_mean(h * pilot) / pilot, h, atol=1e-6)


def test_the_data_mean_on_a_flat_channel_has_the_closed_form_variance():
    """At an element whose window lies inside the grid, ``m / p - 1`` is the mean of ``W`` independent centred
    points of energy ``1 - s`` over the pilot's amplitude: ``E|m / p - 1|^2 = (1 - s) / (s W)``. One such element a
    slot, 4000 slots: ``|e|^2`` is near-exponential (standard deviation its mean), so 5 sigma is 5 / sqrt(4000)."""
    slots, (rows, cols) = 4000, WINDOW
    points = pilotless_points()
    pilot = points.mean()
    x = points[torch.randint(0, 16, (slots, 14, 72), generator=torch.Generator().manual_seed(1))]
    error = local_mean(x)[:, rows // 2, 36] / pilot - 1
    expected = (1 - PILOT_SHARE) / (PILOT_SHARE * rows * cols)
    ratio = float(error.abs().square().mean()) / expected
    assert abs(ratio - 1) < 5 / math.sqrt(slots), ratio
