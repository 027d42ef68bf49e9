"""mfcomm: model-free end-to-end learning of communication systems (Ait Aoudia & Hoydis, JSAC 2019).

A transmitter and a receiver network trained as one autoencoder over a channel that can only be sampled:
the receiver on its true gradient, the transmitter from a Gaussian-policy gradient estimate fed by the
per-example losses. The public API, in the order of a session:

- :func:`configure` -> :class:`Config` (every ``mfcomm train`` key, validated);
- :func:`train` -> :class:`Run` (through the channel the config names, or ``channel=`` any channel object or
  function ``y = f(x)`` on complex64 NumPy arrays of shape (batch, n));
- :func:`evaluate` (SER against Es/N0, with the classical baseline), :func:`save`, :func:`load`;
- :mod:`mfcomm.channels` (the channel contract and the built-in channels).

Where each step of the paper is in the code: the table at the top of :mod:`mfcomm.learning`; how the package is
layered: docs/architecture.md.

Importing mfcomm changes no global state (no matplotlib backend, no random seed) and loads nothing heavy:
each name is imported on first use, so ``mfcomm --help`` starts without torch. Every random draw of a run
comes from generators seeded by its ``seed``.

Example
-------
>>> import numpy as np, mfcomm
>>> cfg = mfcomm.configure(messages=4, channel_uses=1, iterations=20, compare_baseline=False, candidates=1)
>>> rng = np.random.default_rng(0)
>>> def my_channel(x):  # y = f(x) on complex64 arrays (batch, n): AWGN at Es/N0 = 10 dB
...     noise = rng.normal(scale=0.2236, size=(*x.shape, 2)) @ np.array([1, 1j])
...     return (x + noise).astype(np.complex64)
>>> run = mfcomm.train(cfg, channel=my_channel, quiet=True)
>>> run.cfg.channel, 0 <= run.ser.ser <= 1
('object:my_channel', True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mfcomm import channels
    from mfcomm.api import evaluate
    from mfcomm.config.fields import Config
    from mfcomm.config.files import configure
    from mfcomm.evaluation.ser import SerEstimate
    from mfcomm.experiment.run import Run
    from mfcomm.experiment.runs import load, save, train

__all__ = ["Config", "Run", "SerEstimate", "channels", "configure", "evaluate", "load", "save", "train"]

_HOMES = {
    "Config": "mfcomm.config.fields",
    "Run": "mfcomm.experiment.run",
    "SerEstimate": "mfcomm.evaluation.ser",
    "configure": "mfcomm.config.files",
    "evaluate": "mfcomm.api",
    "load": "mfcomm.experiment.runs",
    "save": "mfcomm.experiment.runs",
    "train": "mfcomm.experiment.runs",
}
"""Where each name of the API lives; imported when first used (PEP 562)."""


def __getattr__(name: str) -> Any:
    if name == "channels":
        return importlib.import_module("mfcomm.channels")
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'mfcomm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
