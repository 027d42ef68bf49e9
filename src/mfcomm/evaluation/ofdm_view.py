"""What an OFDM receiver learned about the channel, drawn: one slot as the channel delivered it and as the
receiver reads it (``receiver.png`` in an OFDM run's directory).

The receiver gives LLRs, not equalised symbols. Its *soft symbols* ``E[x | LLRs] = sum_i P(i) p_i`` (each point's
probability the product of its bits', as the LLRs of a bit-interleaved demapper give them; Sionna's blocks) place
each data resource element where the receiver believes it was sent: a cloud on each point where it has resolved the
channel's gain and phase, a smear between points, or a turned copy, where it has not.

Example
-------
>>> import torch
>>> soft_symbols(torch.tensor([[-20.0], [20.0]]), torch.tensor([1 + 0j, -1 + 0j]))
tensor([ 1.+0.j, -1.+0.j])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mfcomm.channels.ofdm_link import OfdmLink
from mfcomm.evaluation.ofdm_coded import LearnedGrid
from mfcomm.plots import save_figure, subplots
from mfcomm.sionna_import import phy


def soft_symbols(llr: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """LLRs (..., b) (Sionna's sign: ``ln P(1)/P(0)``) and the ``2**b`` points -> (...) complex64 soft symbols:
    Sionna's ``LLRs2SymbolLogits`` then ``SymbolLogits2Moments`` (its mean) on a custom constellation."""
    mapping, device = phy().mapping, str(llr.device)
    constellation = mapping.Constellation("custom", llr.shape[-1], points=points, device=device)
    logits = mapping.LLRs2SymbolLogits(llr.shape[-1], device=device)(llr)
    return mapping.SymbolLogits2Moments(constellation=constellation, device=device)(logits)[0]


@torch.no_grad()
def receiver_view(
    system: LearnedGrid, link: OfdmLink, ebno_db: float, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One slot of random bits through ``link`` at ``ebno_db``: its received data symbols and the receiver's soft
    symbols, each (data,) complex (NumPy)."""
    kept, link.ebno_db = link.ebno_db, (ebno_db, ebno_db)
    try:
        bits = torch.randint(0, 2, (1, link.grid.data * system.const.bits_per_symbol), generator=generator)
        y, n0, _ = link.transmit(system.modulate(bits.float().to(link.grid.device)))
    finally:
        link.ebno_db = kept
    soft = soft_symbols(system.rx(y, n0), system.const.points())
    return y[:, system.rx.data_mask].flatten().cpu().numpy(), soft.flatten().cpu().numpy()


def plot_receiver_view(received: np.ndarray, soft: np.ndarray, points: np.ndarray, path: Path, title: str) -> None:
    """Two panels: the received data symbols, and the soft symbols over the constellation's points."""
    fig, (left, right) = subplots(1, 2, figsize=(10, 5))
    left.scatter(received.real, received.imag, s=3, alpha=0.4)
    left.set(title="received (data resource elements)", xlabel="in-phase", ylabel="quadrature", aspect="equal")
    right.scatter(soft.real, soft.imag, s=3, alpha=0.4, c="C1", label="soft symbols E[x | LLRs]")
    right.scatter(points.real, points.imag, s=40, marker="x", c="k", label="constellation")
    right.set(title="as the receiver reads them", xlabel="in-phase", aspect="equal")
    right.legend(fontsize=7, loc="upper right")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
