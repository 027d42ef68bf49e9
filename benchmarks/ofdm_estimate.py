"""How well the pilotless receiver's reference estimates the channel (``make bench-ofdm-estimate``, 20 s on 2 cores).

Without pilot resource elements the receiver reads each symbol against the received grid's mean ``m`` over a
window around it (:func:`mfcomm.system.ofdm_receiver.local_mean`): the channel ``h`` times the superimposed pilot
``p``, give or take two errors: the data's own mean over the window (the points' energy, 1 - ``PILOT_SHARE``, over
as many symbols as the window holds) and the channel's change across the window (delay spread, Doppler). A smaller
window lets in less of the channel's change and more of the data's mean.

For each of ``benchmarks/ofdm.py``'s channel settings and each window, the normalised mean square error
``E|m / p - h|^2 / E|h|^2`` in dB over ``--slots`` slots (every resource element, the grid's edges included) of

- the channel's change alone (``m`` of ``h p``: no data, no noise);
- the data alone (on a flat channel, ``h = 1``);
- both, without noise and at ``--ebno-db``.

The points are the pilotless system's untrained constellation: the error does not depend on their shape, since
they are centred and of unit energy before the pilot is added.

Usage: ``python benchmarks/ofdm_estimate.py [--windows 13x15,13x7,...] [--slots N] [--ebno-db DB] [--seed N]``.
"""

from __future__ import annotations

import argparse
import math

import torch
from ofdm import CHANNELS

from mfcomm.channels.contract import complex_normal
from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.config.files import configure
from mfcomm.experiment.ofdm_task import OfdmTask, grid_of
from mfcomm.system.ofdm_receiver import WINDOW, local_mean


def nmse_db(estimate: torch.Tensor, h: torch.Tensor) -> float:
    """``E|estimate - h|^2 / E|h|^2`` in dB."""
    return 10 * math.log10(float((estimate - h).abs().square().mean() / h.abs().square().mean()))


def errors(spec: str, window: tuple[int, int], args: argparse.Namespace) -> list[float]:
    """The four errors (dB) of the window-mean estimate on the channel ``spec`` names (its fading, no noise)."""
    cfg = configure(overrides={"task": "ofdm", "channel": spec, "pilots": "none", "seed": args.seed})
    grid = grid_of(cfg)
    const, _ = OfdmTask().build(cfg)
    points = const.points().detach()
    pilot = points.mean()  # the points are centred before the pilot is added
    draws = torch.Generator().manual_seed(args.seed)
    x = points[torch.randint(0, len(points), (args.slots, grid.data), generator=draws)]
    fading = spec.split("|")[0]
    link = OfdmLink(grid, fading, const.bits_per_symbol, cfg.code_rate, (0.0, 0.0), draws)
    y, _, h = link.transmit(x)
    assert h is not None  # a fading stage in the frequency domain gives its response
    sent = grid.map(x)
    n0 = float(grid.n0(args.ebno_db, const.bits_per_symbol, cfg.code_rate))
    noise = complex_normal(tuple(y.shape), n0, y.device, draws)
    return [
        nmse_db(local_mean(h * pilot, window) / pilot, h),
        nmse_db(local_mean(sent, window) / pilot, torch.ones_like(h)),
        nmse_db(local_mean(y, window) / pilot, h),
        nmse_db(local_mean(y + noise, window) / pilot, h),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = f"{WINDOW[0]}x{WINDOW[1]},13x7,7x15,13x31"
    p.add_argument("--windows", default=default, help="OFDM symbols x subcarriers, odd sizes, comma-separated")
    p.add_argument("--slots", type=int, default=400)
    p.add_argument("--ebno-db", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    windows = [tuple(int(v) for v in w.split("x")) for w in args.windows.split(",")]
    print(f"NMSE of the pilotless receiver's window-mean channel estimate (dB), {args.slots} slots\n")
    print(f"| channel | window | channel's change | data's mean | both | both at {args.ebno_db:g} dB Eb/N0 |")
    print("|---|---|---|---|---|---|")
    for name, spec in CHANNELS.values():
        for window in windows:
            cells = " | ".join(f"{e:.1f}" for e in errors(spec, window, args))  # type: ignore[arg-type]
            print(f"| {name} | {window[0]} x {window[1]} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
