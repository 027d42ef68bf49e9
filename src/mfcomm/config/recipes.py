"""Defaults that change together: the paper's recipe, and the bits task's defaults.

:func:`mfcomm.config.files.configure` lays them over :class:`~mfcomm.config.fields.Config`'s own
defaults, under the config file and the command line: ``task = "bits"`` first, then ``recipe = "paper"``,
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
