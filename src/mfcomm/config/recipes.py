"""Defaults that change together: the paper's recipe, the bits task's defaults, and the default perturbation
variance tied to the code's geometry (:func:`geometric_sigma2`).

:func:`mfcomm.config.files.configure` lays them over :class:`~mfcomm.config.fields.Config`'s own
defaults, under the config file and the command line: ``task = "bits"`` (or ``"ofdm"``) first, then
``recipe = "paper"``,
then what the user gave. Plain data, like the fields.

Example
-------
>>> BITS_DEFAULTS["bits_per_symbol"], BITS_DEFAULTS["codeword_bits"], PAPER_RECIPE["sigma2"]
(6, 1500, 0.1)
"""

from __future__ import annotations

from typing import Any

PAPER_RECIPE: dict[str, Any] = {
    "init": "random",
    "rx_steps": 1,
    "rx_on_tx_batch": False,
    "loss_baseline": "none",
    "finetune_iterations": 0,
    "lr_schedule": "constant",
    "sigma2": 0.1,
    "candidates": 1,
    "stop_early": False,
    "tx_warmup": 0,
    "batch_size": 512,
    "keep_best": False,
    "rx_lr": 3e-3,
    "tx_lr": 3e-3,
}
"""The fields ``recipe = "paper"`` sets (the paper's Algorithm 1 and mfcomm's defaults before the quality work)."""

BITS_DEFAULTS: dict[str, Any] = {
    "bits_per_symbol": 6,
    "codeword_bits": 1500,
    "code_rate": 0.5,
    "ebno_db": 4.0,
    "ebno_db_max": 8.0,
    "eval_ebno_db": [4.0, 5.0, 6.0, 7.0, 8.0],
    "batch_size": 128,
    "finetune_iterations": 1000,
    "sigma2": 0.01,
    "rx_lr": 3e-3,
    "tx_lr": 3e-3,
    "rx_lr_final": 3e-4,
    "lr_schedule": "constant",
    "tx_warmup": 0,
    "keep_best": False,
}
"""The fields ``task = "bits"`` sets: the setting of Sionna's tutorial "End-to-end Learning with Autoencoders"
(64 points from Gray-labelled 64-QAM, a 128-128 neural demapper, batches of 128 codewords of 1500 coded bits
at rate 1/2, AWGN with Eb/N0 drawn from 4 to 8 dB) and mfcomm's model-free schedule for it (docs/bitwise.md):
one transmitter step per iteration whose transmissions train the receiver too, then receiver fine-tuning
with a decaying rate. ``messages`` and ``channel_uses`` follow from ``bits_per_symbol``."""

OFDM_DEFAULTS: dict[str, Any] = {
    **BITS_DEFAULTS,
    "bits_per_symbol": 4,
    "codeword_bits": None,
    "subcarriers": 72,
    "ofdm_symbols": 14,
    "pilots": "kronecker",
    "domain": "frequency",
    "channel": "tdl(model=A,delay_spread=100e-9,speed=3) | awgn",
    "ebno_db": 6.0,
    "ebno_db_max": 14.0,
    "eval_ebno_db": [4.0, 6.0, 8.0, 10.0, 12.0],
    "rx_hidden": [32, 32, 32],
    "batch_size": 32,
    "iterations": 2000,
    "finetune_iterations": 500,
    "sigma2": 0.02,
    "tx_lr": 1e-3,
    "tx_warmup": 500,
}
"""The fields ``task = "ofdm"`` sets: 16-QAM-sized constellations on a 72 x 14 grid with Kronecker pilots (one
slot per batch row, one rate-1/2 5G LDPC codeword per slot), TDL-A at 3 m/s with 100 ns of delay spread, Eb/N0
drawn from 6 to 14 dB per slot, a receiver of three residual blocks of 32 channels (docs/ofdm.md), and the bits
task's schedule with a gentler transmitter (rate 1e-3, ramped up over 500 iterations while the receiver learns).
(In scratch runs trained from 2 dB, or with the transmitter at full rate from the start, the constellation merged
points in pairs and gave up a bit.)"""

SIGMA2_PER_DMIN2 = 0.025
"""Default sigma2 over the squared reference minimum distance through a chain or a black box: 0.05 at M=16, n=2.
A perturbation ahead of a nonlinearity (a quantiser, an amplifier) dithers it: a wide one trains the code for a
smoother channel than the real one (docs/getting-good-systems.md)."""
SIGMA2_PER_DMIN2_LINEAR = 0.0375
"""The same on ``awgn`` or ``rbf`` alone, where the perturbation only adds Gaussian noise: 0.075 at M=16, n=2.
Wider exploration there costs little bias and escapes poorer local optima (docs/getting-good-systems.md)."""


def reference_dmin2(messages: int, channel_uses: int, real: bool = False) -> float:
    """Squared minimum distance of a square-QAM-like code of M messages in n uses at unit energy per use:
    ``6 / (L - 1)`` with ``L = M^(1/n)`` points per complex use (exact for square QAM), ``12 / (L^2 - 1)``
    with ``L = M^(1/n)`` levels per real use (exact for PAM)."""
    levels = messages ** (1.0 / channel_uses)
    if real:
        return 12.0 / max(levels**2 - 1.0, 1e-9)
    return 6.0 / max(levels - 1.0, 1e-9)


def geometric_sigma2(messages: int, channel_uses: int, real: bool = False, linear: bool = False) -> float:
    """The default perturbation variance: ``SIGMA2_PER_DMIN2`` (``linear``: ``SIGMA2_PER_DMIN2_LINEAR``, for
    ``awgn`` or ``rbf`` alone) times ``reference_dmin2``, kept within [1e-4, 0.5]."""
    per_dmin2 = SIGMA2_PER_DMIN2_LINEAR if linear else SIGMA2_PER_DMIN2
    return min(0.5, max(1e-4, per_dmin2 * reference_dmin2(messages, channel_uses, real)))
