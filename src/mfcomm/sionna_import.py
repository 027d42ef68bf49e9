"""Sionna PHY, imported lazily and without disturbing torch's random state.

Importing ``sionna.phy`` builds its config, which re-seeds torch's global CPU and CUDA generators from
entropy (unless ``sionna.phy.config.seed`` is set): a run seeded with ``torch.manual_seed`` that imported
Sionna midway would not be reproducible. :func:`phy` imports it once, about 4 s, with the generators'
states saved and restored; every module of mfcomm reaches Sionna through it.

Example
-------
>>> import torch
>>> _ = torch.manual_seed(0); expected = torch.rand(1)
>>> _ = torch.manual_seed(0); constellation = phy().mapping.Constellation("qam", 2)
>>> torch.equal(torch.rand(1), expected)
True
"""

from __future__ import annotations

import sys
from types import ModuleType

import torch


def phy() -> ModuleType:
    """The ``sionna.phy`` package (its submodules ``mapping``, ``fec``, ``channel``, ... loaded with it)."""
    if "sionna.phy" not in sys.modules:
        cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda):
            import sionna.phy  # noqa: F401
    return sys.modules["sionna.phy"]
